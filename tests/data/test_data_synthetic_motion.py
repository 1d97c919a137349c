"""Controllable motion of the generated videos: pan-only sets, the flow's frame gap, texture scale, CLI checks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from midway_plugin.cli import main as cli_main
from midway_plugin.data.motion_tokens import SubTokenMotionWarning
from midway_plugin.data.synthetic.render import generate_video


def _bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``field (H, W, C)`` sampled at real positions (inside the frame)."""
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x1, y1 = x0 + 1, y0 + 1
    return (
        (1 - fx) * (1 - fy) * field[y0, x0]
        + fx * (1 - fy) * field[y0, x1]
        + (1 - fx) * fy * field[y1, x0]
        + fx * fy * field[y1, x1]
    )


def test_pan_only_flow_is_the_pan_everywhere() -> None:
    for gap in (1, 3):
        video = generate_video(6, (24, 40), num_objects=0, seed=4, camera_wobble=0, frame_gap=gap)
        velocity = np.asarray(video.meta["camera"]["velocity"])
        assert video.flows.shape == (6 - gap, 24, 40, 2) and not video.masks.any()
        assert video.meta["camera"]["wobble_amplitude"] == 0 and video.meta["frame_gap"] == gap
        # one vector for every pixel of every frame: -velocity x gap (the camera offset grows by velocity)
        assert (video.flows == video.flows[0, 0, 0]).all()
        np.testing.assert_allclose(video.flows[0, 0, 0], -gap * velocity, atol=1e-6)
        assert np.hypot(*velocity) > 0.4


def test_frame_gap_flow_is_the_composed_motion() -> None:
    one = generate_video(8, (48, 48), num_objects=3, seed=6, frame_gap=1)
    two = generate_video(8, (48, 48), num_objects=3, seed=6, frame_gap=2)
    np.testing.assert_array_equal(one.frames, two.frames)  # the gap changes the ground truth only
    assert two.flows.shape[0] == 6 and two.meta["flow"].startswith("forward, frame t -> t + 2")
    height, width = one.frames.shape[1:3]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    checked = 0
    for t in range(6):
        step = one.flows[t].astype(np.float64)
        tx, ty = xs + step[..., 0], ys + step[..., 1]
        inside = (tx >= 0) & (tx <= width - 2) & (ty >= 0) & (ty <= height - 2)
        x0, y0 = np.floor(tx.clip(0, width - 2)).astype(int), np.floor(ty.clip(0, height - 2)).astype(int)
        # composition is exact where the 4 neighbours of the moved point show the same surface (affine flow)
        same = inside.copy()
        for dy in (0, 1):
            for dx in (0, 1):
                same &= one.instances[t + 1][y0 + dy, x0 + dx] == one.instances[t]
        composed = step + _bilinear(one.flows[t + 1].astype(np.float64), tx.clip(0, width - 2), ty.clip(0, height - 2))
        np.testing.assert_allclose(two.flows[t][same], composed[same], atol=1e-3)
        checked += int(same.sum())
    assert checked > 0.5 * 6 * height * width
    # a constant pan moves exactly twice as far in two frames
    pan = generate_video(5, (16, 24), num_objects=0, seed=1, camera_wobble=0, frame_gap=2)
    single = generate_video(5, (16, 24), num_objects=0, seed=1, camera_wobble=0, frame_gap=1)
    np.testing.assert_allclose(pan.flows, 2 * single.flows[:3], atol=1e-5)


