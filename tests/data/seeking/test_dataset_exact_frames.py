"""VideoPairDataset returns the frames at the indices it reports, on every test encoding, whatever the reader."""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.video.readers import OpenCVReader
from midway_plugin.data.video.seek_check import DEFAULT_TOLERANCE, InexactSeekWarning

NUM_FRAMES = 150
ENCODINGS = ("mpeg4_avi_bframes", "h264_open_gop", "h264_vfr", "h264_closed_gop")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, index_video) -> Path:
    root = tmp_path_factory.mktemp("seek_folder")
    for name in ENCODINGS:
        index_video(root / name, name, NUM_FRAMES)
    return root


_SEQUENTIAL: dict[str, np.ndarray] = {}


def _sequential(path: str) -> np.ndarray:
    """Every frame of ``path`` decoded sequentially (the definition of frame i), as int16."""
    if path not in _SEQUENTIAL:
        _SEQUENTIAL[path] = OpenCVReader(path).get_batch(list(range(NUM_FRAMES))).astype(np.int16)
    return _SEQUENTIAL[path]


def _wrong_frames(dataset: VideoPairDataset, items, frame_number_of) -> list[tuple[str, int, int, float]]:
    """(file, index asked, frame shown, mean difference to sequential frame index) for every returned frame that
    shows another index or differs from the sequentially decoded frame at its index by more than the tolerance."""
    wrong = []
    for item in items:
        views = item["views"]  # transform=None: [frames_t (R, 3, H, W), frames_t+dt]
        truth = _sequential(item["path"])
        for pair, (t, u) in enumerate(item["frame_indices"].tolist()):
            for view, index in zip(views, (t, u)):
                frame = view[pair].permute(1, 2, 0).numpy()
                shown, diff = frame_number_of(frame), float(np.abs(frame - truth[index]).mean())
                if shown != index or diff > DEFAULT_TOLERANCE:
                    wrong.append((Path(item["path"]).name, index, shown, round(diff, 1)))
    return wrong


def test_folder_mode_returns_the_frames_asked_for(folder: Path, frame_number_of) -> None:
    torch.manual_seed(0)
    with pytest.warns(InexactSeekWarning) as caught:
        ds = VideoPairDataset(folder, delta_t=(15, 30), repeat=5)
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, InexactSeekWarning))
    assert len(messages) == 2
    assert "h264_open_gop.mkv" in messages[0] and "H.264" in messages[0] and "grey levels" in messages[0]
    assert "mpeg4_avi_bframes.avi" in messages[1] and "MPEG-4 Part 2" in messages[1] and ".avi" in messages[1]
    readers = {Path(v.path).stem: v.reader for v in ds.videos}
    assert readers == {
        "h264_closed_gop": "decord",
        "h264_vfr": "decord",
        "h264_open_gop": "pyav",
        "mpeg4_avi_bframes": "pyav",
    }
    items = [ds[i % len(ds)] for i in range(24)]  # 24 items x 5 pairs x 2 frames
    assert _wrong_frames(ds, items, frame_number_of) == []


def test_without_the_check_the_dataset_returns_wrong_frames(folder: Path, frame_number_of) -> None:
    # The bug the check exists for, through the dataset itself: seek_check="off" trusts decord.
    torch.manual_seed(0)
    ds = VideoPairDataset(folder, delta_t=(15, 30), repeat=5, seek_check="off")
    assert all(v.reader == "decord" and v.seek is None for v in ds.videos)
    wrong = _wrong_frames(ds, [ds[i % len(ds)] for i in range(24)], frame_number_of)
    assert {name for name, *_ in wrong} >= {"mpeg4_avi_bframes.avi"}


