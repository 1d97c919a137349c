"""Tensors-only weight files written by ``midway export`` and read by every adapter.

A safetensors file: the encoder under timm's key names (so a plain timm ViT loads it after dropping the
``dynamics.`` keys), the dynamics networks under ``dynamics.<module path>``, and in its metadata
``format = "midway-plugin-export"``, ``format_version``, and ``config`` (JSON of :class:`MidwayConfig`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.export_checks import check_export_config, check_finite, check_tensor_shapes
from midway_plugin.models.midway import DYNAMICS_PREFIX, MidwayExportError, MidwayNetwork

EXPORT_FORMAT = "midway-plugin-export"
EXPORT_FORMAT_VERSION = "1"


@dataclass
class MidwayExport:
    """A loaded export: its config, encoder tensors (timm names), dynamics tensors (``dynamics.*``), metadata."""

    config: MidwayConfig
    encoder_state: dict[str, torch.Tensor]
    dynamics_state: dict[str, torch.Tensor]
    metadata: dict[str, str]

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.encoder_state, **self.dynamics_state}


def save_export(
    model: MidwayNetwork,
    path: str | os.PathLike,
    *,
    use_teacher: bool = True,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``model``'s weights and config as a Midway export (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(
        format=EXPORT_FORMAT,
        format_version=EXPORT_FORMAT_VERSION,
        config=json.dumps(model.cfg.to_dict()),
        weights="teacher" if use_teacher and model.has_teacher else "student",
    )
    state = {k: v.contiguous() for k, v in model.export_state_dict(use_teacher=use_teacher).items()}
    save_file(state, str(path), metadata=meta)
    return path


def load_export(path: str | os.PathLike) -> MidwayExport:
    """Read an export; anything else raises :class:`MidwayExportError` naming the file and the problem.

    The metadata may only describe this package's architectures within bounds, the tensor shapes must match it
    (checked from the header, before any tensor is read) and every tensor must be finite (see
    :mod:`~midway_plugin.models.export_checks`).
    """
    path = Path(path)
    if not path.is_file():
        raise MidwayExportError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise MidwayExportError(
            f"{path}: not a Midway export (not a readable safetensors file: {err}). "
            "Create one with `midway export CKPT OUT` or `midway import-official CKPT OUT`."
        ) from err
    if metadata.get("format") != EXPORT_FORMAT:
        raise MidwayExportError(
            f"{path}: not a Midway export (metadata format={metadata.get('format')!r}, expected {EXPORT_FORMAT!r}); "
            "a plain timm/DINO ViT must first be converted (`midway import-official`)."
        )
    if metadata.get("format_version") != EXPORT_FORMAT_VERSION:
        raise MidwayExportError(
            f"{path}: export format version {metadata.get('format_version')!r} is not supported "
            f"(this midway-plugin reads version {EXPORT_FORMAT_VERSION})"
        )
    try:
        config = MidwayConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, json.JSONDecodeError, TypeError, ValueError) as err:
        raise MidwayExportError(f"{path}: invalid 'config' metadata: {err}") from err
    # The metadata is data: only this package's architectures within bounds, shapes checked before loading.
    check_export_config(config, str(path))
    check_tensor_shapes(config, shapes, str(path))
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise MidwayExportError(f"{path}: unreadable tensors: {err}") from err
    check_finite(state, str(path))
    encoder = {k: v for k, v in state.items() if not k.startswith(DYNAMICS_PREFIX)}
    dynamics = {k: v for k, v in state.items() if k.startswith(DYNAMICS_PREFIX)}
    return MidwayExport(config, encoder, dynamics, metadata)


def build_from_export(
    path: str | os.PathLike,
    *,
    with_teacher: bool = False,
    config_overrides: dict | None = None,
    strict: bool = True,
) -> MidwayNetwork:
    """Rebuild the network an export was written from and load its weights.

    Args:
        path: the export file.
        with_teacher: also build (and initialise from the loaded weights) an EMA teacher.
        config_overrides: fields to change, e.g. ``{"img_size": 512}`` (position embeddings are resampled).
        strict: missing or unexpected keys raise :class:`MidwayExportError` naming them.
    """
    export = load_export(path)
    cfg = export.config.replace(**(config_overrides or {}))
    model = MidwayNetwork(cfg, with_teacher=with_teacher)
    model.load_export_state_dict(export.state_dict, strict=strict, source=str(path))
    return model


def load_timm_vit(path: str | os.PathLike, **timm_kwargs) -> torch.nn.Module:
    """A plain timm ``VisionTransformer`` with an export's encoder weights (``num_classes=0`` unless given)."""
    export = load_export(path)
    cfg = export.config
    kwargs = dict(pretrained=False, num_classes=0, img_size=cfg.img_size, **cfg.encoder_kwargs)
    kwargs.update(timm_kwargs)
    vit = timm.create_model(cfg.encoder, **kwargs)
    missing, unexpected = vit.load_state_dict(export.encoder_state, strict=False)
    missing = [k for k in missing if not k.startswith("head")]
    if missing or unexpected:
        raise MidwayExportError(
            f"{path}: encoder weights do not fit {cfg.encoder}: missing {missing[:10]}, unexpected {unexpected[:10]}"
        )
    return vit
