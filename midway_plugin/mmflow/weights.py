"""Building Midway modules for MMFlow from a ``midway export`` / ``midway import-official`` file.

Both commands write the core's export format (a safetensors file, docs/core-api.md "Export files"). Errors
name the file, the config key and every mismatching tensor key, so a wrong file or an architecture change
is diagnosed without a traceback hunt.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal, Mapping, Optional, Union

import torch
from mmengine.logging import print_log

from midway_plugin.models import (DYNAMICS_PREFIX, PRESET_NAMES, MidwayConfig, MidwayEncoder, MidwayExportError,
                                  MidwayNetwork, load_export)

DynamicsInit = Literal["pretrained", "random"]


def _check(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str,
           target: str) -> None:
    """Raises ``MidwayExportError`` listing every missing, unexpected and wrongly shaped tensor key."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)
              and not k.endswith("pos_embed")]  # position embeddings are resampled by the core
    if missing or unexpected or shapes:
        lines = [f"{source}: weights do not match the {target}:"]
        lines += [f"  missing in file: {k}" for k in missing]
        lines += [f"  unexpected in file: {k}" for k in unexpected]
        lines += [f"  shape mismatch {s}" for s in shapes]
        raise MidwayExportError("\n".join(lines))


def _config(export_config: Optional[MidwayConfig], midway_config: Optional[Mapping[str, Any]],
            overrides: Optional[Mapping[str, Any]], where: str) -> MidwayConfig:
    if export_config is None and midway_config is None:
        raise ValueError(f"{where}: set `export` (a `midway export` file) or `midway_config` "
                         "(a MidwayConfig dict, for a randomly initialised model)")
    try:
        if export_config is not None:
            if midway_config is not None:
                cfg = export_config.replace(**dict(midway_config))
            else:
                cfg = export_config
        else:
            cfg = MidwayConfig.from_dict(dict(midway_config))
        if overrides:
            cfg = cfg.replace(**dict(overrides))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: bad `midway_config`/`config_overrides`: {err}") from err
    return cfg


def _load(path: str, where: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: export file {path!r} (config key `export`) does not exist; "
                                "write it with `midway export` or `midway import-official`")
    return load_export(path)  # MidwayExportError naming the file when it is not an export


def arch_config(arch: Union[str, Mapping[str, Any]], where: str) -> dict[str, Any]:
    """``MidwayConfig`` fields of an ``arch`` preset name or dict."""
    if isinstance(arch, str):
        if arch not in PRESET_NAMES:
            raise ValueError(f"{where}: unknown arch {arch!r}; use one of {list(PRESET_NAMES)} or a dict of "
                             "MidwayConfig fields")
        return MidwayConfig.preset(arch).to_dict()
    return dict(arch)


def resolve_export(export: Optional[str], arch: Union[str, Mapping[str, Any], None],
                   midway_config: Optional[Mapping[str, Any]], where: str
                   ) -> tuple[Optional[str], Optional[Mapping[str, Any]], Optional[str]]:
    """``(export to load, midway_config, missing export path)``.

    An absent export file with ``arch`` set builds the architecture without weights (``mim test`` then loads the
    MMFlow checkpoint; the caller refuses to *train* such a model). Without ``arch`` it is an error.
    """
    if export is None or os.path.isfile(export) or arch is None:
        return export, midway_config, None
    print_log(f"{where}: export {export!r} not found; building the {arch if isinstance(arch, str) else 'given'} "
              "architecture without pretrained weights (fine for `mim test` with a checkpoint)",
              logger="current", level=logging.WARNING)
    cfg = arch_config(arch, where)
    cfg.update(midway_config or {})
    return None, cfg, export


def build_network(export: Optional[str] = None, midway_config: Optional[Mapping[str, Any]] = None,
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
    cfg = _config(exp.config if exp is not None else None, midway_config, config_overrides, where)
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
    state = exp.state_dict  # encoder keys as is, dynamics keys under `dynamics.`
    own = net.export_state_dict(use_teacher=False)
    if init_dynamics == "pretrained":
        _check(own, state, export, "Midway network built from its config (encoder + dynamics)")
    else:
        encoder_state = {k: v for k, v in state.items() if not k.startswith(DYNAMICS_PREFIX)}
        _check({k: v for k, v in own.items() if not k.startswith(DYNAMICS_PREFIX)}, encoder_state, export,
               "Midway encoder (timm ViT)")
        state = encoder_state
    net.load_export_state_dict(state, strict=init_dynamics == "pretrained", source=export)
    return net


def build_encoder(export: Optional[str] = None, midway_config: Optional[Mapping[str, Any]] = None,
                  config_overrides: Optional[Mapping[str, Any]] = None,
                  where: str = "MidwayViTEncoder") -> tuple[MidwayEncoder, MidwayConfig]:
    """The Midway encoder alone (no dynamics) and its config; weights from an export file or random."""
    exp = _load(export, where) if export is not None else None
    cfg = _config(exp.config if exp is not None else None, midway_config, config_overrides, where)
    # A network without dynamics is exactly the encoder, and its loader resamples position embeddings.
    net = MidwayNetwork(cfg.replace(latent_dynamics=False), with_teacher=False)
    if exp is not None:
        state = exp.encoder_state
        _check(net.export_state_dict(use_teacher=False), state, export, "Midway encoder (timm ViT)")
        net.load_export_state_dict(state, strict=True, source=export)
    return net.encoder, cfg
