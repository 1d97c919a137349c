"""Paired-frame transforms of Midway Network, in Lightly's transform style.

Each transform is called on two frames of one video, ``transform(frame_t, frame_t_plus_dt)`` (PIL images, uint8
arrays of shape (H, W, 3), or uint8/float tensors of shape (3, H, W)), and returns tensors normalised with
ImageNet's statistics (Lightly's ``IMAGENET_NORMALIZE``). They are built from torchvision transforms and Lightly's
``DINOViewTransform`` (whole for the local crops, its photometric steps for the others: :func:`color_view`); only
the geometry that must be shared between the two frames is sampled here (torchvision's
``RandomResizedCrop.get_params``).

* :class:`MidwayMotionTransform` -> ``[x_t, x_tdt]``: the "motion crops" of the dynamics objective.
* :class:`MidwayDINOTransform` -> ``[g1_t, g2_t, g1_tdt, g2_tdt, l1_t, ..., lK_t, l1_tdt, ..., lK_tdt]``: the
  paired-frame DINO crops. The teacher takes the first 4 (global) views, the student all ``4 + 2K`` (docs/paper.md
  §1.7: g1_x, g2_x, g1_y, g2_y, then 8 locals of x and 8 of y).
* :class:`MidwayTransform` -> ``{"motion": [x_t, x_tdt], "dino_global": [g1_t, g2_t, g1_tdt, g2_tdt],
  "dino_local": [l1_t, ..., lK_t, l1_tdt, ..., lK_tdt]}`` (both of the above on the same pair).

Shapes per pair: motion and global views ``(3, crop_size, crop_size)``, local views ``(3, local_size, local_size)``.
Through :class:`~midway_plugin.data.VideoPairDataset` and the default collate, each becomes ``(B, R, 3, S, S)``;
:func:`~midway_plugin.data.flatten_pairs` gives ``(B * R, 3, S, S)``.

Every transform exposes its geometry: ``sample_params(height, width)`` draws the shared boxes/flips and
``apply(frame_t, frame_tdt, params)`` renders them, so tests and analyses can replay or inspect the crops.
Randomness uses torch's and numpy's global generators (DataLoader seeds both per worker), as Lightly does.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), §4.1 and Appendix B (motion crops: area
    [0.2, 0.4], same location in both frames, DINO global augmentations 1 and 2; DINO crops: initial crop of area
    [0.05, 0.2], 2 global + 8 local crops per frame). Caron et al., "Emerging Properties in Self-Supervised Vision
    Transformers" (DINO), ICCV 2021, for the view augmentations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from lightly.transforms.dino_transform import DINOViewTransform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image

Box = tuple[int, int, int, int]
"""A crop box ``(top, left, height, width)`` in pixels, as torchvision's ``get_params`` returns it."""

_BICUBIC = T.InterpolationMode.BICUBIC


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


def _check_pair(frame_t: Any, frame_u: Any) -> tuple[Image.Image, Image.Image]:
    img_t, img_u = to_pil(frame_t), to_pil(frame_u)
    if img_t.size != img_u.size:
        raise ValueError(f"the two frames of a pair differ in size: {img_t.size} vs {img_u.size} (width, height)")
    return img_t, img_u


def _check_range(name: str, value: Sequence[float], low: float = 0.0, high: float = 1.0) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not low < lo <= hi <= high:
        raise ValueError(f"{name} must satisfy {low:g} < min <= max <= {high:g}, got {tuple(value)!r}")
    return lo, hi


