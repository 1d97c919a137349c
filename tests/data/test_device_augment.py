"""The accelerator path renders the same distributions of views as today's CPU (PIL) transforms.

Everything runs on CPU tensors with fixed seeds. Distributions are compared with two-sample Kolmogorov-Smirnov
statistics and rate differences; the thresholds are about 3.5 standard errors for the sample sizes used, and a
negative control checks that the comparison does detect a changed probability.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from lightly.transforms.gaussian_blur import GaussianBlur
from PIL import Image
from scipy.stats import ks_2samp
from torch.utils.data import DataLoader

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.views import MidwayDINOTransform, MidwayMotionTransform, MidwayTransform, flatten_pairs
from midway_plugin.data.views.color_view import color_view
from midway_plugin.data.views.device_augment import DeviceAugment, PairGeometryTransform, collate_decoded
from midway_plugin.data.views.tensor_augment import ColorSpec, gaussian_blur, photometric

KS_MAX = 0.12  # n = m = 600: the 0.1 % critical value is 0.113
RATE_TOL = 0.07

PHOTOMETRIC_OFF = dict(cj_prob=0.0, random_gray_scale=0.0, solarization_prob=0.0, normalize=None)


def _transform(photometric_on: bool) -> MidwayTransform:
    """Paper geometry with small outputs (32 px motion/global, 4 x 16 px locals) so the CPU path runs quickly."""
    off = {} if photometric_on else PHOTOMETRIC_OFF
    motion = MidwayMotionTransform(crop_size=32, **({} if photometric_on else {**off, "gaussian_blur": (0.0, 0.0)}))
    dino = MidwayDINOTransform(
        global_crop_size=32, local_crop_size=16, n_local_views=4,
        **({} if photometric_on else {**off, "gaussian_blur": (0.0, 0.0, 0.0)}),
    )  # fmt: skip
    return MidwayTransform(motion, dino)


def _coordinate_frame(height: int = 180, width: int = 320) -> np.ndarray:
    """R encodes x, G encodes y (linear ramps), B constant: a crop's corners reveal its box."""
    x = (np.arange(width) + 0.5) / width
    y = (np.arange(height) + 0.5) / height
    frame = np.zeros((height, width, 3))
    frame[..., 0] = x[None, :]
    frame[..., 1] = y[:, None]
    frame[..., 2] = 0.5
    return np.round(frame * 255).astype(np.uint8)


def _boxes_from_crops(crops: torch.Tensor, height: int, width: int) -> dict[str, np.ndarray]:
    """Box area (fraction of the frame), log aspect and flip of crops of the coordinate frame, from their pixels."""
    size = crops.shape[-1]
    index = torch.arange(size, dtype=crops.dtype) - (size - 1) / 2

    def slope(profile: torch.Tensor) -> torch.Tensor:  # least-squares ramp slope per crop, robust to rounding
        return (profile * index).sum(1) / (index**2).sum()

    x_slope, y_slope = slope(crops[:, 0].mean(1)), slope(crops[:, 1].mean(2))
    box_w = x_slope.abs() * width * size  # each output pixel steps box_w / size frame pixels
    box_h = y_slope.abs() * height * size
    return {
        "area": (box_w * box_h / (height * width)).numpy(),
        "log_aspect": torch.log(box_w / box_h).numpy(),
        "flip": (x_slope < 0).numpy(),
    }


