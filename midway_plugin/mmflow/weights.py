"""Building Midway modules for MMFlow from a ``midway export`` / ``midway import-official`` file.

Both commands write the core's export format (a safetensors file, docs/core-api.md "Export files"); the core
resolves the config (:func:`~midway_plugin.models.resolve_config`), reads the file
(:func:`~midway_plugin.models.load_export`) and reports every mismatching key
(:class:`~midway_plugin.models.KeyReport`), so a wrong file or an architecture change is diagnosed without a
traceback hunt.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal, Mapping, Optional, Union

from mmengine.logging import print_log

from midway_plugin.models import (MidwayConfig, MidwayEncoder, MidwayExport, MidwayNetwork, key_report,
                                  load_export, resolve_config)

DynamicsInit = Literal["pretrained", "random"]

#: What ``arch`` / ``midway_config`` may be: a preset name, a dict of ``MidwayConfig`` fields or a config.
ArchSpec = Union[str, Mapping[str, Any], MidwayConfig]


def _config(exp: Optional[MidwayExport], midway_config: Optional[ArchSpec],
            overrides: Optional[Mapping[str, Any]], where: str) -> MidwayConfig:
    """The export's config changed by ``midway_config`` and ``overrides``, or ``midway_config`` alone."""
    if exp is None and midway_config is None:
        raise ValueError(f"{where}: set `export` (a `midway export` file) or `midway_config` "
                         "(a MidwayConfig dict, for a randomly initialised model)")
    if exp is not None:
        changes = {**dict(midway_config or {}), **dict(overrides or {})}
        return resolve_config(exp.config, overrides=changes, where=f"{where}: ", name="midway_config")
    return resolve_config(midway_config, overrides=overrides, where=f"{where}: ", name="midway_config")


def _load(path: str, where: str) -> MidwayExport:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: export file {path!r} (config key `export`) does not exist; "
                                "write it with `midway export` or `midway import-official`")
    return load_export(path)  # MidwayExportError naming the file when it is not an export


def resolve_export(export: Optional[str], arch: Optional[ArchSpec], midway_config: Optional[ArchSpec],
                   where: str) -> tuple[Optional[str], Optional[ArchSpec], Optional[str]]:
    """``(export to load, midway_config, missing export path)``.

    An absent export file with ``arch`` set builds the architecture without weights (``mim test`` then loads the
    MMFlow checkpoint; the caller refuses to *train* such a model). Without ``arch`` it is an error.
    """
    if export is None or os.path.isfile(export) or arch is None:
        return export, midway_config, None
    print_log(f"{where}: export {export!r} not found; building the {arch if isinstance(arch, str) else 'given'} "
              "architecture without pretrained weights (fine for `mim test` with a checkpoint)",
              logger="current", level=logging.WARNING)
    cfg = resolve_config(arch, overrides=dict(midway_config or {}), where=f"{where}: ", name="arch")
    return None, cfg, export


def build_network(export: Optional[str] = None, midway_config: Optional[ArchSpec] = None,
                  init_dynamics: DynamicsInit = "pretrained",
                  config_overrides: Optional[Mapping[str, Any]] = None,
                  where: str = "MidwayFlow") -> MidwayNetwork:
    """A student-only :class:`MidwayNetwork` for finetuning, weights from an export file.

    Args:
        export: Path of a ``midway export`` file; ``None`` builds a randomly initialised network from
            ``midway_config``.
        midway_config: ``MidwayConfig`` fields; with ``export`` they override the file's config.
        init_dynamics: ``"pretrained"`` loads encoder + dynamics; ``"random"`` loads the encoder only
            (Table 1 "Midway (enc. only)", and the protocol for baselines without dynamics networks).
            An export without dynamics (``latent_dynamics=False``, the Table 3 base model) gets randomly
            initialised dynamics networks as the paper does for its DINO-style baselines (§3.2).
        config_overrides: Further ``MidwayConfig`` fields to change (e.g. ``drop_path_rate``).
        where: Name used in error messages.

    Raises:
        FileNotFoundError: the export file is missing.
        MidwayExportError: not an export file, or its tensors do not match the network (every key listed).
        ValueError: bad configuration values.
    """
    if init_dynamics not in ("pretrained", "random"):
        raise ValueError(f"{where}: init_dynamics must be 'pretrained' or 'random', got {init_dynamics!r}")
    exp = _load(export, where) if export is not None else None
    cfg = _config(exp, midway_config, config_overrides, where)
    if not cfg.latent_dynamics:
        # Flow needs the midway path and predictors; models without them get random ones (paper §3.2).
        print_log(f"{where}: {export or 'the config'} has no latent dynamics (latent_dynamics=False): building "
                  "the same architecture with randomly initialised dynamics (midway path, forward predictors)",
                  logger="current", level=logging.INFO)
        cfg = cfg.replace(latent_dynamics=True)
        init_dynamics = "random"
    net = MidwayNetwork(cfg, with_teacher=False)
    if exp is None:
        return net
    _load_into(net, exp, export, dynamics=init_dynamics == "pretrained")
    return net


def build_encoder(export: Optional[str] = None, midway_config: Optional[ArchSpec] = None,
                  config_overrides: Optional[Mapping[str, Any]] = None,
                  where: str = "MidwayViTEncoder") -> tuple[MidwayEncoder, MidwayConfig]:
    """The Midway encoder alone (no dynamics) and its config; weights from an export file or random."""
    exp = _load(export, where) if export is not None else None
    cfg = _config(exp, midway_config, config_overrides, where)
    # A network without dynamics is exactly the encoder, and its loader resamples position embeddings.
    net = MidwayNetwork(cfg.replace(latent_dynamics=False), with_teacher=False)
    if exp is not None:
        _load_into(net, exp, export, dynamics=False)
    return net.encoder, cfg


def _load_into(net: MidwayNetwork, exp: MidwayExport, source: str, dynamics: bool) -> None:
    """Loads the export's encoder (and ``dynamics``) into ``net``; any key mismatch raises, every key listed.

    Position embeddings are resampled by the core, so their shapes may differ.
    """
    own = net.export_state_dict(use_teacher=False)
    state = exp.state_dict if dynamics else exp.encoder_state
    if not dynamics:
        own = {k: v for k, v in own.items() if k in net.encoder.vit.state_dict()}
    target = "Midway network built from its config (encoder + dynamics)" if dynamics else "Midway encoder (timm ViT)"
    resampled = [k for k in own if k.endswith("pos_embed")]  # the core's loader resamples position embeddings
    key_report(own, state, source, target, resampled=resampled).raise_for(limit=None)
    net.load_export_state_dict(state, strict=dynamics, source=source)