def _check_prob(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def sample_box(height: int, width: int, scale: Sequence[float], ratio: Sequence[float]) -> Box:
    """Draws a RandomResizedCrop box on a ``height`` x ``width`` image (torchvision's sampling).

    Returns:
        ``(top, left, box_height, box_width)``.
    """
    # get_params only reads the image size: an expanded 1-element tensor carries it without allocating.
    placeholder = torch.empty(1, 1, 1).expand(1, height, width)
    return tuple(T.RandomResizedCrop.get_params(placeholder, list(scale), list(ratio)))  # type: ignore[return-value]


#: The probabilities among :func:`color_view`'s settings (checked to lie in [0, 1]).
_PROBABILITIES = ("cj_prob", "random_gray_scale", "gaussian_blur", "solarization_prob")


def color_view(**settings: Any) -> T.Compose:
    """The photometric part of Lightly's ``DINOViewTransform``: its steps after the crop, flips and rotation.

    Lightly's own transform objects are used (its DINO recipe and order: colour jitter, grayscale, blur,
    solarisation, to-tensor, normalise), so the CPU views and the accelerator path
    (:meth:`~midway_plugin.data.tensor_augment.ColorSpec.from_view` reads its parameters off these objects) have a
    single source. ``lightly.transforms`` is a library of torchvision transforms, not Lightly's training framework,
    so ``data/`` may use it.

    Args:
        **settings: ``DINOViewTransform``'s photometric keywords (``cj_prob``, ``cj_strength``, ``cj_bright``,
            ``cj_contrast``, ``cj_sat``, ``cj_hue``, ``random_gray_scale``, ``gaussian_blur``, ``sigmas``,
            ``solarization_prob``, ``normalize``); unset ones take Lightly's defaults (DINO's augmentation 1 with
            solarisation p 0.2: pass ``solarization_prob=0.0`` for augmentation 1 as the paper uses it).

    Returns:
        A PIL image -> normalised float tensor transform.

    Raises:
        ValueError: A probability is outside [0, 1] or a keyword is not photometric (both named).
    """
    geometric = {"crop_size", "crop_scale", "hf_prob", "vf_prob", "rr_prob", "rr_degrees"}
    if geometric & set(settings):
        raise ValueError(f"color_view takes photometric settings only, got {sorted(geometric & set(settings))}")
    for name in _PROBABILITIES:
        if name in settings:
            settings[name] = _check_prob(name, settings[name])
    steps = DINOViewTransform(hf_prob=0.0, **settings).transform.transforms
    start = next((i for i, step in enumerate(steps) if _is_color_jitter(step)), None)
    if start is None:  # a Lightly release that reorganised DINOViewTransform
        raise RuntimeError(f"Lightly's DINOViewTransform has no RandomApply(ColorJitter) step: {steps}")
    # torchvision's ToTensor instead of Lightly's v2 ToImage + ToDtype: the same values up to 1 ulp, but bitwise the
    # views this package has always produced, as plain tensors.
    return T.Compose([T.ToTensor() if type(step).__name__ == "ToTensor" else step for step in steps[start:]])


def _is_color_jitter(step: Any) -> bool:
    """``RandomApply([ColorJitter])`` of torchvision's transforms or transforms.v2 (Lightly uses v2 when present)."""
    inner = getattr(step, "transforms", [None])
    return type(step).__name__ == "RandomApply" and type(inner[0]).__name__ == "ColorJitter"


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
        self.crop_scale = _check_range("crop_scale", crop_scale)
        self.crop_ratio = _check_range("crop_ratio", crop_ratio, high=float("inf"))
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
        return TF.resized_crop(frame, *params.box, [self.crop_size, self.crop_size], interpolation=_BICUBIC)

    def apply(self, frame_t: Any, frame_tdt: Any, params: MotionParams) -> list[torch.Tensor]:
        """Renders ``params`` on a pair: ``[x_t, x_tdt]``."""
        img_t, img_u = _check_pair(frame_t, frame_tdt)
        return [self.view_t(self.crop(img_t, params)), self.view_tdt(self.crop(img_u, params))]

    def __call__(self, frame_t: Any, frame_tdt: Any) -> list[torch.Tensor]:
        """Returns ``[x_t, x_tdt]``, both cropped with one random box."""
        img_t, img_u = _check_pair(frame_t, frame_tdt)
        return self.apply(img_t, img_u, self.sample_params(img_t.height, img_t.width))


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
        self.global_crop_scale = _check_range("global_crop_scale", global_crop_scale)
        self.local_crop_scale = _check_range("local_crop_scale", local_crop_scale)
        self.initial_crop_scale = (
            None if initial_crop_scale is None else _check_range("initial_crop_scale", initial_crop_scale)
        )
        self.crop_ratio = _check_range("crop_ratio", crop_ratio, high=float("inf"))
        self.n_local_views = int(n_local_views)
        self.hf_prob = _check_prob("hf_prob", hf_prob)
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
            gaussian_blur=_check_prob("gaussian_blur[2]", gaussian_blur[2]),
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
            region, *params.global_boxes[k], [self.global_crop_size, self.global_crop_size], interpolation=_BICUBIC
        )
        return TF.hflip(crop) if params.global_flips[k] else crop

    def apply(self, frame_t: Any, frame_tdt: Any, params: DINOParams) -> list[torch.Tensor]:
        """Renders the shared geometry ``params`` on a pair (local crops are drawn here, per frame)."""
        regions = [self.initial_crop(img, params) for img in _check_pair(frame_t, frame_tdt)]
        views = [self.global_views[k](self.global_crop(region, params, k)) for region in regions for k in range(2)]
        for region in regions:
            views.extend(self.local_view(region) for _ in range(self.n_local_views))
        return views

    def __call__(self, frame_t: Any, frame_tdt: Any) -> list[torch.Tensor]:
        """Returns ``[g1_t, g2_t, g1_tdt, g2_tdt]`` followed by the local crops of frame t, then of frame t + dt."""
        img_t, img_u = _check_pair(frame_t, frame_tdt)
        return self.apply(img_t, img_u, self.sample_params(img_t.height, img_t.width))


