"""The seek check against ground truth: frames that carry their own index, in the encodings where readers seek wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from midway_plugin.data.video.readers import READERS, OpenCVReader, open_reader
from midway_plugin.data.video.seek_check import SeekReport, check_random_access

NUM_FRAMES = 200
ENCODINGS = ("mpeg4_avi_bframes", "h264_open_gop", "h264_vfr", "h264_closed_gop")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, index_video) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seek_videos")
    return {name: index_video(root / name, name, NUM_FRAMES) for name in ENCODINGS}


def _numbers(frames, frame_number_of) -> list[int]:
    frames = frames.asnumpy() if hasattr(frames, "asnumpy") else np.asarray(frames)
    return [frame_number_of(f) for f in frames]


def _random_access(reader: str, path: Path, frame_number_of) -> dict[int, int]:
    """index -> frame shown, over the dataset's access patterns: sorted batches and single frames backwards."""
    shown: dict[int, int] = {}
    for offset in range(0, 7):  # every frame of the video, in 7 sorted batches from fresh readers
        indices = list(range(offset, NUM_FRAMES, 7))
        shown.update(zip(indices, _numbers(open_reader(reader, path).get_batch(indices), frame_number_of)))
    kept = open_reader(reader, path)
    for i in range(NUM_FRAMES - 1, -1, -13):
        got = _numbers(kept.get_batch([i]), frame_number_of)[0]
        shown[i] = got if shown[i] == i else shown[i]
    return shown


def test_test_videos_decode_sequentially_to_their_own_index(videos, frame_number_of) -> None:
    for name, path in videos.items():
        frames = OpenCVReader(path).get_batch(list(range(NUM_FRAMES)))
        assert _numbers(frames, frame_number_of) == list(range(NUM_FRAMES)), name


def test_decord_seeks_wrong_on_mpeg4_avi_with_b_frames_and_open_gop_h264(videos, frame_number_of) -> None:
    # The reproduction: decord returns other frames than those asked for, silently.
    for name, asked in (("mpeg4_avi_bframes", [5, 37, 100, 180]), ("h264_open_gop", [5, 57, 117, 180])):
        got = _numbers(open_reader("decord", videos[name]).get_batch(asked), frame_number_of)
        assert got != asked, f"decord now seeks right on {name}: {got}"
        assert got[0] == asked[0]  # before the first seek it is right


@pytest.mark.parametrize("name", ENCODINGS)
def test_check_verdict_matches_ground_truth_for_every_reader(videos, frame_number_of, name: str) -> None:
    path = videos[name]
    for reader in READERS[:-1]:
        shown = _random_access(reader, path, frame_number_of)
        wrong = {i: j for i, j in shown.items() if i != j}
        report = check_random_access(path, readers=(reader,))
        assert report.exact == (not wrong), f"{reader} on {name}: check says {report}, wrong frames {wrong}"
        assert report.reader == (reader if not wrong else "sequential")
    shown = _random_access("sequential", path, frame_number_of)
    assert all(i == j for i, j in shown.items())


def test_report_names_codec_container_and_difference(videos) -> None:
    report = check_random_access(videos["mpeg4_avi_bframes"])
    assert not report.exact and report.reader == "pyav"
    assert report.codec.startswith("MPEG-4 Part 2") and report.container == "avi"
    assert report.max_difference > 20 and report.differences["pyav"] <= 1.0
    text = report.describe()
    assert "MPEG-4 Part 2" in text and ".avi" in text and "returns wrong frames" in text
    assert f"{report.max_difference:.1f}" in text and "pyav's is exact" in text
    assert SeekReport.from_dict(report.to_dict()) == report


def test_files_decord_reads_exactly_keep_decord(videos) -> None:
    for name in ("h264_closed_gop", "h264_vfr"):
        report = check_random_access(videos[name])
        assert report.exact and report.reader == "decord", report.describe()
        assert report.differences == {"decord": report.max_difference}  # the others are not even tried


def test_opencv_seeks_wrong_on_variable_frame_rate(videos) -> None:
    report = check_random_access(videos["h264_vfr"], readers=("opencv",))
    assert not report.exact and report.reader == "sequential"


def test_sequential_reader_errors_name_the_file(tmp_path: Path, videos) -> None:
    reader = OpenCVReader(videos["h264_closed_gop"])
    with pytest.raises(IndexError, match=r"frame 500 does not exist in video .*h264_closed_gop.mp4.*200 decoded"):
        reader.get_batch([3, 500])
    assert reader.get_batch([3]).shape == (1, 48, 64, 3)  # usable again after the error
    bogus = tmp_path / "bogus.avi"
    bogus.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot open video .*bogus.avi"):
        OpenCVReader(bogus)
    with pytest.raises(ValueError, match="decord cannot open video .*bogus.avi"):
        check_random_access(bogus)
    with pytest.raises(ValueError, match="unknown video reader 'nvdec'"):
        open_reader("nvdec", bogus)
    with pytest.raises(ValueError, match="PyAV cannot open video .*bogus.avi"):
        open_reader("pyav", bogus)
    with pytest.raises(ValueError, match="readers must be"):
        check_random_access(videos["h264_vfr"], readers=("sequential",))


def test_wrong_frames_are_caught_when_neighbouring_frames_differ_little(
    tmp_path: Path, index_video, index_frames_of, frame_number_of
) -> None:
    # Neighbouring frames differ by 3-7 grey levels here, less than the tolerance: only "another sequential frame
    # is closer to what was read" tells decord's wrong frames from the right ones.
    path = index_video(tmp_path / "subtle", "mpeg4_avi_bframes", 250, frames=index_frames_of(250, subtle=True))
    truth = OpenCVReader(path).get_batch(list(range(250)))
    assert [frame_number_of(f, subtle=True) for f in truth] == list(range(250))
    assert np.abs(truth[101].astype(int) - truth[100]).mean() < 8
    asked = [100, 101, 180, 240]
    got = [frame_number_of(f, subtle=True) for f in open_reader("decord", path).get_batch(asked).asnumpy()]
    assert got != asked
    report = check_random_access(path)
    assert not report.exact and report.reader == "pyav", report.describe()
    # Even with a tolerance far above any difference here, the closer neighbour gives the wrong frames away ...
    blind = check_random_access(path, tolerance=100.0)
    assert not blind.exact and blind.worst_match is not None and blind.worst_match != blind.worst_frame
    # ... without flagging a file that decord reads right.
    right = index_video(tmp_path / "subtle_ok", "h264_closed_gop", 250, frames=index_frames_of(250, subtle=True))
    assert check_random_access(right, tolerance=100.0).exact


def test_opencv_reader_resizes_and_keeps_colours(tmp_path: Path, index_video) -> None:
    frames = np.zeros((20, 48, 64, 3), dtype=np.uint8)
    frames[:, :, :32] = (220, 30, 30)  # red left half, blue right half
    frames[:, :, 32:] = (30, 30, 220)
    path = index_video(tmp_path / "colour", "h264_closed_gop", 20, frames=frames)
    full = OpenCVReader(path).get_batch([4])[0]
    assert full[:, :24, 0].mean() > 180 and full[:, :24, 2].mean() < 70
    assert full[:, 40:, 2].mean() > 180 and full[:, 40:, 0].mean() < 70
    decord_frame = open_reader("decord", path).get_batch([4]).asnumpy()[0]
    assert np.abs(full.astype(int) - decord_frame).mean() < 4  # the same frame in the same channel order
    small = OpenCVReader(path, width=32, height=24).get_batch([4, 4])
    assert small.shape == (2, 24, 32, 3) and small.dtype == np.uint8
