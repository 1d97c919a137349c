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
import warnings
from typing import Any, Literal, Mapping, Optional, Union

from mmengine.logging import print_log

from midway_plugin.models import (MidwayConfig, MidwayEncoder, MidwayExport, MidwayNetwork, key_report,
                                  load_export, resolve_config)

DynamicsInit = Literal["pretrained", "random"]

#: What ``arch`` may be: a preset name, a dict of ``MidwayConfig`` fields or a config.
ArchSpec = Union[str, Mapping[str, Any], MidwayConfig]


def _config(exp: Optional[MidwayExport], arch: Optional[ArchSpec], overrides: Optional[Mapping[str, Any]],
            where: str) -> MidwayConfig:
    """The export's config (else ``arch``'s) with ``overrides`` applied."""
    if exp is None and arch is None:
        raise ValueError(f"{where}: set `export` (a `midway export` file) or `arch` (a preset name or a dict of "
                         "MidwayConfig fields, for a randomly initialised model)")
    if exp is not None:
        return resolve_config(exp.config, overrides=overrides, where=f"{where}: ", name="config_overrides")
    return resolve_config(arch, overrides=overrides, where=f"{where}: ", name="arch")


def _load(path: str, where: str) -> MidwayExport:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: export file {path!r} (config key `export`) does not exist; "
                                "write it with `midway export` or `midway import-official`")
    return load_export(path)  # MidwayExportError naming the file when it is not an export


def resolve_export(export: Optional[str], arch: Optional[ArchSpec], config_overrides: Optional[Mapping[str, Any]],
                   midway_config: Optional[ArchSpec], where: str
                   ) -> tuple[Optional[str], Optional[ArchSpec], Optional[dict[str, Any]], Optional[str]]:
    """``(export to load, arch, config_overrides, missing export path)`` from a model's arguments.

    An absent export file with ``arch`` set builds the architecture without weights (``mim test`` then loads the
    MMFlow checkpoint; the caller refuses to *train* such a model). Without ``arch`` it is an error. The deprecated
    ``midway_config`` is the architecture when neither an export nor ``arch`` is given, else more overrides
    (``config_overrides`` wins).
    """
    overrides = dict(config_overrides or {})
    if midway_config is not None:
        warnings.warn(f"{where}: `midway_config` is deprecated; use `arch` (the architecture without an export) "
                      "or `config_overrides` (fields changed on the export's config)", DeprecationWarning,
                      stacklevel=3)
        if export is None and arch is None:
            arch = midway_config
        elif isinstance(midway_config, MidwayConfig):
            overrides = {**midway_config.to_dict(), **overrides}
        else:
            overrides = {**dict(midway_config), **overrides}
    if export is None or os.path.isfile(export) or arch is None:
        return export, arch, overrides or None, None
    print_log(f"{where}: export {export!r} not found; building the {arch if isinstance(arch, str) else 'given'} "
              "architecture without pretrained weights (fine for `mim test` with a checkpoint)",
              logger="current", level=logging.WARNING)
    return None, arch, overrides or None, export


def build_network(export: Optional[str] = None, arch: Optional[ArchSpec] = None,
                  init_dynamics: DynamicsInit = "pretrained",
                  config_overrides: Optional[Mapping[str, Any]] = None,
                  where: str = "MidwayFlow") -> MidwayNetwork:
    """A student-only :class:`MidwayNetwork` for finetuning, weights from an export file.

    Args:
        export: Path of a ``midway export`` file; ``None`` builds a randomly initialised network from ``arch``.
        arch: The architecture without an export: a preset name, a dict of ``MidwayConfig`` fields or a config.
        init_dynamics: ``"pretrained"`` loads encoder + dynamics; ``"random"`` loads the encoder only
            (Table 1 "Midway (enc. only)", and the protocol for baselines without dynamics networks).
            An export without dynamics (``latent_dynamics=False``, the Table 3 base model) gets randomly
            initialised dynamics networks as the paper does for its DINO-style baselines (§3.2).
        config_overrides: ``MidwayConfig`` fields changed on the export's (or ``arch``'s) config (e.g.
            ``drop_path_rate``).
        where: Name used in error messages.

    Raises:
        FileNotFoundError: the export file is missing.
        MidwayExportError: not an export file, or its tensors do not match the network (every key listed).
        ValueError: bad configuration values.
    """
    if init_dynamics not in ("pretrained", "random"):
        raise ValueError(f"{where}: init_dynamics must be 'pretrained' or 'random', got {init_dynamics!r}")
    exp = _load(export, where) if export is not None else None
    cfg = _config(exp, arch, config_overrides, where)
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


def build_encoder(export: Optional[str] = None, arch: Optional[ArchSpec] = None,
                  config_overrides: Optional[Mapping[str, Any]] = None,
                  where: str = "MidwayViTEncoder") -> tuple[MidwayEncoder, MidwayConfig]:
    """The Midway encoder alone (no dynamics) and its config; weights from an export file or random."""
    exp = _load(export, where) if export is not None else None
    cfg = _config(exp, arch, config_overrides, where)
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