@pytest.mark.parametrize("reader", ["pyav", "opencv", "sequential"])
def test_single_mode_exact_readers_in_shuffled_order(folder: Path, frame_number_of, monkeypatch, reader) -> None:
    # Every reader the package may pick, forced on the worst file, items in random order (backward jumps).
    import midway_plugin.data.video.scan as video_scan

    check = video_scan.check_random_access
    monkeypatch.setattr(
        video_scan, "check_random_access", lambda p, **kw: dataclasses.replace(check(p, **kw), reader=reader)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactSeekWarning)
        ds = VideoPairDataset(folder / "mpeg4_avi_bframes.avi", delta_t=(15, 30), repeat=1)
    assert ds.videos[0].reader == reader
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(1))[:20].tolist()
    assert _wrong_frames(ds, [ds[i] for i in order], frame_number_of) == []


def test_skip_mode_skips_inexact_files(folder: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        ds = VideoPairDataset(folder, delta_t=(15, 30), seek_check="skip")
    skipped = sorted(str(w.message) for w in caught)
    assert len(skipped) == 2 and all("inexact random access" in m and "seek_check='skip'" in m for m in skipped)
    assert "h264_open_gop.mkv" in skipped[0] and "mpeg4_avi_bframes.avi" in skipped[1]
    assert sorted(Path(v.path).stem for v in ds.videos) == ["h264_closed_gop", "h264_vfr"]
    assert len(ds.skipped) == 2


def test_index_cache_keeps_the_check(tmp_path: Path, folder: Path, monkeypatch, frame_number_of) -> None:
    import midway_plugin.data.video.scan as video_scan

    root = tmp_path / "videos"
    shutil.copytree(folder, root)
    cache = tmp_path / "index.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactSeekWarning)
        first = VideoPairDataset(root, index_cache=cache)

    def fail(*args, **kwargs):
        raise AssertionError("the check ran again despite the index cache")

    monkeypatch.setattr(video_scan, "check_random_access", fail)
    with pytest.warns(InexactSeekWarning) as caught:  # the warning comes from the cache too
        second = VideoPairDataset(root, index_cache=cache)
    assert sorted(Path(str(w.message).split("'")[1]).name for w in caught) == [
        "h264_open_gop.mkv",
        "mpeg4_avi_bframes.avi",
    ]
    assert second.videos == first.videos
    assert [v.reader for v in second.videos] == [v.reader for v in first.videos]


def test_bad_seek_check_value(folder: Path) -> None:
    with pytest.raises(ValueError, match="seek_check must be 'fallback', 'skip' or 'off', got 'maybe'"):
        VideoPairDataset(folder, seek_check="maybe")


def test_exact_reader_honours_decode_short_side(folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactSeekWarning)
        ds = VideoPairDataset(folder / "mpeg4_avi_bframes.avi", delta_t=(15, 30), repeat=1, decode_short_side=32)
    assert ds.videos[0].reader == "pyav"
    assert ds[3]["views"][0].shape == (1, 3, 32, 43)


def test_dataloader_workers_read_exact_frames(folder: Path, frame_number_of) -> None:
    from torch.utils.data import DataLoader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactSeekWarning)
        ds = VideoPairDataset(folder, delta_t=(15, 30), repeat=2)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=True)
    items = []
    for batch in loader:
        for b in range(len(batch["path"])):
            items.append(
                {
                    "views": [v[b] for v in batch["views"]],
                    "frame_indices": batch["frame_indices"][b],
                    "path": batch["path"][b],
                }
            )
    assert len(items) == len(ds) and _wrong_frames(ds, items, frame_number_of) == []


def test_a_cache_written_without_the_check_is_checked_later(tmp_path: Path, folder: Path) -> None:
    root = tmp_path / "videos"
    shutil.copytree(folder, root)
    cache = tmp_path / "index.json"
    unchecked = VideoPairDataset(root, index_cache=cache, seek_check="off")
    assert all(v.seek is None for v in unchecked.videos)
    with pytest.warns(InexactSeekWarning):
        checked = VideoPairDataset(root, index_cache=cache)
    assert {Path(v.path).stem: v.reader for v in checked.videos}["mpeg4_avi_bframes"] == "pyav"
    assert all(v.seek is not None for v in VideoPairDataset(root, index_cache=cache, seek_check="skip").videos)
