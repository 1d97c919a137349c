"""Motion in tokens at the model's input: how far content moves between the two crops of a pair, in patches.

A pair of frames ``dt`` apart is cropped with one box (area ``scale`` x the frame, :mod:`.motion_transform`),
resized to ``input_size`` pixels and cut into ``patch_size`` patches. Motion of ``m`` pixels per frame then becomes

    tokens = m * dt * input_size / crop_side / patch_size,   crop_side = sqrt(scale * H * W)

Approximations (documented in docs/data.md): the motion is taken as constant over ``dt`` (``m`` = |flow| over the
flow's frame gap, divided by that gap; true for a pan and for objects between bounces); the box is square with
the median area of the recipe's range (torchvision draws the area uniformly, so the median is the midpoint; the
aspect ratio, ``3/4-4/3``, stretches x and y by at most ~15 %); ``dt`` is uniform over the integer range (as
:mod:`.pair_sampling` draws it, before clipping to the video). Framework-free: numpy only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The tiny preset (``MidwayConfig.tiny()``): 32 px input, patch 8 (4 x 4 tokens).
TINY_INPUT_SIZE, TINY_PATCH_SIZE = 32, 8
#: ``configs/pretrain/demo.yaml``: motion crop area 0.3-0.6 of the frame, pairs 2-6 frames apart.
DEMO_CROP_SCALE: tuple[float, float] = (0.3, 0.6)
DEMO_DELTA_T: tuple[int, int] = (2, 6)
#: The formula, as recorded in ``dataset.json``.
FORMULA = "tokens = |flow| / frame_gap * dt * input_size / sqrt(median crop scale * H * W) / patch_size"


class SubTokenMotionWarning(UserWarning):
    """Most motion (the median) is below one token at the model's input: copying the source is near-optimal."""


def _range(name: str, value: Sequence[float], low: float, integer: bool = False) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not low <= lo <= hi < math.inf or (integer and not (lo.is_integer() and hi.is_integer())):
        kind = "integers" if integer else "numbers"
        raise ValueError(f"{name} must be (min, max) {kind} with {low:g} <= min <= max, got {tuple(value)!r}")
    return lo, hi


def tokens_per_pixel(
    frame_size: tuple[int, int], crop_scale: Sequence[float], input_size: int, patch_size: int
) -> float:
    """Tokens at the model's input per pixel of motion in the frame: ``input_size / crop_side / patch_size``."""
    height, width = frame_size
    lo, hi = _range("crop_scale", crop_scale, 1e-9)
    if hi > 1:
        raise ValueError(f"crop_scale must lie in (0, 1], got {tuple(crop_scale)!r}")
    if height < 1 or width < 1 or input_size < 1 or patch_size < 1:
        raise ValueError(
            f"frame_size, input_size and patch_size must be positive, got {frame_size!r}, "
            f"{input_size!r}, {patch_size!r}"
        )
    crop_side = math.sqrt((lo + hi) / 2 * height * width)
    return input_size / crop_side / patch_size