def _render_both(transform: MidwayTransform, frame: np.ndarray, pairs: int, seed: int = 0):
    """The CPU transform's views and the accelerator path's views of ``pairs`` copies of one pair."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    image = Image.fromarray(frame)
    cpu = [transform(image, image) for _ in range(pairs)]
    cpu_views = {key: [torch.stack([c[key][v] for c in cpu]) for v in range(len(cpu[0][key]))] for key in cpu[0]}
    torch.manual_seed(seed + 1)
    augment = DeviceAugment(transform)
    worker = augment.worker_transform()
    batch = collate_decoded([{"views": worker(frame, frame)} for _ in range(pairs)])
    return cpu_views, augment(batch["views"])


@pytest.fixture(scope="module")
def geometry_views():
    frame = _coordinate_frame()
    return _render_both(_transform(photometric_on=False), frame, pairs=600)


def _ks_max(n: int) -> float:
    """KS threshold for two samples of n: a little above the 0.1 % critical value 1.95 * sqrt(2 / n)."""
    return 2.1 * (2 / n) ** 0.5


# Independent crops pooled per kind: motion (view 0: both views share the box), globals g1_t and g2_t, all locals.
POOLS = {"motion": [0], "dino_global": [0, 1], "dino_local": list(range(8))}


@pytest.mark.parametrize("key", list(POOLS))
def test_crop_scale_aspect_and_flip_match_the_cpu_transforms(geometry_views, key: str) -> None:
    cpu_views, device_views = geometry_views
    cpu = _boxes_from_crops(torch.cat([cpu_views[key][v] for v in POOLS[key]]), 180, 320)
    dev = _boxes_from_crops(torch.cat([device_views[key][v] for v in POOLS[key]]), 180, 320)
    n = len(cpu["area"])
    for stat in ("area", "log_aspect"):
        result = ks_2samp(cpu[stat], dev[stat])
        assert result.statistic < _ks_max(n), f"{key} {stat}: KS {result.statistic:.3f} over {n} crops"
    expected_flip = 0.0 if key == "motion" else 0.5
    for rate in (cpu["flip"].mean(), dev["flip"].mean()):
        assert abs(rate - expected_flip) < 4 * (0.25 / n) ** 0.5 + 1e-9, f"{key} flip rate {rate:.3f}"
    if key == "motion":  # the paper's motion-crop area range, as measured on the rendered pixels
        assert 0.18 < dev["area"].min() and dev["area"].max() < 0.42


def test_both_frames_share_motion_box_and_global_box_and_flip(geometry_views) -> None:
    _, views = geometry_views
    for first, second in (
        (views["motion"][0], views["motion"][1]),
        (views["dino_global"][0], views["dino_global"][2]),
        (views["dino_global"][1], views["dino_global"][3]),
    ):
        torch.testing.assert_close(first, second)
    # Local crops are drawn per frame: they differ.
    assert (views["dino_local"][0] - views["dino_local"][4]).abs().mean() > 0.01


def _colour_image() -> Image.Image:
    """32 x 32: an orange and a blue half with a sharp edge (colour, contrast and blur are all visible)."""
    array = np.zeros((32, 32, 3), dtype=np.uint8)
    array[:, :16] = (200, 120, 60)
    array[:, 16:] = (40, 90, 170)
    return Image.fromarray(array)


def _photometric_stats(x: torch.Tensor) -> dict[str, np.ndarray]:
    return {
        "mean_r": x[:, 0].mean((1, 2)).numpy(),
        "mean_g": x[:, 1].mean((1, 2)).numpy(),
        "mean_b": x[:, 2].mean((1, 2)).numpy(),
        "spread": (x.amax(1) - x.amin(1)).mean((1, 2)).numpy(),  # 0 for grayscale
        "edge": (x[..., 1:] - x[..., :-1]).abs().amax(-1).mean(1).mean(1).numpy(),  # sharpness
    }


SETTINGS = {
    "augmentation 1 (blur 1.0)": dict(gaussian_blur=1.0, solarization_prob=0.0),
    "augmentation 2 (blur 0.1, solarise 0.2)": dict(gaussian_blur=0.1, solarization_prob=0.2),
    "local (blur 0.5)": dict(gaussian_blur=0.5, solarization_prob=0.0),
}


def _photometric_samples(settings: dict, spec: ColorSpec | None = None, n: int = 600):
    torch.manual_seed(0)
    np.random.seed(0)
    cpu_view = color_view(**settings, normalize=None)
    spec = spec or ColorSpec.from_view(cpu_view)
    image = _colour_image()
    cpu = torch.stack([cpu_view(image) for _ in range(n)])
    batch = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255).expand(n, 3, 32, 32)
    torch.manual_seed(1)
    return _photometric_stats(cpu), _photometric_stats(photometric(batch.contiguous(), spec))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_jitter_grayscale_blur_solarise_match_the_cpu_transforms(name: str) -> None:
    settings = SETTINGS[name]
    cpu, dev = _photometric_samples(settings)
    for stat in cpu:
        result = ks_2samp(cpu[stat], dev[stat])
        assert result.statistic < KS_MAX, f"{name}: {stat} KS {result.statistic:.3f}"
    gray_cpu, gray_dev = (cpu["spread"] < 0.01).mean(), (dev["spread"] < 0.01).mean()
    assert abs(gray_cpu - 0.2) < RATE_TOL and abs(gray_dev - 0.2) < RATE_TOL, (gray_cpu, gray_dev)


def test_the_comparison_detects_a_changed_probability() -> None:
    """Negative control: grayscale at p 0.4 instead of 0.2 must fail the same KS test."""
    settings = SETTINGS["local (blur 0.5)"]
    wrong = dataclasses.replace(ColorSpec.from_view(color_view(**settings, normalize=None)), gray_prob=0.4)
    cpu, dev = _photometric_samples(settings, wrong)
    assert ks_2samp(cpu["spread"], dev["spread"]).statistic > KS_MAX


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_blur_magnitude_matches_pil(sigma: float) -> None:
    """One sigma, both blurs, on a step edge: the profiles agree within a few grey levels."""
    image = _colour_image()
    pil = torch.from_numpy(np.array(GaussianBlur(prob=1.0, sigmas=(sigma, sigma))(image))).permute(2, 0, 1) / 255
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255)[None]
    ours = gaussian_blur(x, 1.0, (sigma, sigma))[0]
    assert (ours - pil).abs().max() < 0.06
    assert (ours - x[0]).abs().max() > 0.05  # it did blur


def test_crops_equal_pil_bicubic_crops_on_a_smooth_frame() -> None:
    """Same box, photometric off: the roi_align crop is within 2 % of PIL's bicubic resized crop."""
    yy, xx = np.mgrid[0:180, 0:320]
    frame = np.stack([127 + 100 * np.sin(xx / 23.0), 127 + 100 * np.cos(yy / 17.0), (xx + yy) % 256 * 0 + 90], -1)
    frame = frame.astype(np.uint8)
    transform = _transform(photometric_on=False)
    torch.manual_seed(3)
    params = transform.motion.sample_params(180, 320)
    cpu = transform.motion.apply(frame, frame, params)[0]
    views = {
        "frames": torch.from_numpy(np.stack([frame, frame]))[None],
        "motion_box": torch.tensor([params.box]).float(),
    }
    motion_only = MidwayTransform(transform.motion, with_dino=False)
    ours = DeviceAugment(motion_only)(views)["motion"][0][0]
    assert (ours - cpu).abs().mean() < 0.02