class MidwayTransform:
    """Both Midway objectives' views of one frame pair, as one dict.

    Output::

        {
            "motion": [x_t, x_tdt],                         # 2 x (3, motion_size, motion_size)
            "dino_global": [g1_t, g2_t, g1_tdt, g2_tdt],    # 4 x (3, global_size, global_size): teacher views
            "dino_local": [l1_t, ..., lK_t, l1_tdt, ..., lK_tdt],  # 2K x (3, local_size, local_size)
        }

    The student's DINO views are ``dino_global + dino_local`` (docs/paper.md §1.7). With ``with_dino=False`` (a
    dynamics-only run) the two ``dino_*`` keys are absent; with ``with_motion=False`` (the DINO-only base of
    Table 3, row 1) ``motion`` is absent.

    Args:
        motion: The motion-crop transform (None: paper settings).
        dino: The DINO-crop transform (None: paper settings).
        with_motion: Produce the motion crops.
        with_dino: Produce the DINO crops.

    Raises:
        ValueError: Both ``with_motion`` and ``with_dino`` are False.
    """

    def __init__(
        self,
        motion: MidwayMotionTransform | None = None,
        dino: MidwayDINOTransform | None = None,
        *,
        with_motion: bool = True,
        with_dino: bool = True,
    ) -> None:
        self.motion = (motion or MidwayMotionTransform()) if with_motion else None
        self.dino = (dino or MidwayDINOTransform()) if with_dino else None
        if self.motion is None and self.dino is None:
            raise ValueError("MidwayTransform needs at least one of the motion and DINO transforms")

    @classmethod
    def small(
        cls,
        crop_size: int = 32,
        local_crop_size: int = 16,
        n_local_views: int = 2,
        initial_crop_scale: tuple[float, float] | None = (0.3, 0.6),
        **kwargs: Any,
    ) -> "MidwayTransform":
        """A transform for tiny frames (e.g. 64 x 64 synthetic video): 32 px motion/global crops, 2 x 16 px locals.

        The initial crop is enlarged (area 0.3-0.6) so that crops of tiny frames keep some content.

        Args:
            crop_size: Motion and global crop size.
            local_crop_size: Local crop size.
            n_local_views: Local crops per frame.
            initial_crop_scale: Initial crop area range (None: whole frame).
            **kwargs: ``with_motion`` / ``with_dino``.
        """
        return cls(
            MidwayMotionTransform(crop_size=crop_size),
            MidwayDINOTransform(
                global_crop_size=crop_size,
                local_crop_size=local_crop_size,
                n_local_views=n_local_views,
                initial_crop_scale=initial_crop_scale,
            ),
            **kwargs,
        )

    def __call__(self, frame_t: Any, frame_tdt: Any) -> dict[str, list[torch.Tensor]]:
        """Returns the views dict of one pair (see the class docstring)."""
        img_t, img_u = _check_pair(frame_t, frame_tdt)
        out: dict[str, list[torch.Tensor]] = {}
        if self.motion is not None:
            out["motion"] = self.motion(img_t, img_u)
        if self.dino is not None:
            views = self.dino(img_t, img_u)
            out["dino_global"], out["dino_local"] = views[:4], views[4:]
        return out