def token_motion_stats(
    magnitudes_px: np.ndarray | Sequence[float],
    frame_size: tuple[int, int],
    *,
    crop_scale: Sequence[float] = DEMO_CROP_SCALE,
    input_size: int = TINY_INPUT_SIZE,
    patch_size: int = TINY_PATCH_SIZE,
    delta_t: Sequence[int] = DEMO_DELTA_T,
    frame_gap: int = 1,
    weights: np.ndarray | Sequence[float] | None = None,
) -> dict[str, Any]:
    """Statistics of the motion between the two crops of a pair, in tokens at the model's input.

    Args:
        magnitudes_px: |flow| samples in pixels over ``frame_gap`` frames (e.g. the 101 percentiles that
            ``dataset.json`` records, or histogram bin centres with ``weights``).
        frame_size: ``(height, width)`` of the frames as decoded.
        crop_scale: The recipe's crop area range, as a fraction of the frame (``data.motion.crop_scale``).
        input_size: Side of the resized crop, pixels (``data.motion.crop_size``, the model's ``img_size``).
        patch_size: The ViT's patch size.
        delta_t: Inclusive range of the pair gap in frames (``data.delta_t`` in frames).
        frame_gap: Frames over which ``magnitudes_px`` were measured.
        weights: Optional non-negative weight of each sample (e.g. histogram counts).

    Returns:
        ``{"median", "mean", "p90", "fraction_ge_1", "tokens_per_px", "frame_size", "crop_scale", "input_size",
        "patch_size", "delta_t"}``: token statistics over the samples and a uniform ``dt``; ``{}`` without samples.

    Raises:
        ValueError: A range or size is out of bounds (the message names it).
    """
    per_px = tokens_per_pixel(frame_size, crop_scale, input_size, patch_size)
    lo, hi = _range("delta_t", delta_t, 1, integer=True)
    if isinstance(frame_gap, bool) or int(frame_gap) != frame_gap or frame_gap < 1:
        raise ValueError(f"frame_gap must be a positive integer, got {frame_gap!r}")
    mags = np.asarray(magnitudes_px, dtype=np.float64).ravel()
    w = np.ones_like(mags) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != mags.shape or (w < 0).any():
        raise ValueError(f"weights must be {mags.size} non-negative numbers, one per magnitude")
    info = {
        "tokens_per_px": round(per_px, 5),
        "frame_size": [int(v) for v in frame_size],
        "crop_scale": [float(v) for v in crop_scale],
        "input_size": int(input_size),
        "patch_size": int(patch_size),
        "delta_t": [int(lo), int(hi)],
    }
    if not mags.size or w.sum() <= 0:
        return {}
    dts = np.arange(int(lo), int(hi) + 1, dtype=np.float64)
    tokens = (mags[None, :] / frame_gap * dts[:, None] * per_px).ravel()  # every (dt, sample)
    w = np.broadcast_to(w, (len(dts), len(w))).ravel()
    order = np.argsort(tokens, kind="stable")
    tokens, w = tokens[order], w[order]
    cum = np.cumsum(w) / w.sum()

    def quantile(q: float) -> float:
        return float(tokens[min(int(np.searchsorted(cum, q, side="left")), len(tokens) - 1)])

    return {
        "median": round(quantile(0.5), 4),
        "mean": round(float((tokens * w).sum() / w.sum()), 4),
        "p90": round(quantile(0.9), 4),
        "fraction_ge_1": round(float(w[tokens >= 1].sum() / w.sum()), 4),
        **info,
    }


def format_token_stats(stats: dict[str, Any]) -> str:
    """One line, e.g. ``median 0.44 token, mean 0.51, p90 1.02, >= 1 token 11% (32 px crops, patch 8, dt 2-6)``."""
    if not stats:
        return "(no motion samples)"
    lo, hi = stats["delta_t"]
    dt = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return (
        f"median {stats['median']:.2f} token, mean {stats['mean']:.2f}, p90 {stats['p90']:.2f}, "
        f">= 1 token {100 * stats['fraction_ge_1']:.0f}% ({stats['input_size']} px crops at scale "
        f"{sum(stats['crop_scale']) / 2:.2f} of {stats['frame_size'][0]}x{stats['frame_size'][1]}, patch "
        f"{stats['patch_size']}, dt {dt} frame{'s' if hi > 1 else ''})"
    )


def warn_if_sub_token(stats: dict[str, Any], where: str, remedy: str) -> bool:
    """Warns (:class:`SubTokenMotionWarning`) when the median motion is below one token; returns whether it did.

    Args:
        stats: From :func:`token_motion_stats`.
        where: What the statistics describe, e.g. ``"make-video (pretraining pairs, train split)"``.
        remedy: What to change, e.g. ``"raise --object-speed / --camera-speed"``.
    """
    if not stats or stats["median"] >= 1:
        return False
    warnings.warn(
        f"{where}: most motion is below one token at the model's input: {format_token_stats(stats)}. A model then "
        f"does almost as well by copying the source frame; {remedy}.",
        SubTokenMotionWarning,
        stacklevel=2,
    )
    return True
