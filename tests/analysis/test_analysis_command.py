"""``midway analyze perturb|track`` end to end on generated videos, and its user errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from midway_plugin.cli import main
from midway_plugin.models import save_export

SHIFT = (1, 2)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, hand_model, helpers):
    """A hand-built export (its predictor moves tokens by SHIFT) and a 5-frame clip moving by SHIFT per frame."""
    root = tmp_path_factory.mktemp("analyze")
    weights = save_export(hand_model(SHIFT, gating=True, dtype=torch.float32), root / "shift.safetensors")
    clip = helpers["rolled_clip"](helpers["random_frame"](7), SHIFT, 5)
    video = helpers["write_video"](root / "clip.mp4", clip)
    short = helpers["write_video"](root / "one_frame.mp4", clip[:1])
    return {"root": root, "weights": weights, "video": video, "short": short, "clip": clip}


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["analyze", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_perturb_writes_pictures_and_heatmaps(setup, capsys, tmp_path):
    out = tmp_path / "perturb"
    code, text = _run(
        capsys,
        "perturb",
        "--weights",
        setup["weights"],
        "--video",
        setup["video"],
        "--frame-index",
        1,
        "--gap",
        1,
        "--points",
        "4,4",
        "20,12",
        "--repeats",
        4,
        "--out",
        out,
    )
    assert code == 0, text
    for name in ("source.png", "point0.png", "point1.png", "grid.png", "peaks.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    heat, gains = np.load(out / "heatmaps.npy"), np.load(out / "gains.npy")
    assert heat.shape == gains.shape == (2, 4, 4) and heat.dtype == np.float32
    summary = json.loads((out / "summary.json").read_text())
    assert summary["level"] == 3 and summary["repeats"] == 4 and summary["frame_indices"] == [1, 2]
    # Point (4,4) is token (0,0), point (20,12) token (1,2): the predictor carries them SHIFT tokens on.
    assert [p["token"] for p in summary["points"]] == [[0, 0], [1, 2]]
    assert [p["peak_token"] for p in summary["points"]] == [[1, 2], [2, 0]]
    with Image.open(out / "grid.png") as grid:
        assert grid.width > 2 * 224 and grid.height > 2 * 224  # two rows of upscaled source | target panels


def test_perturb_from_two_images_with_default_points(setup, capsys, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(setup["clip"][0]).save(a)
    Image.fromarray(setup["clip"][1]).save(b)
    out = tmp_path / "pair"
    code, text = _run(capsys, "perturb", "--weights", setup["weights"], "--frames", a, b, "--repeats", 2, "--out", out)
    assert code == 0, text
    assert np.load(out / "heatmaps.npy").shape == (9, 4, 4)  # default: a 3x3 grid of points
    assert len(list(out.glob("point*.png"))) == 9


def test_perturb_every_token(setup, capsys, tmp_path, helpers):
    out = tmp_path / "all"
    code, text = _run(
        capsys,
        "perturb",
        "--weights",
        setup["weights"],
        "--video",
        setup["video"],
        "--gap",
        1,
        "--points",
        "all",
        "--repeats",
        2,
        "--chunk-size",
        7,
        "--out",
        out,
    )
    assert code == 0, text
    assert np.load(out / "heatmaps.npy").shape == (16, 4, 4)
    assert (out / "peaks.png").is_file() and (out / "source.png").is_file() and not (out / "point0.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    peaks = [r * 4 + c for r, c in (p["peak_token"] for p in summary["points"])]
    assert peaks == [helpers["shifted_index"](j, SHIFT) for j in range(16)]


def test_track_writes_coordinates_strip_and_gif(setup, capsys, tmp_path):
    out = tmp_path / "track"
    code, text = _run(
        capsys,
        "track",
        "--weights",
        setup["weights"],
        "--video",
        setup["video"],
        "--start",
        "12,4",
        "--frames",
        5,
        "--gap",
        1,
        "--repeats",
        2,
        "--baseline",
        "--out",
        out,
    )
    assert code == 0, text
    rows = list(csv.DictReader((out / "track.csv").open()))
    pert = [(int(r["row"]), int(r["col"])) for r in rows if r["method"] == "perturbation"]
    assert pert == [((0 + t) % 4, (1 + 2 * t) % 4) for t in range(5)]
    assert sum(r["method"] == "feature-similarity" for r in rows) == 5
    payload = json.loads((out / "track.json").read_text())
    assert payload["start"] == [12.0, 4.0] and len(payload["tracks"]) == 2
    with Image.open(out / "track.gif") as gif:
        assert gif.n_frames == 5
    assert (out / "track_strip.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--points", "40,3"], "40,3 lies outside the 32x32"),
        (["--points", "3;4"], "'3;4' is not 'x,y'"),
        (["--level", "4"], "level 4 has no forward predictor"),
        (["--img-size", "30"], "not divisible by the patch size 8"),
        (["--gap", "9"], "has 5 frames"),
    ],
)
def test_perturb_user_errors(setup, capsys, tmp_path, argv, needle):
    code, text = _run(
        capsys,
        "perturb",
        "--weights",
        setup["weights"],
        "--video",
        setup["video"],
        "--gap",
        1,
        "--out",
        tmp_path / "x",
        *argv,
    )
    assert code == 2 and needle in text and "Traceback" not in text
    if needle == "has 5 frames":
        assert str(setup["video"]) in text


def test_short_missing_and_bad_files(setup, capsys, tmp_path):
    code, text = _run(
        capsys, "perturb", "--weights", setup["weights"], "--video", setup["short"], "--gap", 1, "--out", tmp_path / "x"
    )
    assert code == 2 and str(setup["short"]) in text and "1 frame(s)" in text
    code, text = _run(
        capsys,
        "track",
        "--weights",
        setup["weights"],
        "--video",
        setup["short"],
        "--start",
        "1,1",
        "--out",
        tmp_path / "y",
    )
    assert code == 2 and str(setup["short"]) in text
    code, text = _run(
        capsys,
        "perturb",
        "--weights",
        tmp_path / "none.safetensors",
        "--video",
        setup["video"],
        "--out",
        tmp_path / "z",
    )
    assert code == 2 and "none.safetensors" in text
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video")
    code, text = _run(capsys, "perturb", "--weights", setup["weights"], "--video", bogus, "--out", tmp_path / "w")
    assert code == 2 and "bogus.mp4" in text and "Traceback" not in text
    code, text = _run(
        capsys,
        "track",
        "--weights",
        setup["weights"],
        "--video",
        setup["video"],
        "--start",
        "1,99",
        "--gap",
        1,
        "--frames",
        3,
        "--out",
        tmp_path / "v",
    )
    assert code == 2 and "1,99 lies outside the 32x32" in text
