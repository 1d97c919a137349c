"""Paired transforms: shared crop boxes and flips, view counts and sizes, paper defaults, small inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from lightly.transforms.gaussian_blur import GaussianBlur
from lightly.transforms.solarize import RandomSolarization
from PIL import Image

from midway_plugin.data.views import MidwayDINOTransform, MidwayMotionTransform, MidwayTransform
from midway_plugin.data.views.crop_box import sample_box

# No photometric randomness and no normalisation: the views are pure geometry, so shared boxes show as equality.
NO_COLOR = dict(cj_prob=0.0, random_gray_scale=0.0, solarization_prob=0.0, normalize=None)


def _noise(height: int, width: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _steps(compose, kind: type) -> list:
    # By class name: Lightly's view transforms use torchvision.transforms.v2 classes of the same names.
    return [t for t in compose.transforms if type(t).__name__ == kind.__name__]


def test_motion_crops_share_the_box() -> None:
    torch.manual_seed(0)
    frame = _noise(120, 160, 0)
    transform = MidwayMotionTransform(crop_size=48, gaussian_blur=(0.0, 0.0), **NO_COLOR)
    for _ in range(10):
        x_t, x_u = transform(frame, frame.copy())
        assert x_t.shape == x_u.shape == (3, 48, 48)
        assert torch.equal(x_t, x_u)  # same box in both frames, no flip


def test_motion_apply_crops_the_sampled_box_in_both_frames() -> None:
    torch.manual_seed(1)
    frame_t, frame_u = _noise(90, 130, 1), _noise(90, 130, 2)
    transform = MidwayMotionTransform(crop_size=40, gaussian_blur=(0.0, 0.0), **NO_COLOR)
    params = transform.sample_params(90, 130)
    x_t, x_u = transform.apply(frame_t, frame_u, params)
    for view, frame in ((x_t, frame_t), (x_u, frame_u)):
        expected = TF.to_tensor(
            TF.resized_crop(frame, *params.box, [40, 40], interpolation=T.InterpolationMode.BICUBIC)
        )
        assert torch.equal(view, expected)


def test_motion_box_area_and_aspect_follow_the_paper() -> None:
    torch.manual_seed(2)
    transform = MidwayMotionTransform()
    for _ in range(200):
        top, left, h, w = transform.sample_params(720, 1280).box
        assert 0 <= top and top + h <= 720 and 0 <= left and left + w <= 1280
        assert 0.2 - 0.005 <= h * w / (720 * 1280) <= 0.4 + 0.005
        assert 3 / 4 - 0.02 <= w / h <= 4 / 3 + 0.02


def test_motion_augmentations_are_dino_global_1_and_2() -> None:
    transform = MidwayMotionTransform()
    (blur_t,), (blur_u,) = _steps(transform.view_t, GaussianBlur), _steps(transform.view_tdt, GaussianBlur)
    (sol_t,), (sol_u,) = _steps(transform.view_t, RandomSolarization), _steps(transform.view_tdt, RandomSolarization)
    assert (blur_t.prob, blur_u.prob, sol_t.prob, sol_u.prob) == (1.0, 0.1, 0.0, 0.2)
    (apply,) = _steps(transform.view_t, T.RandomApply)
    jitter = apply.transforms[0]
    assert apply.p == 0.8
    assert jitter.brightness == pytest.approx((0.6, 1.4)) and jitter.contrast == pytest.approx((0.6, 1.4))
    assert jitter.saturation == pytest.approx((0.8, 1.2)) and jitter.hue == pytest.approx((-0.1, 0.1))
    assert _steps(transform.view_t, T.RandomGrayscale)[0].p == 0.2
    assert _steps(transform.view_t, T.Normalize)[0].mean == [0.485, 0.456, 0.406]


def test_dino_globals_share_crops_and_flips_locals_do_not() -> None:
    torch.manual_seed(3)
    frame = _noise(160, 200, 3)
    transform = MidwayDINOTransform(
        global_crop_size=40, local_crop_size=16, n_local_views=3, gaussian_blur=(0.0, 0.0, 0.0), **NO_COLOR
    )
    flips = set()
    for _ in range(12):
        params = transform.sample_params(160, 200)
        flips.update(params.global_flips)
        views = transform.apply(frame, frame.copy(), params)
        assert len(views) == 4 + 2 * 3
        g1_t, g2_t, g1_u, g2_u = views[:4]
        assert torch.equal(g1_t, g1_u) and torch.equal(g2_t, g2_u)  # same coordinates and flip in both frames
        assert all(v.shape == (3, 40, 40) for v in views[:4])
        assert all(v.shape == (3, 16, 16) for v in views[4:])
        assert not all(torch.equal(a, b) for a, b in zip(views[4:7], views[7:]))  # locals drawn per frame
    assert flips == {True, False}  # the shared flip is random


def test_dino_global_boxes_lie_in_the_initial_crop() -> None:
    torch.manual_seed(4)
    transform = MidwayDINOTransform()
    for _ in range(200):
        params = transform.sample_params(720, 1280)
        top, left, h, w = params.initial_box
        assert 0.05 - 0.005 <= h * w / (720 * 1280) <= 0.2 + 0.005
        assert top + h <= 720 and left + w <= 1280
        for gt, gl, gh, gw in params.global_boxes:
            assert 0 <= gt and gt + gh <= h and 0 <= gl and gl + gw <= w
            assert 0.4 - 0.02 <= gh * gw / (h * w) <= 1.0


def test_dino_global_view_matches_the_initial_then_global_crop() -> None:
    torch.manual_seed(5)
    frame_t, frame_u = _noise(100, 120, 5), _noise(100, 120, 6)
    transform = MidwayDINOTransform(global_crop_size=24, n_local_views=0, gaussian_blur=(0, 0, 0), **NO_COLOR)
    params = transform.sample_params(100, 120)
    views = transform.apply(frame_t, frame_u, params)
    for k in range(2):
        for frame, view in ((frame_t, views[k]), (frame_u, views[2 + k])):
            region = TF.crop(frame, *params.initial_box)
            crop = TF.resized_crop(region, *params.global_boxes[k], [24, 24], interpolation=T.InterpolationMode.BICUBIC)
            crop = TF.hflip(crop) if params.global_flips[k] else crop
            assert torch.equal(view, TF.to_tensor(crop))


def test_paper_defaults_produce_20_dino_views() -> None:
    torch.manual_seed(6)
    frame_t, frame_u = _noise(256, 320, 7), _noise(256, 320, 8)
    out = MidwayTransform()(frame_t, frame_u)
    assert [v.shape for v in out["motion"]] == [(3, 224, 224)] * 2
    assert [v.shape for v in out["dino_global"]] == [(3, 224, 224)] * 4
    assert [v.shape for v in out["dino_local"]] == [(3, 96, 96)] * 16
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for vs in out.values() for v in vs)
    dino = MidwayDINOTransform()
    assert _steps(dino.global_views[0], GaussianBlur)[0].prob == 1.0
    assert _steps(dino.global_views[1], GaussianBlur)[0].prob == 0.1
    assert _steps(dino.global_views[1], RandomSolarization)[0].prob == 0.2
    local_steps = dino.local_view.transform.transforms
    assert local_steps[0].scale == (0.05, 0.4) and local_steps[0].size == (96, 96)
    assert _steps(dino.local_view.transform, GaussianBlur)[0].prob == 0.5
    assert _steps(dino.local_view.transform, T.RandomHorizontalFlip)[0].p == 0.5


def test_small_transform_on_tiny_frames() -> None:
    torch.manual_seed(7)
    frame_t, frame_u = np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 200, np.uint8)
    out = MidwayTransform.small()(frame_t, frame_u)
    assert [tuple(v.shape) for v in out["motion"]] == [(3, 32, 32)] * 2
    assert [tuple(v.shape) for v in out["dino_global"]] == [(3, 32, 32)] * 4
    assert [tuple(v.shape) for v in out["dino_local"]] == [(3, 16, 16)] * 4
    dino_only = MidwayTransform.small(with_motion=False)(frame_t, frame_u)
    assert set(dino_only) == {"dino_global", "dino_local"}


def test_tensor_and_array_inputs_equal_pil() -> None:
    frame = _noise(50, 60, 9)
    transform = MidwayMotionTransform(crop_size=20, gaussian_blur=(0.0, 0.0), **NO_COLOR)
    params = transform.sample_params(50, 60)
    ref = transform.apply(frame, frame, params)
    as_array = transform.apply(np.asarray(frame), np.asarray(frame), params)
    as_tensor = transform.apply(TF.pil_to_tensor(frame), TF.pil_to_tensor(frame), params)
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(ref, as_array, as_tensor))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: MidwayMotionTransform(crop_scale=(0.5, 0.2)), "crop_scale"),
        (lambda: MidwayMotionTransform(crop_size=0), "crop_size"),
        (lambda: MidwayDINOTransform(initial_crop_scale=(0.0, 0.2)), "initial_crop_scale"),
        (lambda: MidwayDINOTransform(n_local_views=-1), "n_local_views"),
        (lambda: MidwayDINOTransform(hf_prob=1.5), "hf_prob"),
        (lambda: MidwayTransform(with_motion=False, with_dino=False), "at least one"),
    ],
)
def test_bad_arguments(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_mismatched_frames_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        MidwayMotionTransform(crop_size=8)(_noise(20, 30, 0), _noise(20, 32, 0))
    with pytest.raises(TypeError, match="PIL image"):
        MidwayMotionTransform(crop_size=8)("frame.png", "frame.png")


def test_sample_box_is_inside_the_image() -> None:
    torch.manual_seed(8)
    for _ in range(50):
        top, left, h, w = sample_box(13, 17, (0.05, 0.2), (3 / 4, 4 / 3))
        assert 0 <= top and top + h <= 13 and 0 <= left and left + w <= 17 and h >= 1 and w >= 1
