"""Synthetic video: determinism, exact flow (warp check, displacement check), .flo I/O, make-video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from midway_plugin.cli import main as cli_main
from midway_plugin.data.synthetic import CLASS_NAMES, check_readable, generate_video, read_flo, write_flo


def _warp_error(
    frame_t: np.ndarray, frame_u: np.ndarray, flow: np.ndarray, inst_t: np.ndarray, inst_u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """|frame_t - bilinear(frame_u at p + flow)| per pixel, and the mask of pixels away from occlusions/borders."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    tx, ty = xs + flow[..., 0], ys + flow[..., 1]
    grid = torch.from_numpy(np.stack([tx / (width - 1) * 2 - 1, ty / (height - 1) * 2 - 1], -1))[None]
    img_u = torch.from_numpy(frame_u).float().permute(2, 0, 1)[None]
    warped = F.grid_sample(img_u, grid, mode="bilinear", align_corners=True)[0].permute(1, 2, 0).numpy()
    error = np.abs(warped - frame_t.astype(np.float32)).mean(-1)

    def uniform(inst: np.ndarray) -> np.ndarray:  # 5x5 neighbourhood lies on one surface
        x = torch.from_numpy(inst).float()[None, None]
        return (F.max_pool2d(x, 5, 1, 2) == -F.max_pool2d(-x, 5, 1, 2))[0, 0].numpy()

    def at_target(values: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(values.astype(np.float32))[None, None]
        return F.grid_sample(x, grid, mode="nearest", align_corners=True)[0, 0].numpy()

    valid = (
        uniform(inst_t)
        & (at_target(uniform(inst_u)) > 0.5)
        & (at_target(inst_u) == inst_t)  # the same surface is visible at the destination
        & (tx >= 1)
        & (tx <= width - 2)
        & (ty >= 1)
        & (ty <= height - 2)
    )
    return error, valid


def test_generation_is_deterministic_and_shaped() -> None:
    a = generate_video(6, (40, 56), num_objects=3, seed=5)
    b = generate_video(6, (40, 56), num_objects=3, seed=5)
    c = generate_video(6, (40, 56), num_objects=3, seed=6)
    assert a.frames.shape == (6, 40, 56, 3) and a.frames.dtype == np.uint8
    assert a.flows.shape == (5, 40, 56, 2) and a.flows.dtype == np.float32
    assert a.masks.shape == (6, 40, 56) and a.masks.max() < len(CLASS_NAMES)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.flows, b.flows) and a.meta == b.meta
    assert not np.array_equal(a.frames, c.frames)
    assert json.loads(json.dumps(a.meta)) == a.meta  # JSON-serialisable
    assert len(a.meta["objects"]) == 3 and len(a.meta["objects"][0]["center"]) == 6


def test_masks_follow_the_object_classes() -> None:
    video = generate_video(4, (64, 64), num_objects=4, seed=2)
    for obj in video.meta["objects"]:
        visible = video.instances == obj["index"] + 1
        if visible.any():
            assert (video.masks[visible] == obj["class_id"]).all()
    assert ((video.instances == 0) == (video.masks == 0)).all()


def test_flow_warps_the_next_frame_onto_the_current_one() -> None:
    video = generate_video(10, (96, 128), num_objects=4, seed=3)
    checked_object_pixels = 0
    for t in range(9):
        args = (video.frames[t], video.frames[t + 1])
        error, valid = _warp_error(*args, video.flows[t], video.instances[t], video.instances[t + 1])
        wrong, _ = _warp_error(*args, np.zeros_like(video.flows[t]), video.instances[t], video.instances[t + 1])
        assert valid.mean() > 0.6
        assert error[valid].mean() < 1.0  # grey levels: only bilinear interpolation and rounding remain
        assert wrong[valid].mean() > 3 * error[valid].mean()  # the check can fail: zero flow is far worse
        on_objects = valid & (video.instances[t] > 0)
        checked_object_pixels += on_objects.sum()
        if on_objects.any():
            assert error[on_objects].mean() < 3.0
    assert checked_object_pixels > 1000


def test_object_flow_equals_its_displacement_without_rotation() -> None:
    video = generate_video(8, (64, 80), num_objects=3, seed=4, rotation=False, scaling=False)
    camera = np.asarray(video.meta["camera"]["offset"])
    for t in range(7):
        background = video.instances[t] == 0
        np.testing.assert_allclose(
            video.flows[t][background], np.broadcast_to(camera[t] - camera[t + 1], (background.sum(), 2)), atol=1e-4
        )
        for obj in video.meta["objects"]:
            visible = video.instances[t] == obj["index"] + 1
            shift = np.subtract(obj["center"][t + 1], obj["center"][t])
            np.testing.assert_allclose(video.flows[t][visible], np.broadcast_to(shift, (visible.sum(), 2)), atol=1e-4)


