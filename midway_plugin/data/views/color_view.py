"""The photometric half of a DINO view, taken from Lightly's ``DINOViewTransform``.

Reference:
    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers" (DINO), ICCV 2021, for the view
    augmentations.
"""

from __future__ import annotations

from typing import Any

import torchvision.transforms as T
from lightly.transforms.dino_transform import DINOViewTransform

from midway_plugin.data.views.pair_input import check_prob

#: The probabilities among :func:`color_view`'s settings (checked to lie in [0, 1]).
_PROBABILITIES = ("cj_prob", "random_gray_scale", "gaussian_blur", "solarization_prob")


def color_view(**settings: Any) -> T.Compose:
    """The photometric part of Lightly's ``DINOViewTransform``: its steps after the crop, flips and rotation.

    Lightly's own transform objects are used (its DINO recipe and order: colour jitter, grayscale, blur,
    solarisation, to-tensor, normalise), so the CPU views and the accelerator path
    (:meth:`~midway_plugin.data.views.tensor_augment.ColorSpec.from_view` reads its parameters off these objects) have a
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
            settings[name] = check_prob(name, settings[name])
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
