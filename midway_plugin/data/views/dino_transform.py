"""The paired-frame DINO crops of Midway Network: global crops shared by both frames, local crops per frame.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), §4.1 and Appendix B (initial crop of area
    [0.05, 0.2], 2 global + 8 local crops per frame). Caron et al., "Emerging Properties in Self-Supervised Vision
    Transformers" (DINO), ICCV 2021, for the view augmentations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torchvision.transforms.functional as TF
from lightly.transforms.dino_transform import DINOViewTransform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image

from midway_plugin.data.views.color_view import color_view
from midway_plugin.data.views.crop_box import BICUBIC, Box, sample_box
from midway_plugin.data.views.pair_input import check_pair, check_prob, check_range


@dataclass(frozen=True)
class DINOParams:
    """Shared geometry of one DINO crop pair.

    Attributes:
        initial_box: The initial crop in frame coordinates (shared by both frames).
        global_boxes: One box per global crop, in the coordinates of the initial crop (shared by both frames).
        global_flips: One horizontal flip flag per global crop (shared by both frames).
    """

    initial_box: Box
    global_boxes: tuple[Box, ...]
    global_flips: tuple[bool, ...]


class MidwayDINOTransform:
    """The paired-frame DINO crops of Midway Network.

    1. An initial crop (area ``initial_crop_scale`` of the frame, aspect ``crop_ratio``) at the same place in both
       frames; it is cut out without resizing and plays the role of the image for the next steps.
    2. Two global crops inside it (area ``global_crop_scale`` of the initial crop, resized to ``global_crop_size``,
       bicubic) at the same coordinates in both frames, each with a random horizontal flip shared by both frames;
       global crop 1 gets DINO's augmentation 1 (blur p 1.0), global crop 2 augmentation 2 (blur p 0.1,
       solarization p 0.2), drawn independently for each frame.
    3. ``n_local_views`` local crops per frame inside the initial crop, drawn independently per frame, with
       Lightly's ``DINOViewTransform`` (area ``local_crop_scale``, ``local_crop_size`` px, flip p 0.5, jitter,
       grayscale, blur p 0.5).

    Output (``4 + 2K`` tensors, K = ``n_local_views``): ``[g1_t, g2_t, g1_tdt, g2_tdt, l1_t, ..., lK_t, l1_tdt,
    ..., lK_tdt]``. Teacher views: the first 4; student views: all. In the loss, view ``v`` and ``v ± 2`` among the
    globals are the same crop in the other frame (docs/paper.md §1.7).

    Args:
        global_crop_size: Global crop size in pixels (paper: 224).
        global_crop_scale: Global crop area as a fraction of the initial crop (paper: (0.4, 1.0)).
        local_crop_size: Local crop size in pixels (paper: 96).
        local_crop_scale: Local crop area as a fraction of the initial crop (paper: (0.05, 0.4)).
        n_local_views: Local crops per frame (paper: 8).
        initial_crop_scale: Initial crop area as a fraction of the frame (paper: (0.05, 0.2)); None skips the
            initial crop (the whole frame is used), e.g. for tiny synthetic frames.
        crop_ratio: Aspect-ratio range of every crop.
        hf_prob: Horizontal flip probability (globals: one shared draw per global crop; locals: per crop).
        cj_prob, cj_strength, cj_bright, cj_contrast, cj_sat, cj_hue, random_gray_scale, sigmas: As in Lightly's
            ``DINOTransform``.
        gaussian_blur: Blur probabilities of (global 1, global 2, locals).
        solarization_prob: Solarization probability of global 2.
        normalize: ``{"mean": ..., "std": ...}`` or None.

    Reference:
        Midway Network (arXiv 2510.05558), §4.1 / Appendix B; docs/paper.md §1.7 and §2.3 "DINO crops".
    """

    def __init__(
        self,
        global_crop_size: int = 224,
        global_crop_scale: tuple[float, float] = (0.4, 1.0),
        local_crop_size: int = 96,
        local_crop_scale: tuple[float, float] = (0.05, 0.4),
        n_local_views: int = 8,
        initial_crop_scale: tuple[float, float] | None = (0.05, 0.2),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hf_prob: float = 0.5,
        cj_prob: float = 0.8,
        cj_strength: float = 0.5,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.4,
        cj_hue: float = 0.2,
        random_gray_scale: float = 0.2,
        gaussian_blur: tuple[float, float, float] = (1.0, 0.1, 0.5),
        sigmas: tuple[float, float] = (0.1, 2.0),
        solarization_prob: float = 0.2,
        normalize: dict[str, list[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        for name, size in (("global_crop_size", global_crop_size), ("local_crop_size", local_crop_size)):
            if size < 1:
                raise ValueError(f"{name} must be a positive number of pixels, got {size!r}")
        if n_local_views < 0:
            raise ValueError(f"n_local_views must be >= 0, got {n_local_views!r}")
        self.global_crop_size = int(global_crop_size)
        self.local_crop_size = int(local_crop_size)
        self.global_crop_scale = check_range("global_crop_scale", global_crop_scale)
        self.local_crop_scale = check_range("local_crop_scale", local_crop_scale)
        self.initial_crop_scale = (
            None if initial_crop_scale is None else check_range("initial_crop_scale", initial_crop_scale)
        )
        self.crop_ratio = check_range("crop_ratio", crop_ratio, high=float("inf"))
        self.n_local_views = int(n_local_views)
        self.hf_prob = check_prob("hf_prob", hf_prob)
        color = dict(
            cj_prob=cj_prob, cj_strength=cj_strength, cj_bright=cj_bright, cj_contrast=cj_contrast, cj_sat=cj_sat,
            cj_hue=cj_hue, random_gray_scale=random_gray_scale, sigmas=sigmas, normalize=normalize,
        )  # fmt: skip
        self.global_views = (
            color_view(gaussian_blur=gaussian_blur[0], solarization_prob=0.0, **color),
            color_view(gaussian_blur=gaussian_blur[1], solarization_prob=solarization_prob, **color),
        )
        self.local_view = DINOViewTransform(
            crop_size=self.local_crop_size,
            crop_scale=self.local_crop_scale,
            hf_prob=self.hf_prob,
            gaussian_blur=check_prob("gaussian_blur[2]", gaussian_blur[2]),
            solarization_prob=0.0,
            **color,  # type: ignore[arg-type]
        )
        # Lightly's view transform samples the aspect ratio in torchvision's default (3/4, 4/3); keep ours.
        self.local_view.transform.transforms[0].ratio = self.crop_ratio

    def sample_params(self, height: int, width: int) -> DINOParams:
        """Draws the shared geometry (initial box, 2 global boxes and flips) for ``height`` x ``width`` frames."""
        if self.initial_crop_scale is None:
            initial = (0, 0, height, width)
        else:
            initial = sample_box(height, width, self.initial_crop_scale, self.crop_ratio)
        boxes = tuple(sample_box(initial[2], initial[3], self.global_crop_scale, self.crop_ratio) for _ in range(2))
        flips = tuple(bool(torch.rand(1) < self.hf_prob) for _ in range(2))
        return DINOParams(initial, boxes, flips)

    def initial_crop(self, frame: Image.Image, params: DINOParams) -> Image.Image:
        """Cuts the initial crop out of one frame (no resizing)."""
        return TF.crop(frame, *params.initial_box)

    def global_crop(self, region: Image.Image, params: DINOParams, k: int) -> Image.Image:
        """Global crop ``k`` (0 or 1) of an initial-crop region, resized and flipped, before colour augmentation."""
        crop = TF.resized_crop(
            region, *params.global_boxes[k], [self.global_crop_size, self.global_crop_size], interpolation=BICUBIC
        )
        return TF.hflip(crop) if params.global_flips[k] else crop

    def apply(self, frame_t: Any, frame_tdt: Any, params: DINOParams) -> list[torch.Tensor]:
        """Renders the shared geometry ``params`` on a pair (local crops are drawn here, per frame)."""
        regions = [self.initial_crop(img, params) for img in check_pair(frame_t, frame_tdt)]
        views = [self.global_views[k](self.global_crop(region, params, k)) for region in regions for k in range(2)]
        for region in regions:
            views.extend(self.local_view(region) for _ in range(self.n_local_views))
        return views

    def __call__(self, frame_t: Any, frame_tdt: Any) -> list[torch.Tensor]:
        """Returns ``[g1_t, g2_t, g1_tdt, g2_tdt]`` followed by the local crops of frame t, then of frame t + dt."""
        img_t, img_u = check_pair(frame_t, frame_tdt)
        return self.apply(img_t, img_u, self.sample_params(img_t.height, img_t.width))