def test_flo_round_trip_and_errors(tmp_path: Path) -> None:
    flow = np.random.default_rng(0).normal(size=(7, 9, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    assert (tmp_path / "a.flo").stat().st_size == 12 + 7 * 9 * 2 * 4
    np.testing.assert_array_equal(read_flo(tmp_path / "a.flo"), flow)
    (tmp_path / "bad.flo").write_bytes(b"not a flow file")
    with pytest.raises(ValueError, match="bad.flo"):
        read_flo(tmp_path / "bad.flo")
    (tmp_path / "cut.flo").write_bytes((tmp_path / "a.flo").read_bytes()[:-4])
    with pytest.raises(ValueError, match="cut.flo.*7x9|9x7"):
        read_flo(tmp_path / "cut.flo")
    with pytest.raises(ValueError, match="shape"):
        write_flo(tmp_path / "x.flo", flow[..., 0])


def test_make_video_writes_readable_mp4_flo_png(tmp_path: Path, capsys) -> None:
    import decord

    out = tmp_path / "synthetic"
    argv = [
        "make-video",
        "--out",
        str(out),
        "--num-videos",
        "2",
        "--frames",
        "12",
        "--size",
        "48x64",
        "--fps",
        "15",
        "--seed",
        "7",
        "--objects",
        "2",
        "--save-frames",
    ]
    assert cli_main(argv) == 0
    assert "wrote 2 video(s)" in capsys.readouterr().out
    index = json.loads((out / "dataset.json").read_text())
    assert index["classes"] == list(CLASS_NAMES) and index["fps"] == 15.0 and len(index["videos"]) == 2
    for i, entry in enumerate(index["videos"]):
        expected = generate_video(12, (48, 64), num_objects=2, seed=7 + i, fps=15.0)
        reader = decord.VideoReader(str(out / entry["video"]))
        assert len(reader) == 12 and reader.get_avg_fps() == pytest.approx(15.0)
        decoded = reader.get_batch(list(range(12))).asnumpy()
        assert decoded.shape == (12, 48, 64, 3)
        assert np.abs(decoded.astype(float) - expected.frames).mean() < 1.0  # lossless yuv444p: YUV rounding only
        flows = sorted((out / entry["flow_dir"]).glob("*.flo"))
        masks = sorted((out / entry["mask_dir"]).glob("*.png"))
        frames = sorted((out / entry["frame_dir"]).glob("*.png"))
        assert [p.name for p in flows] == [f"{k:06d}.flo" for k in range(11)]
        assert len(masks) == len(frames) == 12
        np.testing.assert_array_equal(read_flo(flows[3]), expected.flows[3])
        np.testing.assert_array_equal(np.asarray(Image.open(masks[5])), expected.masks[5])
        np.testing.assert_array_equal(np.asarray(Image.open(frames[5])), expected.frames[5])
        meta = json.loads((out / entry["meta"]).read_text())
        assert meta == expected.meta


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "33x64", "--pix-fmt", "yuv420p"], "even"),
        (["--frames", "1"], "--frames"),
        (["--num-videos", "0"], "--num-videos"),
    ],
)
def test_make_video_bad_options(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert cli_main(["make-video", "--out", str(tmp_path / "o"), "--frames", "4", *args]) == 2
    assert message in capsys.readouterr().err


def test_make_video_yuv420p_is_lossy_but_readable(tmp_path: Path) -> None:
    import decord

    argv = [
        "make-video",
        "--out",
        str(tmp_path),
        "--frames",
        "6",
        "--size",
        "48x64",
        "--pix-fmt",
        "yuv420p",
        "--crf",
        "12",
    ]
    assert cli_main(argv) == 0
    decoded = decord.VideoReader(str(tmp_path / "videos" / "synth_0000.mp4")).get_batch(list(range(6))).asnumpy()
    error = np.abs(decoded.astype(float) - generate_video(6, (48, 64), num_objects=3, seed=0).frames).mean()
    assert 1.0 < error < 15.0


def test_make_video_rejects_a_malformed_size(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["make-video", "--out", str(tmp_path), "--size", "128"])
    assert info.value.code == 2


def test_read_back_check_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="x.mp4"):
        check_readable(tmp_path / "x.mp4", 4, (32, 32))


def test_background_only_video_pans_uniformly() -> None:
    video = generate_video(5, (24, 40), num_objects=0, seed=9)
    camera = np.asarray(video.meta["camera"]["offset"])
    assert not video.masks.any() and not video.instances.any()
    for t in range(4):
        np.testing.assert_allclose(video.flows[t], np.broadcast_to(camera[t] - camera[t + 1], (24, 40, 2)), atol=1e-5)
    assert np.abs(np.diff(video.frames.astype(int), axis=0)).mean() > 1  # the background does move
