"""The colour part of the views: Lightly's own DINO steps, read by the accelerator path from the same objects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from lightly.transforms.gaussian_blur import GaussianBlur
from lightly.transforms.solarize import RandomSolarization
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image

from midway_plugin.data.views import DeviceAugment, MidwayDINOTransform, MidwayMotionTransform, MidwayTransform
from midway_plugin.data.views.color_view import color_view
from midway_plugin.data.views.tensor_augment import ColorSpec


def _dino_colour_steps(gaussian_blur: float, solarization_prob: float) -> T.Compose:
    """DINO's colour augmentation written out with torchvision's (v1) transforms, in the order of the DINO paper:
    jitter (0.4, 0.4, 0.2, 0.1) with p 0.8, grayscale p 0.2, blur, solarisation, to tensor, normalise."""
    return T.Compose(
        [
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            GaussianBlur(prob=gaussian_blur, sigmas=(0.1, 2.0)),
            RandomSolarization(prob=solarization_prob),
            T.ToTensor(),
            T.Normalize(IMAGENET_NORMALIZE["mean"], IMAGENET_NORMALIZE["std"]),
        ]
    )


@pytest.mark.parametrize(("blur", "solarize"), [(1.0, 0.0), (0.1, 0.2), (0.5, 0.0)])
def test_same_seed_gives_the_same_views_as_dinos_colour_steps(blur: float, solarize: float) -> None:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)) for _ in range(40)]
    outputs = []
    for view in (color_view(gaussian_blur=blur, solarization_prob=solarize), _dino_colour_steps(blur, solarize)):
        torch.manual_seed(1)
        np.random.seed(1)
        outputs.append(torch.stack([view(image) for image in images]))
    changed = (outputs[1] - _dino_colour_steps(0.0, 0.0).transforms[-1](T.ToTensor()(images[0]))).abs().amax()
    assert changed > 0.1  # the comparison sees colour changes at all
    assert torch.equal(outputs[0], outputs[1])  # bitwise: the views this package produced before using Lightly's


def test_the_accelerator_path_reads_every_setting_off_the_cpu_transforms() -> None:
    motion = MidwayMotionTransform(
        crop_size=16,
        cj_prob=0.7,
        cj_strength=0.25,
        random_gray_scale=0.1,
        gaussian_blur=(0.9, 0.3),
        sigmas=(0.2, 1.5),
        solarization_prob=0.4,
    )
    dino = MidwayDINOTransform(
        global_crop_size=16,
        local_crop_size=8,
        n_local_views=2,
        initial_crop_scale=None,
        cj_hue=0.0,
        gaussian_blur=(0.8, 0.2, 0.6),
        solarization_prob=0.3,
        normalize=None,
    )
    augment = DeviceAugment(MidwayTransform(motion, dino))
    t, tdt = augment.motion_specs
    assert (t.cj_prob, t.gray_prob, t.blur_prob, t.sigmas, t.solarize_prob) == (0.7, 0.1, 0.9, (0.2, 1.5), 0.0)
    assert tdt.blur_prob == 0.3 and tdt.solarize_prob == 0.4
    assert t.brightness == pytest.approx((0.8, 1.2)) and t.hue == pytest.approx((-0.05, 0.05))
    assert t.mean == tuple(IMAGENET_NORMALIZE["mean"])
    g1, g2, local = augment.dino_specs
    assert [s.blur_prob for s in (g1, g2, local)] == [0.8, 0.2, 0.6]
    assert [s.solarize_prob for s in (g1, g2, local)] == [0.0, 0.3, 0.0]
    assert g1.hue is None and local.hue is None and g1.mean is None and local.std is None
    assert local.solarize_threshold == pytest.approx(128 / 255)


def test_a_step_the_accelerator_cannot_render_is_named() -> None:
    view = T.Compose([*color_view().transforms, T.RandomErasing(p=0.5)])
    with pytest.raises(ValueError, match="RandomErasing"):
        ColorSpec.from_view(view)


def test_color_view_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="random_gray_scale"):
        color_view(random_gray_scale=1.5)
    with pytest.raises(ValueError, match="crop_size"):
        color_view(crop_size=32)
    spec = ColorSpec.from_view(color_view(cj_prob=0.0, random_gray_scale=0.0, gaussian_blur=0.0, normalize=None))
    assert dataclasses.astuple(spec)[:1] == (0.0,) and spec.gray_prob == spec.blur_prob == 0.0 and spec.mean is None
