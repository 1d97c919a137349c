"""Batched photometric augmentation of DINO views on float tensors, on any device (one parameter draw per image).

The tensor twin of :func:`~midway_plugin.data.views.color_view.color_view` (torchvision's ``ColorJitter`` in a random
order, ``RandomGrayscale``, Lightly's ``GaussianBlur`` and ``RandomSolarization``, then ``Normalize``): the
probabilities and parameter ranges read off those very transform objects (:meth:`ColorSpec.from_view`), drawn
independently per image of a batch ``(N, 3, H, W)`` in ``[0, 1]``, so a whole batch of views is augmented with a
handful of kernels instead of N PIL calls. The colour operations follow torchvision's tensor definitions (ITU-R
601-2 luma, blends clamped to [0, 1], hue rotation in HSV); the blur is a true Gaussian of standard deviation
``sigma`` (PIL's ``GaussianBlur(radius=sigma)`` approximates the same one with box filters), replicating edge pixels
as PIL does; solarisation inverts values >= 128/255 like ``ImageOps.solarize``.

Randomness comes from torch's generator of the batch's device (seeded by ``torch.manual_seed``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

_LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights

# Steps of a view transform that are geometry (rendered by DeviceAugment from the sampled boxes and flips) or the
# uint8 -> float conversion; every other step must be one ColorSpec.from_view understands.
_NOT_PHOTOMETRIC = (
    "RandomResizedCrop",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomRotate",
    "RandomRotateDegrees",
    "ToTensor",
)


@dataclass(frozen=True)
class ColorSpec:
    """The photometric settings of one kind of view, as read off its CPU transform (:meth:`from_view`).

    Attributes:
        cj_prob: Probability of colour jitter.
        brightness, contrast, saturation, hue: Ranges the jitter factors (hue: shift, in turns) are drawn from;
            None when that operation is off.
        gray_prob: Probability of grayscale.
        blur_prob: Probability of Gaussian blur.
        sigmas: Blur standard deviation range in pixels.
        solarize_prob: Probability of solarisation.
        solarize_threshold: Values >= this (in [0, 1]) are inverted.
        mean, std: Normalisation (None: no normalisation).
    """

    cj_prob: float
    brightness: tuple[float, float] | None
    contrast: tuple[float, float] | None
    saturation: tuple[float, float] | None
    hue: tuple[float, float] | None
    gray_prob: float
    blur_prob: float
    sigmas: tuple[float, float]
    solarize_prob: float
    solarize_threshold: float
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def from_view(cls, view: Any) -> ColorSpec:
        """The settings of a CPU view transform: :func:`~midway_plugin.data.views.color_view.color_view` or Lightly's
        ``DINOViewTransform`` (the augmentation parameters have one source: the transform objects themselves).

        Raises:
            ValueError: The transform has a step the accelerator path cannot render (named).
        """
        steps = view.transforms if hasattr(view, "transforms") else view.transform.transforms
        found: dict[str, Any] = dict(
            cj_prob=0.0,
            brightness=None,
            contrast=None,
            saturation=None,
            hue=None,
            gray_prob=0.0,
            blur_prob=0.0,
            sigmas=(0.0, 0.0),
            solarize_prob=0.0,
            solarize_threshold=1.0,
            mean=None,
            std=None,
        )
        for step in steps:
            name = type(step).__name__
            inner = type(step.transforms[0]).__name__ if name == "RandomApply" and len(step.transforms) == 1 else ""
            if inner == "ColorJitter":
                jitter = step.transforms[0]
                found.update(
                    cj_prob=float(step.p),
                    **{key: _range(getattr(jitter, key)) for key in ("brightness", "contrast", "saturation", "hue")},
                )
            elif name == "RandomGrayscale":
                found["gray_prob"] = float(step.p)
            elif name == "GaussianBlur" and hasattr(step, "sigmas"):  # Lightly's, drawing sigma per image
                found.update(blur_prob=float(step.prob), sigmas=tuple(float(v) for v in step.sigmas))
            elif name == "RandomSolarization":
                found.update(solarize_prob=float(step.prob), solarize_threshold=float(step.threshold) / 255)
            elif name == "Normalize":
                found.update(mean=tuple(float(v) for v in step.mean), std=tuple(float(v) for v in step.std))
            elif name not in _NOT_PHOTOMETRIC and not (name == "Compose" and _is_to_tensor(step)):
                raise ValueError(f"the accelerator path cannot render the step {step!r} of the view transform")
        return cls(**found)


def _range(value: Any) -> tuple[float, float] | None:
    """torchvision's ColorJitter stores each factor as a (min, max) range, or None when off."""
    return None if value is None else (float(value[0]), float(value[1]))


def _is_to_tensor(step: Any) -> bool:
    """Lightly's ToTensor under torchvision v2 is ``Compose([ToImage(), ToDtype(scale=True)])``."""
    return [type(s).__name__ for s in step.transforms] == ["ToImage", "ToDtype"]


def grayscale(x: Tensor) -> Tensor:
    """Luma of ``(..., 3, H, W)`` RGB as ``(..., 1, H, W)``."""
    r, g, b = x.unbind(-3)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(-3)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    return (factor * x + (1 - factor) * other).clamp_(0, 1)


def _rgb_to_hsv(x: Tensor) -> Tensor:
    r, g, b = x.unbind(-3)
    maxc, _ = x.max(dim=-3)
    minc, _ = x.min(dim=-3)
    same = maxc == minc
    chroma = maxc - minc
    s = chroma / torch.where(same, torch.ones_like(maxc), maxc)
    div = torch.where(same, torch.ones_like(chroma), chroma)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(same, torch.zeros_like(h), h)
    return torch.stack(((h / 6.0).remainder(1.0), s, maxc), dim=-3)


