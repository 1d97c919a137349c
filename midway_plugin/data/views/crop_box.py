"""The shared crop geometry of the paired transforms: a box, how it is drawn, how it is resized."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision.transforms as T

Box = tuple[int, int, int, int]
"""A crop box ``(top, left, height, width)`` in pixels, as torchvision's ``get_params`` returns it."""

BICUBIC = T.InterpolationMode.BICUBIC
"""The interpolation of every resized crop (DINO's)."""


def sample_box(height: int, width: int, scale: Sequence[float], ratio: Sequence[float]) -> Box:
    """Draws a RandomResizedCrop box on a ``height`` x ``width`` image (torchvision's sampling).

    Returns:
        ``(top, left, box_height, box_width)``.
    """
    # get_params only reads the image size: an expanded 1-element tensor carries it without allocating.
    placeholder = torch.empty(1, 1, 1).expand(1, height, width)
    return tuple(T.RandomResizedCrop.get_params(placeholder, list(scale), list(ratio)))
