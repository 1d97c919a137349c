"""The keyframe-aware PyAV reader and window sampling return the frames asked for on the files decord seeks wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.video.pair_sampling import sample_pairs, sample_window_pairs, window_frames
from midway_plugin.data.video.pyav_reader import PyAVReader
from midway_plugin.data.video.seek_check import InexactSeekWarning
from midway_plugin.data.views import MidwayTransform
from midway_plugin.data.views.device_augment import PairGeometryTransform

ENCODINGS = ("mpeg4_avi_bframes", "h264_open_gop", "h264_vfr", "h264_closed_gop")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, index_video) -> Path:
    root = tmp_path_factory.mktemp("pyav_window")
    for name in ENCODINGS:
        index_video(root / name, name, 150)
    return root


def _file(folder: Path, name: str) -> Path:
    return next(folder.glob(f"{name}.*"))


@pytest.mark.parametrize("name", ENCODINGS)
def test_pyav_reader_returns_the_frames_asked_for(folder: Path, frame_number_of, name: str) -> None:
    reader = PyAVReader(_file(folder, name))
    assert len(reader) == 150 and reader.get_avg_fps() == pytest.approx(30.0, rel=0.05)
    rng = np.random.default_rng(0)
    for _ in range(15):  # sorted batches, unsorted with repeats, and backward single frames, on one reader
        batch = rng.integers(0, 150, 6).tolist()
        asked = [*batch, batch[0]]
        assert [frame_number_of(f) for f in reader.get_batch(asked)] == asked
        for index in sorted(batch, reverse=True)[:2]:
            assert frame_number_of(reader.get_batch([index])[0]) == index
    assert reader.keyframe_indices()[0] == 0


def test_pyav_reader_decodes_only_from_the_keyframe_and_skips_unreferenced_frames(folder: Path) -> None:
    path = _file(folder, "h264_closed_gop")  # keyframes every 50 frames, 2 B-frames
    reader = PyAVReader(path)
    reader.get_batch([140])
    assert reader.seeks == 1 and reader.decoded <= 41  # frames 100..140 at most, B-frames nobody refers to skipped
    full = PyAVReader(path)
    full.skip_unreferenced = False
    full.get_batch([140])
    assert full.decoded > reader.decoded
    window = PyAVReader(path)
    window.get_batch([105, 110, 120, 135])  # one seek for a window
    assert window.seeks == 1


def test_pyav_reader_resizes_and_names_bad_indices(folder: Path) -> None:
    reader = PyAVReader(_file(folder, "h264_closed_gop"), width=32, height=24)
    assert reader.get_batch([3, 3]).shape == (2, 24, 32, 3)
    with pytest.raises(IndexError, match=r"frame index 150 out of range .*h264_closed_gop.mp4.* 150 frames"):
        reader.get_batch([2, 150])


def test_window_pairs_stay_in_one_window_with_the_same_gaps() -> None:
    torch.manual_seed(0)
    gaps, length = (15, 30), window_frames((15, 30), 1.5, 300)
    assert length == 45 and window_frames((15, 30), 0.5, 300) == 31 and window_frames((15, 30), 1.5, 40) == 40
    windowed = np.stack([sample_window_pairs(300, gaps, 5, 1.5) for _ in range(4000)])  # (openings, R, 2)
    independent = np.stack([sample_pairs(300, gaps, 5) for _ in range(4000)])
    spans = windowed.max(axis=(1, 2)) - windowed.min(axis=(1, 2))
    assert spans.max() <= length - 1 and windowed.min() >= 0 and windowed.max() <= 299
    dt_w, dt_i = np.diff(windowed, axis=2).ravel(), np.diff(independent, axis=2).ravel()
    assert set(dt_w.tolist()) == set(range(15, 31))
    assert abs(dt_w.mean() - 22.5) < 0.2 and abs(dt_w.mean() - dt_i.mean()) < 0.3
    # t stays spread over the whole video (uniform but for the ends), the pairs of one opening do not.
    assert abs(windowed[..., 0].mean() - independent[..., 0].mean()) < 5
    assert np.std(windowed[:, :, 0], axis=1).mean() < 10 < np.std(independent[:, :, 0], axis=1).mean()


@pytest.mark.parametrize("decoder", ["auto", "pyav"])
def test_window_sampling_through_the_dataset_is_exact(folder: Path, frame_number_of, decoder: str) -> None:
    torch.manual_seed(0)
    transform = PairGeometryTransform(MidwayTransform.small(initial_crop_scale=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactSeekWarning)
        ds = VideoPairDataset(
            folder, transform=transform, delta_t=(15, 30), repeat=5, sampling="window", decoder=decoder
        )
    wrong = []
    for i in range(12):
        item = ds[i % len(ds)]
        pairs = item["frame_indices"]
        assert int(pairs.max() - pairs.min()) <= 44
        for pair, indices in enumerate(pairs.tolist()):
            for which, index in enumerate(indices):
                shown = frame_number_of(item["views"]["frames"][pair, which].numpy())
                if shown != index:
                    wrong.append((Path(item["path"]).name, index, shown))
    assert wrong == []


def test_sampling_window_and_decoder_are_checked(folder: Path) -> None:
    path = _file(folder, "h264_closed_gop")
    with pytest.raises(ValueError, match="sampling must be one of independent, window, got 'burst'"):
        VideoPairDataset(path, repeat=1, sampling="burst")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sampling='window' .* 'folder' mode"):
        VideoPairDataset(path, repeat=1, sampling="window")
    with pytest.raises(ValueError, match="window must be a multiple >= 1 of the largest gap, got 0.5"):
        VideoPairDataset(folder, sampling="window", window=0.5)
    with pytest.raises(ValueError, match="decoder must be one of auto, pyav, cuda, got 'nvdec'"):
        VideoPairDataset(folder, decoder="nvdec")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decoder='cuda' keeps the frames on the GPU"):
        VideoPairDataset(folder, decoder="cuda")


def test_decoder_pyav_keeps_the_scans_reader_where_the_check_found_pyav_wrong(folder: Path) -> None:
    from midway_plugin.data.video.frame_decoding import open_for_decoding
    from midway_plugin.data.video.info import VideoInfo
    from midway_plugin.data.video.readers import OpenCVReader
    from midway_plugin.data.video.seek_check import SeekReport

    path = str(_file(folder, "mpeg4_avi_bframes"))
    wrong = SeekReport(
        False, "opencv", "MPEG-4 Part 2", "avi", differences={"decord": 90.0, "pyav": 40.0, "opencv": 0.0}
    )
    info = VideoInfo(path, 150, 30.0, 48, 64, reader="opencv", seek=wrong)
    assert isinstance(open_for_decoding(info, False, 1, "pyav"), OpenCVReader)
    unchecked = VideoInfo(path, 150, 30.0, 48, 64)
    assert isinstance(open_for_decoding(unchecked, False, 1, "pyav"), PyAVReader)
    assert not isinstance(open_for_decoding(unchecked, False, 1, "auto"), PyAVReader)  # decord