def _hsv_to_rgb(x: Tensor) -> Tensor:
    h, s, v = x.unbind(-3)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    sector = i.long().remainder(6).unsqueeze(-3)
    p = (v * (1.0 - s)).clamp(0, 1)
    q = (v * (1.0 - s * f)).clamp(0, 1)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1)
    # Per sector (0..5), which of (v, q, p, t) each of R, G, B takes.
    candidates = torch.stack((v, q, p, t), dim=-3)  # (..., 4, H, W)
    table = torch.tensor([[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=x.device)
    pick = table[sector.squeeze(-3)].movedim(-1, -3)  # (..., 3, H, W)
    return candidates.gather(-3, pick)


def _adjust(x: Tensor, op: int, factor: Tensor) -> Tensor:
    """One of torchvision's ColorJitter operations with a per-image factor ``(n, 1, 1, 1)``."""
    if op == 0:  # brightness
        return (x * factor).clamp_(0, 1)
    if op == 1:  # contrast: blend with the image's mean luma
        return _blend(x, grayscale(x).mean(dim=(-3, -2, -1), keepdim=True), factor)
    if op == 2:  # saturation: blend with the luma image
        return _blend(x, grayscale(x), factor)
    hsv = _rgb_to_hsv(x)
    hue = (hsv[:, :1] + factor).remainder(1.0)
    return _hsv_to_rgb(torch.cat((hue, hsv[:, 1:]), dim=1))


def color_jitter(x: Tensor, spec: ColorSpec) -> Tensor:
    """torchvision's ``RandomApply([ColorJitter(...)], p)`` per image: 4 factors and a random order each."""
    n, device = x.shape[0], x.device
    apply = torch.rand(n, device=device) < spec.cj_prob
    if not bool(apply.any()):
        return x
    idx = apply.nonzero().squeeze(1)
    sub = x[idx]
    m = len(idx)
    ranges = (spec.brightness, spec.contrast, spec.saturation, spec.hue)
    neutral = ((1.0, 1.0), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0))  # drawn but unused: the same draws either way
    lows, highs = torch.tensor([r or n for r, n in zip(ranges, neutral)], device=device).unbind(1)
    factors = (lows + (highs - lows) * torch.rand(m, 4, device=device)).to(x.dtype)
    order = torch.rand(m, 4, device=device).argsort(dim=1)  # a random permutation per image, like randperm(4)
    enabled = [r is not None for r in ranges]
    for position in range(4):
        for op in range(4):
            if not enabled[op]:
                continue
            rows = (order[:, position] == op).nonzero().squeeze(1)
            if len(rows):
                sub[rows] = _adjust(sub[rows], op, factors[rows, op].view(-1, 1, 1, 1))
    out = x.clone()
    out[idx] = sub
    return out


def random_grayscale(x: Tensor, p: float) -> Tensor:
    """``RandomGrayscale(p)`` per image (3 equal channels)."""
    mask = (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1, 1)
    return torch.where(mask, grayscale(x).expand_as(x), x)


def gaussian_blur(x: Tensor, p: float, sigmas: tuple[float, float]) -> Tensor:
    """Lightly's ``GaussianBlur(prob=p, sigmas)`` per image: sigma uniform in ``sigmas``, separable, edge-replicated."""
    n, c, h, w = x.shape
    chosen = (torch.rand(n, device=x.device) < p).nonzero().squeeze(1)
    if len(chosen) == 0:
        return x
    sigma = sigmas[0] + (sigmas[1] - sigmas[0]) * torch.rand(len(chosen), device=x.device)
    radius = max(1, math.ceil(3 * sigmas[1]))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma.view(-1, 1)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).to(x.dtype).repeat_interleave(c, dim=0)  # (m * c, k)
    sub = x[chosen].reshape(1, len(chosen) * c, h, w)
    sub = F.pad(sub, (radius, radius, 0, 0), mode="replicate")
    sub = F.conv2d(sub, kernel.view(-1, 1, 1, 2 * radius + 1), groups=len(chosen) * c)
    sub = F.pad(sub, (0, 0, radius, radius), mode="replicate")
    sub = F.conv2d(sub, kernel.view(-1, 1, 2 * radius + 1, 1), groups=len(chosen) * c)
    out = x.clone()
    out[chosen] = sub.view(len(chosen), c, h, w)
    return out


def random_solarize(x: Tensor, p: float, threshold: float = 128 / 255) -> Tensor:
    """Lightly's ``RandomSolarization(prob=p)`` per image: values >= ``threshold`` (128/255) become 1 - value."""
    mask = (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1, 1)
    return torch.where(mask & (x >= threshold), 1.0 - x, x)


def photometric(x: Tensor, spec: ColorSpec) -> Tensor:
    """Colour jitter, grayscale, blur, solarisation and normalisation of ``(N, 3, H, W)`` floats in [0, 1]."""
    if spec.cj_prob > 0:
        x = color_jitter(x, spec)
    if spec.gray_prob > 0:
        x = random_grayscale(x, spec.gray_prob)
    if spec.blur_prob > 0:
        x = gaussian_blur(x, spec.blur_prob, spec.sigmas)
    if spec.solarize_prob > 0:
        x = random_solarize(x, spec.solarize_prob, spec.solarize_threshold)
    if spec.mean is not None and spec.std is not None:
        mean = torch.tensor(spec.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(spec.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x