def test_texture_wavelength_and_wobble_keep_the_layout() -> None:
    base = generate_video(4, (48, 48), num_objects=3, seed=8)
    long = generate_video(4, (48, 48), num_objects=3, seed=8, texture_wavelength=(20, 30), camera_wobble=0)
    for a, b in zip(base.meta["objects"], long.meta["objects"]):
        assert a["center"] == b["center"] and a["class_id"] == b["class_id"]
        assert 20 <= b["wavelength"] <= 30
    assert long.meta["camera"]["velocity"] == base.meta["camera"]["velocity"]

    # fewer intensity changes between neighbouring pixels with longer waves
    def roughness(video) -> float:
        return float(np.abs(np.diff(video.frames[0].astype(int), axis=1)).mean())

    assert roughness(long) < roughness(base)
    with pytest.raises(ValueError, match="texture_wavelength"):
        generate_video(4, (16, 16), texture_wavelength=(1, 4))
    with pytest.raises(ValueError, match="frame_gap"):
        generate_video(4, (16, 16), frame_gap=4)
    with pytest.raises(ValueError, match="camera_wobble"):
        generate_video(4, (16, 16), camera_wobble=-1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frame-gap", "0"], "--frame-gap must be in [1, --frames - 1] = [1, 3], got 0"),
        (["--frame-gap", "4"], "--frame-gap must be in [1, --frames - 1] = [1, 3], got 4"),
        (["--camera-wobble", "-1"], "--camera-wobble must be a finite number >= 0 (pixels), got -1.0"),
        (["--texture-wavelength", "1,8"], "--texture-wavelength MIN must be >= 2 pixels"),
        (["--pan-only", "--objects", "2"], "--pan-only renders no objects: drop --objects 2"),
        (["--pan-only", "--camera-wobble", "2"], "--pan-only is a pure pan: drop --camera-wobble 2.0"),
        (["--stats-patch-size", "0"], "--stats-patch-size must be >= 1, got 0"),
        (["--stats-crop-scale", "0,0.5"], "--stats-crop-scale must lie in (0, 1], got (0.0, 0.5)"),
        (["--stats-crop-scale", "0.5,2"], "--stats-crop-scale must lie in (0, 1]"),
        (["--object-speed", "3,1"], "argument --object-speed: expected MIN <= MAX, got '3,1'"),
        (["--camera-speed=-1,2"], "argument --camera-speed: expected MIN,MAX"),
        (["--stats-delta-t", "1.5,3"], "argument --stats-delta-t: expected whole numbers MIN,MAX"),
    ],
)
def test_make_video_motion_options_are_checked(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    argv = ["make-video", "--out", str(tmp_path / "o"), "--frames", "4", *args]
    try:
        code = cli_main(argv)
    except SystemExit as exit_:  # argparse rejects a malformed value itself
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_make_video_pan_only_with_a_frame_gap(tmp_path: Path, capsys) -> None:
    from midway_plugin.data.synthetic import flow_samples, read_flo

    out = tmp_path / "pan"
    argv = [
        "make-video",
        "--out",
        str(out),
        "--num-videos",
        "2",
        "--frames",
        "6",
        "--size",
        "32x32",
        "--pan-only",
        "--camera-speed",
        "8,8",
        "--frame-gap",
        "2",
        "--no-save-frames",
        "--val-videos",
        "1",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SubTokenMotionWarning)  # 16 px per flow pair: several tokens
        assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "frame N -> N+2" in printed and "tokens pretraining pairs, train" in printed
    index = json.loads((out / "dataset.json").read_text())
    assert index["frame_gap"] == 2 and index["num_objects"] == 0 and index["camera_wobble"] == 0
    assert index["flow_format"].endswith("NNNNNN -> NNNNNN + 2")
    for entry in index["videos"]:
        meta = json.loads((out / entry["meta"]).read_text())
        velocity = np.asarray(meta["camera"]["velocity"], dtype=np.float32)
        flows = sorted((out / entry["flow_dir"]).glob("*.flo"))
        assert [p.name for p in flows] == [f"{k:06d}.flo" for k in range(4)]
        for path in flows:
            np.testing.assert_allclose(read_flo(path), np.broadcast_to(-2 * velocity, (32, 32, 2)), atol=1e-5)
    train = index["flow_stats"]["train"]
    assert train["median"] == pytest.approx(16, abs=0.01) and len(train["percentiles"]) == 101
    tokens = index["motion_tokens"]
    per_px = 32 / np.sqrt(0.45 * 32 * 32) / 8  # the defaults: 32 px input, patch 8, crop scale 0.3-0.6
    assert tokens["flow_pairs"]["train"]["median"] == pytest.approx(16 * per_px, rel=1e-2)
    assert tokens["pretrain_pairs"]["train"]["median"] == pytest.approx(8 * 4 * per_px, rel=1e-2)  # dt 2-6
    assert tokens["pretrain_pairs"]["train"]["fraction_ge_1"] == 1.0
    (out / "frames").mkdir()  # flow pairs are frames frame_gap apart (the index's frame_gap)
    for entry in index["videos"]:
        (out / entry["name"]).mkdir()
        entry["frame_dir"] = entry["name"]
        for k in range(6):
            (out / entry["name"] / f"{k:06d}.png").write_bytes(b"")
    (out / "dataset.json").write_text(json.dumps(index))
    _, samples = flow_samples(out, "train")
    assert [(Path(s["img1_path"]).stem, Path(s["img2_path"]).stem, Path(s["flow_fw_path"]).stem) for s in samples] == [
        (f"{t:06d}", f"{t + 2:06d}", f"{t:06d}") for t in range(4)
    ]


def test_make_video_warns_when_motion_is_below_a_token(tmp_path: Path, capsys) -> None:
    argv = [
        "make-video",
        "--out",
        str(tmp_path),
        "--frames",
        "4",
        "--size",
        "32x32",
        "--no-save-frames",
        "--object-speed",
        "0.2,0.3",
        "--camera-speed",
        "0.2,0.3",
        "--camera-wobble",
        "0",
    ]
    with pytest.warns(SubTokenMotionWarning, match=r"pretraining pairs.*median 0\.\d\d token.*--object-speed"):
        assert cli_main(argv) == 0
    assert "tokens flow pairs" in capsys.readouterr().out