def test_collate_pads_frames_of_different_sizes() -> None:
    worker = PairGeometryTransform(_transform(photometric_on=False))
    small = np.zeros((60, 80, 3), np.uint8)
    large = np.full((90, 70, 3), 255, np.uint8)
    batch = collate_decoded([{"views": worker(small, small)}, {"views": worker(large, large)}])
    assert batch["views"]["frames"].shape == (2, 2, 90, 80, 3)
    assert batch["views"]["frames"][0, 0, 70:].sum() == 0


def test_bad_inputs_are_named() -> None:
    augment = DeviceAugment(_transform(photometric_on=False))
    with pytest.raises(ValueError, match="frames"):
        augment({"motion_box": torch.zeros(1, 4)})
    frames = torch.zeros(1, 2, 40, 40, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="motion_box"):
        augment({"frames": frames})
    with pytest.raises(TypeError, match="MidwayTransform"):
        DeviceAugment(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ in size"):
        augment.worker_transform()(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


def test_dataset_loader_and_device_augment_give_the_cpu_shapes(video_dir) -> None:
    transform = MidwayTransform.small(n_local_views=2)
    augment = DeviceAugment(transform)
    dataset = VideoPairDataset(video_dir, transform=augment.worker_transform(), repeat=2, delta_t=(2, 4))
    batch = next(iter(DataLoader(dataset, batch_size=2, collate_fn=collate_decoded)))
    views = augment(flatten_pairs(batch["views"]))
    reference = VideoPairDataset(video_dir, transform=transform, repeat=2, delta_t=(2, 4))[0]["views"]
    for key, value in views.items():
        assert len(value) == len(reference[key])
        for ours, theirs in zip(value, reference[key]):
            assert ours.shape[1:] == theirs.shape[1:] and ours.shape[0] == 4
            assert torch.isfinite(ours).all()


def test_each_view_gets_its_own_photometric_settings() -> None:
    """Full transforms on a two-colour frame: per view, colour statistics match the CPU view at the same position
    (solarisation only on g2 and x_tdt, grayscale and jitter everywhere), so the settings are wired to the right
    views. Blur is left out: it is checked above, and crop resampling differs between the paths."""
    frame = np.zeros((180, 320, 3), dtype=np.uint8)
    frame[:, :160] = (200, 120, 60)
    frame[:, 160:] = (230, 200, 170)  # bright: solarisation turns it dark
    transform = MidwayTransform(
        MidwayMotionTransform(crop_size=32, normalize=None),
        MidwayDINOTransform(global_crop_size=32, local_crop_size=16, n_local_views=1, normalize=None),
    )
    pairs = 400
    cpu_views, device_views = _render_both(transform, frame, pairs=pairs, seed=5)
    dark: dict[tuple[str, int], tuple[float, float]] = {}
    for key, views in cpu_views.items():
        for index, cpu in enumerate(views):
            dev = device_views[key][index]
            for channel in range(3):
                result = ks_2samp(cpu[:, channel].mean((1, 2)).numpy(), dev[:, channel].mean((1, 2)).numpy())
                assert result.statistic < _ks_max(pairs), f"{key}[{index}] channel {channel}: KS {result.statistic:.3f}"
            # Mostly solarisation of the bright half (also strong darkening by the jitter).
            dark[(key, index)] = tuple(float((x.mean((1, 2, 3)) < 0.3).float().mean()) for x in (cpu, dev))
            rate_cpu, rate_dev = dark[(key, index)]
            assert abs(rate_cpu - rate_dev) < 0.07, f"{key}[{index}] dark rate {rate_cpu:.2f} vs {rate_dev:.2f}"
    for path in (0, 1):  # solarised views (g2, x_tdt) are dark far more often than their unsolarised twins
        assert dark[("dino_global", 1)][path] > dark[("dino_global", 0)][path] + 0.05
        assert dark[("dino_global", 3)][path] > dark[("dino_global", 2)][path] + 0.05
        assert dark[("motion", 1)][path] > dark[("motion", 0)][path] + 0.05


def test_half_precision_rendering_matches_float32_geometry() -> None:
    transform = _transform(photometric_on=False)
    frame = _coordinate_frame()
    worker = PairGeometryTransform(transform)
    torch.manual_seed(7)
    views = collate_decoded([{"views": worker(frame, frame)} for _ in range(8)])["views"]
    full = DeviceAugment(transform)(views)
    half = DeviceAugment(transform, dtype=torch.float16)(views)
    for key in full:
        for ours, reference in zip(half[key], full[key]):
            assert ours.dtype == torch.float16
            assert (ours.float() - reference).abs().max() < 0.02
    photometric_half = DeviceAugment(_transform(photometric_on=True), dtype=torch.float16)(views)
    assert all(torch.isfinite(v).all() for views_ in photometric_half.values() for v in views_)
