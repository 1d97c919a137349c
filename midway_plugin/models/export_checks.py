"""An export's metadata is data, not instructions: what it may ask :func:`~midway_plugin.models.load_export` to build.

The ``config`` metadata of a Midway export chooses the network that is built and filled. Unchecked, a forged file
could name a timm model that is fetched from a model hub (``hf-hub:owner/model``), or ask for a width that
allocates gigabytes before any weight is compared. So, before anything is built:

* :func:`check_export_config`: the encoder is one of this package's own architectures (the timm names of its
  presets, :data:`ALLOWED_ENCODERS`), ``encoder_kwargs`` only set the ViT's size, and every size is within
  :data:`SIZE_BOUNDS` (ViT-L/16 fits; anything larger is no Midway model).
* :func:`check_tensor_shapes`: the network the config describes is built on the ``meta`` device (no memory) and
  its tensor shapes are compared with the shapes in the file's header.
* :func:`check_finite`: every floating-point tensor is finite (the key of the first bad one is named).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from midway_plugin.models.config import PRESET_NAMES, MidwayConfig
from midway_plugin.models.key_report import MidwayExportError
from midway_plugin.models.midway import MidwayNetwork

#: timm encoders an export may name: those of this package's presets (ViT-S/16, ViT-B/16 and the tiny test ViT).
ALLOWED_ENCODERS = frozenset(MidwayConfig.preset(name).encoder for name in PRESET_NAMES)

#: ``encoder_kwargs`` an export may set (the ViT's size; the tiny preset uses them) and their inclusive bounds.
ENCODER_KWARG_BOUNDS: dict[str, tuple[float, float]] = {
    "embed_dim": (8, 1024),
    "depth": (1, 24),
    "num_heads": (1, 16),
    "patch_size": (2, 32),
    "mlp_ratio": (1.0, 8.0),
}

#: Inclusive bounds of the integer size fields of :class:`MidwayConfig` in an export (ViT-L/16 at 1024 px fits).
SIZE_BOUNDS: dict[str, tuple[int, int]] = {
    "img_size": (8, 1024),
    "midway_dim": (8, 1024),
    "midway_depth": (1, 24),
    "midway_heads": (1, 32),
    "num_motion_tokens": (1, 64),
    "forward_depth": (1, 24),
    "forward_heads": (1, 32),
    "backward_heads": (1, 32),
}


def _in_bounds(value: Any, low: float, high: float, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if integer and int(value) != value:
        return False
    return low <= value <= high


def check_export_config(cfg: MidwayConfig, source: str) -> None:
    """Refuses an export config outside this package's architectures and sizes.

    Raises:
        MidwayExportError: Naming the file, the field, its value and what is allowed.
    """
    if cfg.encoder not in ALLOWED_ENCODERS:
        raise MidwayExportError(
            f"{source}: its metadata names encoder {cfg.encoder!r}; a Midway export may only use "
            f"{sorted(ALLOWED_ENCODERS)} (refused before building anything: no model hub or other timm model is "
            "ever loaded from an export's metadata)"
        )
    for key, value in cfg.encoder_kwargs.items():
        if key not in ENCODER_KWARG_BOUNDS:
            raise MidwayExportError(
                f"{source}: metadata encoder_kwargs.{key} is not allowed in an export "
                f"(allowed: {', '.join(sorted(ENCODER_KWARG_BOUNDS))})"
            )
        low, high = ENCODER_KWARG_BOUNDS[key]
        if not _in_bounds(value, low, high, integer=key != "mlp_ratio"):
            raise MidwayExportError(
                f"{source}: metadata encoder_kwargs.{key}={value!r} is outside the allowed range [{low:g}, {high:g}]"
            )
    for key, (low, high) in SIZE_BOUNDS.items():
        value = getattr(cfg, key)
        if not _in_bounds(value, low, high, integer=True):
            raise MidwayExportError(f"{source}: metadata {key}={value!r} is outside the allowed range [{low}, {high}]")
    if len(cfg.feature_levels) > 24:
        raise MidwayExportError(f"{source}: metadata feature_levels has {len(cfg.feature_levels)} entries (max 24)")


def expected_shapes(cfg: MidwayConfig) -> dict[str, tuple[int, ...]]:
    """Key → shape of the export of a network with config ``cfg``, computed without allocating its weights."""
    with torch.device("meta"):
        network = MidwayNetwork(cfg, with_teacher=False)
    return {k: tuple(v.shape) for k, v in network.export_state_dict(use_teacher=False).items()}


def check_tensor_shapes(cfg: MidwayConfig, shapes: Mapping[str, tuple[int, ...]], source: str) -> None:
    """Refuses a file whose tensor shapes disagree with its config metadata (keys present in both are compared).

    Raises:
        MidwayExportError: Naming the file and the first disagreeing keys with both shapes.
    """
    try:
        expected = expected_shapes(cfg)
    except (ValueError, TypeError, RuntimeError, AssertionError) as err:
        raise MidwayExportError(f"{source}: its config metadata does not describe a buildable network: {err}") from err
    wrong = [
        f"{k}: file {tuple(shapes[k])}, config {expected[k]}"
        for k in expected
        if k in shapes and tuple(shapes[k]) != expected[k]
    ]
    if wrong:
        raise MidwayExportError(
            f"{source}: tensor shapes disagree with the config in its metadata ({'; '.join(wrong[:5])}"
            + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else "")
            + ")"
        )


def check_finite(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuses NaN or infinite weights.

    Raises:
        MidwayExportError: Naming the file, the first bad key and how many of its values are bad.
    """
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise MidwayExportError(
                f"{source}: tensor {key!r} holds {bad} non-finite value(s) (NaN/inf); refusing diverged weights"
            )


__all__ = [
    "ALLOWED_ENCODERS",
    "ENCODER_KWARG_BOUNDS",
    "SIZE_BOUNDS",
    "check_export_config",
    "check_finite",
    "check_tensor_shapes",
    "expected_shapes",
]
