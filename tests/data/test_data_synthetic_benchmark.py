"""The generated video as a benchmark: split by video, flow statistics, and the index the mmseg/mmflow datasets read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from midway_plugin.cli import main as cli_main
from midway_plugin.data.synthetic import generate_video, write_synthetic_dataset
from midway_plugin.data.synthetic.flow_stats import FlowStatistics
from midway_plugin.data.synthetic.index import SyntheticIndexError, flow_samples, segmentation_samples


def test_flow_statistics_match_numpy() -> None:
    rng = np.random.default_rng(0)
    stats, mags = FlowStatistics(), []
    for _ in range(3):
        flow = rng.normal(0, 3, (20, 30, 2)).astype(np.float32)
        stats.add(flow)
        mags.append(np.hypot(flow[..., 0], flow[..., 1]).ravel())
    mag = np.concatenate(mags)
    s = stats.summary()
    assert s["pixels"] == mag.size
    assert s["mean"] == pytest.approx(mag.mean(), abs=1e-3) and s["max"] == pytest.approx(mag.max(), abs=1e-3)
    assert s["median"] == pytest.approx(np.median(mag), abs=0.011)
    assert s["p95"] == pytest.approx(np.percentile(mag, 95), abs=0.011)
    assert s["moving_fraction"] == pytest.approx((mag >= 0.5).mean(), abs=1e-4)
    assert FlowStatistics().summary() == {}


def test_occlusion_statistics_of_a_generated_video() -> None:
    video = generate_video(6, (48, 64), num_objects=4, seed=1)
    stats = FlowStatistics()
    for t in range(5):
        stats.add(video.flows[t], video.instances[t], video.instances[t + 1])
    s = stats.summary()
    assert s["object_fraction"] == pytest.approx((video.instances[:5] > 0).mean(), abs=1e-4)
    # Objects move over the panning background: some of it is covered, some leaves the frame.
    assert 0 < s["occluded_fraction"] < 0.2 and 0 < s["out_of_view_fraction"] < 0.2


def test_make_video_splits_by_video_and_reports_flow_stats(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    argv = [
        "make-video",
        "--out",
        str(out),
        "--num-videos",
        "3",
        "--val-videos",
        "1",
        "--frames",
        "5",
        "--size",
        "32x40",
        "--objects",
        "4",
        "--object-speed",
        "1,3",
        "--camera-speed",
        "0.5,1",
    ]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "train: |flow| mean" in printed and "val  : |flow| mean" in printed and "occluded" in printed
    index = json.loads((out / "dataset.json").read_text())
    assert index["splits"] == {"train": ["synth_0000", "synth_0001"], "val": ["synth_0002"]}
    assert sorted(p.name for p in (out / "videos").glob("*.mp4")) == ["synth_0000.mp4", "synth_0001.mp4"]
    assert [p.name for p in (out / "videos_val").glob("*.mp4")] == ["synth_0002.mp4"]
    assert index["object_speed"] == [1.0, 3.0] and index["camera_speed"] == [0.5, 1.0]
    assert all((out / e["frame_dir"] / "000004.png").is_file() for e in index["videos"])  # frames by default
    # The recorded statistics are those of the written ground truth.
    for split, names in index["splits"].items():
        mags = [
            np.hypot(
                *np.moveaxis(
                    generate_video(
                        5, (32, 40), 4, seed=index["seed"] + int(n[-4:]), camera_speed=(0.5, 1), object_speed=(1, 3)
                    ).flows,
                    -1,
                    0,
                )
            )
            for n in names
        ]
        mag = np.concatenate([m.ravel() for m in mags])
        s = index["flow_stats"][split]
        assert s["mean"] == pytest.approx(mag.mean(), abs=1e-3)
        assert s["median"] == pytest.approx(np.median(mag), abs=0.011)
        assert s["p95"] == pytest.approx(np.percentile(mag, 95), abs=0.011)
        assert s["max"] == pytest.approx(mag.max(), abs=1e-3)

    # Regenerating with another split moves the video: pretraining on OUT/videos never sees a val video.
    assert cli_main([*argv[:6], "0", *argv[7:]]) == 0
    assert not list((out / "videos_val").glob("*.mp4")) and len(list((out / "videos").glob("*.mp4"))) == 3


def test_default_split_holds_out_a_quarter(tmp_path: Path) -> None:
    index = write_synthetic_dataset(tmp_path, num_videos=4, num_frames=2, size=(32, 40), save_frames=False)
    assert index["splits"] == {"train": ["synth_0000", "synth_0001", "synth_0002"], "val": ["synth_0003"]}
    one = write_synthetic_dataset(tmp_path / "one", num_videos=1, num_frames=2, size=(32, 40))
    assert one["splits"] == {"train": ["synth_0000"], "val": []} and one["flow_stats"]["val"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-videos", "2", "--val-videos", "2"], "--val-videos must be in [0, --num-videos - 1] = [0, 1]"),
        (["--val-videos", "-1"], "--val-videos"),
    ],
)
def test_make_video_rejects_bad_splits(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert cli_main(["make-video", "--out", str(tmp_path / "o"), "--frames", "3", *args]) == 2
    assert message in capsys.readouterr().err


def test_make_video_rejects_a_bad_speed_range(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        cli_main(["make-video", "--out", str(tmp_path), "--object-speed", "3,1"])
    assert "MIN <= MAX" in capsys.readouterr().err


@pytest.fixture(scope="module")
def bench_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    write_synthetic_dataset(root, num_videos=3, num_frames=5, size=(32, 40), val_videos=1, num_objects=2)
    return root


def test_samples_of_each_split(bench_root: Path) -> None:
    index, train = segmentation_samples(bench_root, "train")
    _, val = segmentation_samples(bench_root, "val", frame_stride=2)
    assert len(train) == 2 * 5 and [s["frame"] for s in val] == [0, 2, 4]
    assert {s["video"] for s in train} == {"synth_0000", "synth_0001"} and {s["video"] for s in val} == {"synth_0002"}
    assert train[6]["img_path"].endswith("frames/synth_0001/000001.png")
    assert train[6]["seg_map_path"].endswith("masks/synth_0001/000001.png")
    _, pairs = flow_samples(bench_root, "val")
    assert len(pairs) == 4
    last = pairs[-1]
    assert last["img1_path"].endswith("000003.png") and last["img2_path"].endswith("000004.png")
    assert last["flow_fw_path"].endswith("flow/synth_0002/000003.flo")


def test_index_errors_name_the_problem(bench_root: Path, tmp_path: Path) -> None:
    with pytest.raises(SyntheticIndexError, match="dataset.json' not found.*make-video"):
        flow_samples(tmp_path, "train")
    with pytest.raises(SyntheticIndexError, match="split must be one of"):
        flow_samples(bench_root, "test")
    with pytest.raises(SyntheticIndexError, match="frame_stride"):
        segmentation_samples(bench_root, "train", frame_stride=0)
    old = json.loads((bench_root / "dataset.json").read_text())
    del old["splits"]
    (tmp_path / "dataset.json").write_text(json.dumps(old))
    with pytest.raises(SyntheticIndexError, match="no 'splits' key.*older"):
        segmentation_samples(tmp_path, "train")
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(SyntheticIndexError, match="cannot read"):
        segmentation_samples(tmp_path, "train")

    no_frames = tmp_path / "no_frames"
    write_synthetic_dataset(no_frames, num_videos=1, num_frames=2, size=(32, 40), save_frames=False)
    with pytest.raises(SyntheticIndexError, match="no frame_dir.*--no-save-frames"):
        segmentation_samples(no_frames, "train")
    with pytest.raises(SyntheticIndexError, match="split 'val' has no videos"):
        flow_samples(no_frames, "val")

    (bench_root / "flow" / "synth_0002" / "000001.flo").rename(tmp_path / "moved.flo")
    try:
        with pytest.raises(SyntheticIndexError, match="synth_0002/000001.flo' is missing"):
            flow_samples(bench_root, "val")
    finally:
        (tmp_path / "moved.flo").rename(bench_root / "flow" / "synth_0002" / "000001.flo")
