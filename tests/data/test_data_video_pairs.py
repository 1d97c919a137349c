"""VideoPairDataset: Δt ranges, repeat sampling, Walking-Tours mode, bad files, fallbacks."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from midway_plugin.data.video import frame_decoding
from midway_plugin.data.video.pairs import NoUsableVideoError, UnusableVideoWarning, VideoPairDataset
from midway_plugin.data.views import flatten_pairs


class CountingOpener:
    """Wraps ``frame_decoding.open_video``: counts openings and get_batch calls, records requested indices."""

    def __init__(self) -> None:
        self.opens: list[str] = []
        self.batches: list[tuple[str, list[int]]] = []
        self._real = frame_decoding.open_video

    def __call__(self, path, **kwargs):
        reader = self._real(path, **kwargs)
        self.opens.append(str(path))
        outer = self

        class Reader:
            def __len__(self):
                return len(reader)

            def __getitem__(self, i):
                return reader[i]

            def get_avg_fps(self):
                return reader.get_avg_fps()

            def get_batch(self, indices):
                outer.batches.append((str(path), list(indices)))
                return reader.get_batch(indices)

        return Reader()


def _all_pairs(ds: VideoPairDataset, rounds: int) -> np.ndarray:
    pairs = [ds[i]["frame_indices"].numpy() for _ in range(rounds) for i in range(len(ds))]
    return np.concatenate(pairs)


def test_folder_pairs_respect_delta_range_in_frames(video_dir: Path) -> None:
    torch.manual_seed(0)
    ds = VideoPairDataset(video_dir, delta_t=(5, 9), repeat=8)
    assert ds.mode == "folder" and len(ds) == 2
    assert sorted(Path(v.path).name for v in ds.videos) == ["a.mp4", "b.mkv"]  # recursive search
    pairs = _all_pairs(ds, rounds=10)
    gaps = pairs[:, 1] - pairs[:, 0]
    assert pairs.min() >= 0 and pairs.max() <= 39
    assert gaps.min() == 5 and gaps.max() == 9  # the whole inclusive range is reached, nothing outside
    assert set(np.unique(gaps)) == set(range(5, 10))


def test_delta_in_seconds_uses_each_videos_fps(slow_fps_video: Path) -> None:
    torch.manual_seed(0)
    ds = VideoPairDataset(slow_fps_video, delta_t=(0.5, 1.2), delta_unit="seconds", repeat=20, mode="folder")
    assert ds.videos[0].fps == pytest.approx(10.0)
    assert ds.delta_range(0) == (5, 12)  # 0.5 s and 1.2 s at 10 fps
    gaps = np.diff(_all_pairs(ds, rounds=10), axis=1).ravel()
    assert gaps.min() == 5 and gaps.max() == 12


def test_gap_is_clipped_to_the_video_length(tmp_path: Path, write_mp4) -> None:
    write_mp4(tmp_path / "short.mp4", 12)
    torch.manual_seed(0)
    ds = VideoPairDataset(tmp_path, delta_t=(8, 30), repeat=16)
    pairs = _all_pairs(ds, rounds=5)
    assert pairs.max() <= 11 and (pairs[:, 1] - pairs[:, 0]).min() >= 8


def test_repeat_sampling_decodes_each_video_once_per_item(video_dir: Path, monkeypatch) -> None:
    counter = CountingOpener()
    ds = VideoPairDataset(video_dir, delta_t=(3, 6), repeat=5)
    monkeypatch.setattr(frame_decoding, "open_video", counter)
    for i in range(len(ds)):
        before_opens, before_batches = len(counter.opens), len(counter.batches)
        item = ds[i]
        assert len(counter.opens) - before_opens == 1
        assert len(counter.batches) - before_batches == 1
        path, indices = counter.batches[-1]
        assert path == item["path"] == ds.videos[i].path
        assert indices == sorted(set(indices))  # one sorted call without duplicates
        assert set(indices) == set(item["frame_indices"].reshape(-1).tolist())
        assert item["frame_indices"].shape == (5, 2)
        assert item["views"][0].shape == (5, 3, 32, 40) and item["views"][0].dtype == torch.uint8


def test_frames_returned_are_the_decoded_frames(video_dir: Path) -> None:
    import decord

    ds = VideoPairDataset(video_dir / "a.mp4", delta_t=(4, 4), repeat=1, mode="single")
    item = ds[7]
    assert item["frame_indices"].tolist() == [[7, 11]]
    reader = decord.VideoReader(str(video_dir / "a.mp4"))
    expected = reader.get_batch([7, 11]).asnumpy()
    got = torch.stack([v[0] for v in item["views"]]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(got, expected)


def test_walking_tours_mode_yields_every_pair(video_dir: Path) -> None:
    torch.manual_seed(0)
    ds = VideoPairDataset(video_dir / "a.mp4", delta_t=(5, 9), repeat=1)
    assert ds.mode == "single"
    assert len(ds) == 40 - 5  # every start frame leaving room for the smallest gap
    pairs = np.concatenate([ds[i]["frame_indices"].numpy() for i in range(len(ds))])
    assert pairs[:, 0].tolist() == list(range(35))
    gaps = pairs[:, 1] - pairs[:, 0]
    assert pairs[:, 1].max() <= 39 and gaps.min() >= 5 and gaps.max() <= 9
    assert (gaps <= np.minimum(9, 39 - pairs[:, 0])).all()


def test_single_mode_over_a_folder_concatenates_videos(video_dir: Path) -> None:
    ds = VideoPairDataset(video_dir, delta_t=(5, 9), repeat=1, mode="single")
    assert len(ds) == 2 * 35
    assert ds[34]["path"].endswith("a.mp4") and ds[35]["path"].endswith("b.mkv")
    assert ds[35]["frame_indices"][0, 0] == 0


def test_default_collate_and_flatten_pairs(video_dir: Path) -> None:
    def transform(a, b):
        return {"pair": [torch.zeros(3, 8, 8), torch.ones(3, 8, 8)]}

    ds = VideoPairDataset(video_dir, transform=transform, delta_t=(3, 6), repeat=3)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["views"]["pair"][0].shape == (2, 3, 3, 8, 8)
    assert batch["frame_indices"].shape == (2, 3, 2)
    flat = flatten_pairs(batch["views"])
    assert flat["pair"][1].shape == (6, 3, 8, 8) and bool((flat["pair"][1] == 1).all())
    assert flatten_pairs(batch["frame_indices"]).shape == (6, 2)


def test_dataloader_workers_and_pickling(video_dir: Path) -> None:
    ds = VideoPairDataset(video_dir / "a.mp4", delta_t=(5, 9), repeat=1)
    ds[0]  # opens and caches a reader, which must not be pickled
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone) == len(ds) and clone[3]["frame_indices"][0, 0] == 3
    batches = list(DataLoader(ds, batch_size=8, num_workers=2))
    assert sum(b["frame_indices"].shape[0] for b in batches) == len(ds)


def _bad_folder(root: Path, make_video) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mov").write_text("this is not a video\n")
    make_video(root / "short.avi", 6)


def test_bad_files_are_skipped_with_one_warning_each(tmp_path: Path, video_dir: Path, write_mp4) -> None:
    _bad_folder(tmp_path, write_mp4)
    shutil.copy(video_dir / "a.mp4", tmp_path / "good.webm")
    (tmp_path / "notes.txt").write_text("not a video extension: ignored")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoPairDataset(tmp_path, delta_t=(10, 20), repeat=2)
    messages = [str(w.message) for w in caught if issubclass(w.category, UnusableVideoWarning)]
    assert [Path(v.path).name for v in ds.videos] == ["good.webm"]
    expected = {
        "corrupt.mp4": "corrupt",
        "empty.mp4": "empty",
        "text.mov": "not a video",
        "short.avi": "too short (6 frames; at least 11 needed",
    }
    assert len(messages) == len(expected)
    for name, reason in expected.items():
        hits = [m for m in messages if name in m]
        assert len(hits) == 1 and reason in hits[0], (name, messages)
    assert set(Path(p).name for p in ds.skipped) == set(expected)
    assert [Path(p).name for p in ds.ignored] == ["notes.txt"]
    assert ds[0]["path"].endswith("good.webm")


def test_all_bad_folder_raises_a_clear_error(tmp_path: Path, write_mp4) -> None:
    _bad_folder(tmp_path, write_mp4)
    with pytest.warns(UnusableVideoWarning), pytest.raises(NoUsableVideoError) as info:
        VideoPairDataset(tmp_path, delta_t=(10, 20))
    message = str(info.value)
    assert str(tmp_path) in message and "all 4 video files were skipped" in message
    assert "corrupt or not a video: 2" in message and "empty file: 1" in message and "too short: 1" in message


def test_folder_without_videos_raises(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(NoUsableVideoError, match="no file with a video extension"):
        VideoPairDataset(tmp_path)


def test_decode_failure_mid_epoch_falls_back_and_warns_once(tmp_path: Path, video_dir: Path, monkeypatch) -> None:
    shutil.copy(video_dir / "a.mp4", tmp_path / "a.mp4")
    shutil.copy(video_dir / "a.mp4", tmp_path / "b.mp4")
    ds = VideoPairDataset(tmp_path, delta_t=(3, 6), repeat=2)
    real = frame_decoding.open_video

    def flaky(path, **kwargs):
        if Path(path).name == "a.mp4":
            raise RuntimeError("simulated decoder failure")
        return real(path, **kwargs)

    monkeypatch.setattr(frame_decoding, "open_video", flaky)
    with pytest.warns(UnusableVideoWarning, match=r"a\.mp4.*simulated decoder failure.*another item"):
        item = ds[0]
    assert item["path"].endswith("b.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once only
        assert ds[0]["path"].endswith("b.mp4") and ds[1]["path"].endswith("b.mp4")


def test_every_item_failing_raises(tmp_path: Path, video_dir: Path, monkeypatch) -> None:
    ds = VideoPairDataset(video_dir, delta_t=(3, 6), repeat=1)

    def broken(path, **kwargs):
        raise RuntimeError("gone")

    monkeypatch.setattr(frame_decoding, "open_video", broken)
    with pytest.warns(UnusableVideoWarning), pytest.raises(RuntimeError, match="can be decoded any more"):
        ds[0]


def test_index_cache_skips_reopening(tmp_path: Path, video_dir: Path, monkeypatch) -> None:
    cache = tmp_path / "index.json"
    first = VideoPairDataset(video_dir, delta_t=(3, 6), index_cache=cache)
    counter = CountingOpener()
    monkeypatch.setattr(frame_decoding, "open_video", counter)
    second = VideoPairDataset(video_dir, delta_t=(3, 6), index_cache=cache)
    assert counter.opens == [] and second.videos == first.videos


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"delta_t": (0, 5)}, "delta_t"),
        ({"delta_t": (9, 5)}, "delta_t"),
        ({"delta_t": (2.5, 5)}, "whole numbers"),
        ({"delta_unit": "minutes"}, "delta_unit"),
        ({"repeat": 0}, "repeat"),
        ({"mode": "single", "repeat": 5}, "repeat=5"),
        ({"mode": "walk"}, "mode"),
    ],
)
def test_bad_arguments_name_the_value(video_dir: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VideoPairDataset(video_dir, **kwargs)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VideoPairDataset(tmp_path / "nowhere")


def test_decode_short_side_resizes_at_decode(tmp_path: Path, write_mp4) -> None:
    write_mp4(tmp_path / "big.mp4", 20, size=(64, 80))
    ds = VideoPairDataset(tmp_path, delta_t=(3, 6), repeat=1, decode_short_side=32)
    assert (ds.videos[0].height, ds.videos[0].width) == (32, 40)
    assert ds[0]["views"][0].shape == (1, 3, 32, 40)


def test_single_mode_skips_past_a_failing_region(video_dir: Path, monkeypatch) -> None:
    ds = VideoPairDataset(video_dir / "a.mp4", delta_t=(5, 9), repeat=1)
    real = frame_decoding.open_video

    def damaged(path, **kwargs):  # frames 10..19 cannot be decoded
        reader = real(path, **kwargs)

        class Reader:
            def get_batch(self, indices):
                if any(10 <= i < 20 for i in indices):
                    raise RuntimeError("simulated damaged region")
                return reader.get_batch(indices)

        return Reader()

    monkeypatch.setattr(frame_decoding, "open_video", damaged)
    with pytest.warns(UnusableVideoWarning, match="damaged region"):
        item = ds[12]
    start, end = item["frame_indices"][0].tolist()
    assert start >= 20 and end <= 39  # the fallback jumped past the failing window
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ds[2]["frame_indices"][0, 0] >= 2  # same file: not reported again


def test_symlink_loops_do_not_hang_the_scan(tmp_path: Path, video_dir: Path) -> None:
    shutil.copy(video_dir / "a.mp4", tmp_path / "a.mp4")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    ds = VideoPairDataset(tmp_path, delta_t=(3, 6))
    assert [Path(v.path).name for v in ds.videos] == ["a.mp4"]


def test_transform_must_be_callable(video_dir: Path) -> None:
    with pytest.raises(TypeError, match="transform"):
        VideoPairDataset(video_dir, transform="MidwayTransform")


def test_real_containers_and_codecs_are_read(tmp_path: Path) -> None:
    import imageio_ffmpeg

    from midway_plugin.data.synthetic import generate_video

    frames = generate_video(16, (32, 40), num_objects=1, seed=0).frames
    formats = {"a/clip.webm": "libvpx-vp9", "b/c/clip.avi": "mpeg4", "clip.MOV": "libx264", "clip.mkv": "libx264"}
    for name, codec in formats.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        writer = imageio_ffmpeg.write_frames(
            str(tmp_path / name),
            (40, 32),
            fps=30,
            codec=codec,
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
    ds = VideoPairDataset(tmp_path, delta_t=(3, 6), repeat=2)
    assert sorted(str(Path(v.path).relative_to(tmp_path)) for v in ds.videos) == sorted(formats)
    assert all(v.num_frames == 16 and v.fps == pytest.approx(30.0) for v in ds.videos)
    for i in range(len(ds)):
        assert ds[i]["views"][0].shape == (2, 3, 32, 40)
