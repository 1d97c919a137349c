"""Confidence-weighted tiled inference (CroCo-Flow's test-time scheme).

Reference:
    naver/croco ``stereoflow/engine.py`` ``tiled_pred`` and ``_overlapping``: windows of the training crop
    size are laid over the image with a given overlap (offsets evenly spaced with ``linspace`` so the first
    window starts at 0 and the last one ends at the border); every window's flow is accumulated with a
    per-pixel weight derived from its predicted confidence (``conf_mode='conf_expsigmoid_10_5'``, the
    default of CroCo's ``train.py``/``test.py``): ``w = exp(-beta * (2 * sigmoid(x / beta_sigmoid) - 1))``,
    ``x`` being the raw confidence channel (a large ``x`` is a large Laplacian scale, i.e. low confidence).
    Images smaller than the window are first upscaled so that the window fits, and the flow is scaled back.
    CroCo validates with overlap 0.7 and tests with 0.9 (docs/paper.md §3.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

FlowFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def window_offsets(total: int, window: int, overlap: float) -> list[int]:
    """Start offsets of windows of size ``window`` covering ``[0, total)`` with at least ``overlap``.

    ``overlap=0`` on a ``total`` that is a multiple of ``window`` tiles the range exactly once.
    """
    if window <= 0 or total < window:
        raise ValueError(f"tiling: window {window} must be positive and fit in the image size {total}")
    if not 0 <= overlap < 1:
        raise ValueError(f"tiling: overlap must be in [0, 1), got {overlap}")
    count = 1 + math.ceil((total - window) / ((1 - overlap) * window))
    if count == 1:
        return [0]
    step = (total - window) / (count - 1)
    return [int(round(i * step)) for i in range(count)]


def tiles(height: int, width: int, crop: Sequence[int], overlap: float) -> Iterator[tuple[slice, slice]]:
    """Yields ``(rows, cols)`` slices of all windows, row-major."""
    for y in window_offsets(height, crop[0], overlap):
        for x in window_offsets(width, crop[1], overlap):
            yield slice(y, y + crop[0]), slice(x, x + crop[1])


def confidence_weight(conf_logits: Tensor, beta: float = 10.0, beta_sigmoid: float = 5.0) -> Tensor:
    """CroCo's ``conf_expsigmoid_<beta>_<beta_sigmoid>`` tile weight from the raw confidence channel."""
    return torch.exp(-beta * (2 * torch.sigmoid(conf_logits / beta_sigmoid) - 1))


def resize_flow(flow: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinearly resizes ``(B, 2, H, W)`` flow to ``size`` and rescales its u, v components."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=tuple(size), mode="bilinear", align_corners=False)
    scale = out.new_tensor([size[1] / w, size[0] / h]).view(1, 2, 1, 1)
    return out * scale


@torch.no_grad()
def tiled_flow(
    flow_fn: FlowFn,
    img1: Tensor,
    img2: Tensor,
    crop: Sequence[int],
    overlap: float = 0.5,
    beta: float = 10.0,
    beta_sigmoid: float = 5.0,
) -> tuple[Tensor, Tensor]:
    """Runs ``flow_fn`` on overlapping windows and blends the windows with confidence weights.

    Args:
        flow_fn: Maps two ``(B, 3, h, w)`` crops to ``(flow (B, 2, h, w), conf_logits (B, 1, h, w))``.
        img1: First images ``(B, 3, H, W)``.
        img2: Second images ``(B, 3, H, W)``.
        crop: Window size ``(h, w)`` (the training crop).
        overlap: Fraction of overlap between neighbouring windows, in ``[0, 1)``.
        beta: Weight sharpness (CroCo: 10).
        beta_sigmoid: Temperature of the sigmoid on the raw confidence (CroCo: 5).

    Returns:
        ``(flow (B, 2, H, W), conf_logits (B, 1, H, W))``, the latter the weighted mean of the windows'
        raw confidences.
    """
    if len(crop) != 2:
        raise ValueError(f"tiling: crop_size must be (height, width), got {crop!r}")
    crop = (int(crop[0]), int(crop[1]))
    b, _, h, w = img1.shape
    rescaled = h < crop[0] or w < crop[1]
    if rescaled:
        factor = max(crop[0] / h, crop[1] / w)
        size = (max(crop[0], round(h * factor)), max(crop[1], round(w * factor)))
        img1 = F.interpolate(img1, size=size, mode="bicubic", align_corners=False)
        img2 = F.interpolate(img2, size=size, mode="bicubic", align_corners=False)
    hh, ww = img1.shape[-2:]
    acc_flow = img1.new_zeros((b, 2, hh, ww))
    acc_conf = img1.new_zeros((b, 1, hh, ww))
    acc_weight = img1.new_full((b, 1, hh, ww), 1e-16)
    for rows, cols in tiles(hh, ww, crop, overlap):
        flow, conf = flow_fn(img1[:, :, rows, cols], img2[:, :, rows, cols])
        weight = confidence_weight(conf, beta, beta_sigmoid)
        acc_flow[:, :, rows, cols] += flow * weight
        acc_conf[:, :, rows, cols] += conf * weight
        acc_weight[:, :, rows, cols] += weight
    flow = acc_flow / acc_weight
    conf = acc_conf / acc_weight
    if rescaled:
        flow = resize_flow(flow, (h, w))
        conf = F.interpolate(conf, size=(h, w), mode="bilinear", align_corners=False)
    return flow, conf
