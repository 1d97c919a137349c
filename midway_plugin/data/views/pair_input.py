"""What the paired transforms take: two frames of one video, and their settings, checked.

Frames may be PIL images, uint8 arrays of shape (H, W, 3), or uint8/float tensors of shape (3, H, W); they are
converted to RGB PIL images (torchvision's and Lightly's transforms work on those). Each error names the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image


def to_pil(frame: Any) -> Image.Image:
    """Converts a frame (PIL image, (H, W, 3) uint8 array, or (3, H, W) tensor) to an RGB PIL image.

    Raises:
        TypeError: The frame is none of these.
        ValueError: The array or tensor does not have 3 channels.
    """
    if isinstance(frame, Image.Image):
        return frame.convert("RGB") if frame.mode != "RGB" else frame
    if isinstance(frame, torch.Tensor):
        if frame.dim() != 3 or frame.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) frame tensor, got shape {tuple(frame.shape)}")
        return TF.to_pil_image(frame)
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) frame array, got shape {frame.shape}")
        return Image.fromarray(np.ascontiguousarray(frame.astype(np.uint8, copy=False)))
    raise TypeError(f"a frame must be a PIL image, a numpy array or a tensor, got {type(frame).__name__}")


def check_pair(frame_t: Any, frame_u: Any) -> tuple[Image.Image, Image.Image]:
    """Both frames of a pair as RGB PIL images, checked to have the same size (ValueError otherwise)."""
    img_t, img_u = to_pil(frame_t), to_pil(frame_u)
    if img_t.size != img_u.size:
        raise ValueError(f"the two frames of a pair differ in size: {img_t.size} vs {img_u.size} (width, height)")
    return img_t, img_u


def check_range(name: str, value: Sequence[float], low: float = 0.0, high: float = 1.0) -> tuple[float, float]:
    """``value`` as ``(min, max)`` floats with ``low < min <= max <= high``; the ValueError names ``name``."""
    lo, hi = (float(v) for v in value)
    if not low < lo <= hi <= high:
        raise ValueError(f"{name} must satisfy {low:g} < min <= max <= {high:g}, got {tuple(value)!r}")
    return lo, hi


def check_prob(name: str, value: float) -> float:
    """``value`` as a float in [0, 1]; the ValueError names ``name``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)
