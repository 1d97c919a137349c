"""The video scan skips what it cannot use with a warning naming it: symlink loops, unreadable directories; a
width decord cannot decode at is read with PyAV instead; a malformed index cache is ignored instead of crashing
the scan."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from midway_plugin.data.video import UnusableVideoWarning, VideoPairDataset
from midway_plugin.data.video.index_cache import VERSION


def _folder(tmp_path: Path, videos: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(sorted(videos.glob("*.mp4"))[0], root / "good.mp4")
    return root


def _scan(root: Path, **kwargs) -> tuple[VideoPairDataset, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = VideoPairDataset(root, delta_t=(2, 4), repeat=1, **kwargs)
    return dataset, [str(w.message) for w in caught if issubclass(w.category, UnusableVideoWarning)]


def test_a_symlink_loop_is_skipped_with_a_warning(tmp_path, videos):
    root = _folder(tmp_path, videos)
    os.symlink(root / "b.mp4", root / "a.mp4")
    os.symlink(root / "a.mp4", root / "b.mp4")
    dataset, messages = _scan(root, index_cache=tmp_path / "index.json")  # the cache keys resolve paths too
    assert [Path(v.path).name for v in dataset.videos] == ["good.mp4"]
    assert any("a.mp4" in m and "symbolic links" in m for m in messages), messages


def test_an_unreadable_subdirectory_is_skipped_with_a_warning(tmp_path, videos, monkeypatch):
    root = _folder(tmp_path, videos)
    (root / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):  # root bypasses permission bits, so refuse like the kernel would for a user
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    dataset, messages = _scan(root)
    assert len(dataset.videos) == 1
    assert any("locked" in m and "Permission denied" in m for m in messages), messages


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"version": VERSION, "entries": ["a", "b"]}),
        json.dumps({"version": VERSION, "entries": {"x": 5}}),
        json.dumps({"version": 1, "entries": "nonsense"}),
        json.dumps([1, 2, 3]),
    ],
)
def test_a_malformed_index_cache_is_ignored(tmp_path, videos, content):
    root = _folder(tmp_path, videos)
    cache = tmp_path / "index.json"
    cache.write_text(content)
    dataset, _ = _scan(root, index_cache=cache)
    assert len(dataset.videos) == 1
    assert json.loads(cache.read_text())["version"] == VERSION  # rewritten with the fresh scan


def test_a_cache_entry_of_the_right_file_with_broken_fields_is_rescanned(tmp_path, videos):
    root = _folder(tmp_path, videos)
    cache = tmp_path / "index.json"
    _scan(root, index_cache=cache)
    data = json.loads(cache.read_text())
    for entry in data["entries"].values():
        entry["info"] = {"bogus": 1}
    cache.write_text(json.dumps(data))
    dataset, _ = _scan(root, index_cache=cache)
    assert dataset.videos[0].num_frames == 16


def test_a_decode_short_side_decord_cannot_decode_at_falls_back_to_an_exact_reader(tmp_path, videos):
    """decord 0.6.0 decodes some widths (48 px here) into 4-channel garbage: caught by the scan, which reads the
    file with PyAV instead of dropping it."""
    root = _folder(tmp_path, videos)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = VideoPairDataset(root, delta_t=(2, 4), repeat=1, decode_short_side=48)
    assert [(v.reader, v.height, v.width) for v in dataset.videos] == [("pyav", 48, 48)]
    assert any("good.mp4" in str(w.message) and "decode_short_side=48" in str(w.message) for w in caught)
    assert dataset[0]["views"][0].shape == (1, 3, 48, 48)
    assert len(VideoPairDataset(root, delta_t=(2, 4), repeat=1, decode_short_side=32).videos) == 1
