"""The analysis reads videos with the same per-file exact reader as the pretraining data."""

from __future__ import annotations

from pathlib import Path

import pytest

from midway_plugin.analysis import AnalysisError
from midway_plugin.analysis.frames import read_video
from midway_plugin.data.video.readers import open_reader


@pytest.mark.parametrize("encoding", ["mpeg4_avi_bframes", "h264_open_gop", "h264_closed_gop"])
def test_read_video_returns_the_frames_asked_for(tmp_path: Path, index_video, frame_number_of, encoding) -> None:
    path = index_video(tmp_path / "clip", encoding, 200)
    frames, indices = read_video(path, start=58, gap=61, count=3)
    assert indices == [58, 119, 180]
    assert [frame_number_of(f) for f in frames] == indices
    if encoding != "h264_closed_gop":  # decord alone gets these wrong
        raw = open_reader("decord", path).get_batch(indices).asnumpy()
        assert [frame_number_of(f) for f in raw] != indices


def test_read_video_names_a_file_opencv_cannot_check(tmp_path: Path, index_video, monkeypatch) -> None:
    import midway_plugin.analysis.frames as frames  # read_video's own reference to the seek check

    path = index_video(tmp_path / "clip", "h264_closed_gop", 30)

    def refuse(path, **kwargs):
        raise ValueError(f"OpenCV (FFmpeg) cannot open video {str(path)!r}")

    monkeypatch.setattr(frames, "check_random_access", refuse)
    with pytest.raises(AnalysisError, match=r"cannot check that video .*clip.mp4.* decodes the frames asked for"):
        read_video(path, 0, 5, 2)
