"""The motion crops of Midway's dynamics objective: one box at the same place in both frames of a pair.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), §4.1 and Appendix B (motion crops: area
    [0.2, 0.4], same location in both frames, DINO global augmentations 1 and 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torchvision.transforms.functional as TF
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image

from midway_plugin.data.views.color_view import color_view
from midway_plugin.data.views.crop_box import BICUBIC, Box, sample_box
from midway_plugin.data.views.pair_input import check_pair, check_range


@dataclass(frozen=True)
class MotionParams:
    """Geometry of one motion-crop pair: the box shared by both frames."""

    box: Box


class MidwayMotionTransform:
    """The motion crops of the dynamics objective: one random box, cropped at the same place in both frames.

    Frame t gets DINO's global augmentation 1 (color jitter p 0.8, grayscale p 0.2, blur p 1.0), frame t + dt
    augmentation 2 (blur p 0.1, solarization p 0.2); no flip. Output: ``[x_t, x_tdt]``, each
    ``(3, crop_size, crop_size)``.

    Args:
        crop_size: Output size in pixels (paper: 224).
        crop_scale: Box area as a fraction of the frame (paper: (0.2, 0.4)).
        crop_ratio: Box aspect-ratio range (paper: (3/4, 4/3)).
        cj_prob, cj_strength, cj_bright, cj_contrast, cj_sat, cj_hue, random_gray_scale, sigmas: As in Lightly's
            ``DINOTransform``.
        gaussian_blur: Blur probabilities of (frame t, frame t + dt).
        solarization_prob: Solarization probability of frame t + dt.
        normalize: ``{"mean": ..., "std": ...}`` or None for no normalisation.

    Reference:
        Midway Network (arXiv 2510.05558), §4.1 / Appendix B; docs/paper.md §2.3 "Motion crops".
    """

    def __init__(
        self,
        crop_size: int = 224,
        crop_scale: tuple[float, float] = (0.2, 0.4),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        cj_prob: float = 0.8,
        cj_strength: float = 0.5,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.4,
        cj_hue: float = 0.2,
        random_gray_scale: float = 0.2,
        gaussian_blur: tuple[float, float] = (1.0, 0.1),
        sigmas: tuple[float, float] = (0.1, 2.0),
        solarization_prob: float = 0.2,
        normalize: dict[str, list[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        if crop_size < 1:
            raise ValueError(f"crop_size must be a positive number of pixels, got {crop_size!r}")
        self.crop_size = int(crop_size)
        self.crop_scale = check_range("crop_scale", crop_scale)
        self.crop_ratio = check_range("crop_ratio", crop_ratio, high=float("inf"))
        color = dict(
            cj_prob=cj_prob, cj_strength=cj_strength, cj_bright=cj_bright, cj_contrast=cj_contrast, cj_sat=cj_sat,
            cj_hue=cj_hue, random_gray_scale=random_gray_scale, sigmas=sigmas, normalize=normalize,
        )  # fmt: skip
        self.view_t = color_view(gaussian_blur=gaussian_blur[0], solarization_prob=0.0, **color)
        self.view_tdt = color_view(gaussian_blur=gaussian_blur[1], solarization_prob=solarization_prob, **color)

    def sample_params(self, height: int, width: int) -> MotionParams:
        """Draws the shared box for a pair of ``height`` x ``width`` frames."""
        return MotionParams(sample_box(height, width, self.crop_scale, self.crop_ratio))

    def crop(self, frame: Image.Image, params: MotionParams) -> Image.Image:
        """Crops and resizes one frame (bicubic) with the shared box, before the photometric augmentation."""
        return TF.resized_crop(frame, *params.box, [self.crop_size, self.crop_size], interpolation=BICUBIC)

    def apply(self, frame_t: Any, frame_tdt: Any, params: MotionParams) -> list[torch.Tensor]:
        """Renders ``params`` on a pair: ``[x_t, x_tdt]``."""
        img_t, img_u = check_pair(frame_t, frame_tdt)
        return [self.view_t(self.crop(img_t, params)), self.view_tdt(self.crop(img_u, params))]

    def __call__(self, frame_t: Any, frame_tdt: Any) -> list[torch.Tensor]:
        """Returns ``[x_t, x_tdt]``, both cropped with one random box."""
        img_t, img_u = check_pair(frame_t, frame_tdt)
        return self.apply(img_t, img_u, self.sample_params(img_t.height, img_t.width))
