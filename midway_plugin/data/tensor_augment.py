"""Batched photometric augmentation of DINO views on float tensors, on any device (one parameter draw per image).

The tensor twin of :func:`~midway_plugin.data.transforms.color_view` (torchvision's ``ColorJitter`` in a random
order, ``RandomGrayscale``, Lightly's ``GaussianBlur`` and ``RandomSolarization``, then ``Normalize``): the same
probabilities and parameter ranges, drawn independently per image of a batch ``(N, 3, H, W)`` in ``[0, 1]``, so a
whole batch of views is augmented with a handful of kernels instead of N PIL calls. The colour operations follow
torchvision's tensor definitions (ITU-R 601-2 luma, blends clamped to [0, 1], hue rotation in HSV); the blur is a
true Gaussian of standard deviation ``sigma`` (PIL's ``GaussianBlur(radius=sigma)`` approximates the same one with
box filters), replicating edge pixels as PIL does; solarisation inverts values >= 128/255 like ``ImageOps.solarize``.

Randomness comes from torch's generator of the batch's device (seeded by ``torch.manual_seed``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

_LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights
_SOLARIZE_THRESHOLD = 128 / 255  # Lightly's RandomSolarization threshold 128 on uint8


@dataclass(frozen=True)
class ColorSpec:
    """The photometric settings of one kind of view.

    Attributes:
        cj_prob: Probability of colour jitter.
        brightness, contrast, saturation: Jitter factors are drawn from ``[max(0, 1 - x), 1 + x]``.
        hue: Hue shift drawn from ``[-hue, hue]`` (fraction of a turn).
        gray_prob: Probability of grayscale.
        blur_prob: Probability of Gaussian blur.
        sigmas: Blur standard deviation range in pixels.
        solarize_prob: Probability of solarisation.
        mean, std: Normalisation (None: no normalisation).
    """

    cj_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    gray_prob: float = 0.2
    blur_prob: float = 1.0
    sigmas: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = 0.0
    mean: tuple[float, float, float] | None = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] | None = (0.229, 0.224, 0.225)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ColorSpec:
        """From the keyword arguments of :func:`~midway_plugin.data.transforms.color_view` (``color_settings``)."""
        strength = float(settings.get("cj_strength", 0.5))
        normalize = settings.get("normalize")
        return cls(
            cj_prob=float(settings.get("cj_prob", 0.8)),
            brightness=strength * float(settings.get("cj_bright", 0.8)),
            contrast=strength * float(settings.get("cj_contrast", 0.8)),
            saturation=strength * float(settings.get("cj_sat", 0.4)),
            hue=strength * float(settings.get("cj_hue", 0.2)),
            gray_prob=float(settings.get("random_gray_scale", 0.2)),
            blur_prob=float(settings.get("gaussian_blur", 1.0)),
            sigmas=tuple(float(s) for s in settings.get("sigmas", (0.1, 2.0))),  # type: ignore[arg-type]
            solarize_prob=float(settings.get("solarization_prob", 0.0)),
            mean=tuple(normalize["mean"]) if normalize else None,  # type: ignore[arg-type]
            std=tuple(normalize["std"]) if normalize else None,  # type: ignore[arg-type]
        )


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
    lows = torch.tensor([max(0.0, 1 - spec.brightness), max(0.0, 1 - spec.contrast),
                         max(0.0, 1 - spec.saturation), -spec.hue], device=device)
    highs = torch.tensor([1 + spec.brightness, 1 + spec.contrast, 1 + spec.saturation, spec.hue], device=device)
    factors = (lows + (highs - lows) * torch.rand(m, 4, device=device)).to(x.dtype)
    order = torch.rand(m, 4, device=device).argsort(dim=1)  # a random permutation per image, like randperm(4)
    enabled = [spec.brightness > 0, spec.contrast > 0, spec.saturation > 0, spec.hue > 0]
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


def random_solarize(x: Tensor, p: float) -> Tensor:
    """Lightly's ``RandomSolarization(prob=p)`` per image: values >= 128/255 become 1 - value."""
    mask = (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1, 1)
    return torch.where(mask & (x >= _SOLARIZE_THRESHOLD), 1.0 - x, x)


def photometric(x: Tensor, spec: ColorSpec) -> Tensor:
    """Colour jitter, grayscale, blur, solarisation and normalisation of ``(N, 3, H, W)`` floats in [0, 1]."""
    if spec.cj_prob > 0:
        x = color_jitter(x, spec)
    if spec.gray_prob > 0:
        x = random_grayscale(x, spec.gray_prob)
    if spec.blur_prob > 0:
        x = gaussian_blur(x, spec.blur_prob, spec.sigmas)
    if spec.solarize_prob > 0:
        x = random_solarize(x, spec.solarize_prob)
    if spec.mean is not None and spec.std is not None:
        mean = torch.tensor(spec.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(spec.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x
