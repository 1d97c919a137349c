"""``midway check-videos DIR``: the audit a user runs before a long pretraining run."""

from __future__ import annotations

from pathlib import Path

import pytest

from midway_plugin.cli import main


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory, index_video) -> Path:
    root = tmp_path_factory.mktemp("audit")
    index_video(root / "cam" / "old_clip", "mpeg4_avi_bframes", 150)
    index_video(root / "good", "h264_closed_gop", 120, fps=25.0)
    (root / "broken.mp4").write_bytes(b"\x00" * 64)
    (root / "notes.txt").write_text("not a video")
    return root


def test_prints_access_reader_frames_fps_per_file(audit_dir: Path, capsys) -> None:
    assert main(["check-videos", str(audit_dir)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    header = out.splitlines()[0]
    assert header.split()[:5] == ["file", "random", "access", "reader", "frames"]
    avi = lines["cam/old_clip.avi"].split()
    assert avi[1] == "WRONG" and "pyav" in avi and "150" in avi and "30.000" in avi and "avi" in avi
    good = lines["good.mp4"].split()
    assert good[1] == "exact" and "decord" in good and "120" in good and "25.000" in good
    assert "skipped  broken.mp4: corrupt or not a video" in out
    summary = "2 usable video(s): 1 with exact random access (decord), 1 read with an exact reader (pyav: 1); 1 skipped"
    assert summary in out
    assert "cam/old_clip.avi: MPEG-4 Part 2" in out and "returns wrong frames" in out


def test_strict_fails_on_inexact_or_skipped_files(audit_dir: Path, tmp_path: Path, index_video, capsys) -> None:
    assert main(["check-videos", str(audit_dir), "--strict"]) == 1
    good = index_video(tmp_path / "only_good", "h264_closed_gop", 60)
    assert main(["check-videos", str(good), "--strict"]) == 0
    assert "only_good.mp4" in capsys.readouterr().out


def test_index_cache_is_written_and_reused(audit_dir: Path, tmp_path: Path, capsys) -> None:
    cache = tmp_path / "index.json"
    assert main(["check-videos", str(audit_dir), "--index-cache", str(cache)]) == 0
    first = capsys.readouterr().out
    assert cache.is_file() and "old_clip.avi" in cache.read_text()
    assert main(["check-videos", str(audit_dir), "--index-cache", str(cache)]) == 0
    assert capsys.readouterr().out == first


def test_errors_name_the_problem(tmp_path: Path, capsys) -> None:
    assert main(["check-videos", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["check-videos", str(tmp_path / "empty")]) == 1
    assert "no usable video" in capsys.readouterr().out
