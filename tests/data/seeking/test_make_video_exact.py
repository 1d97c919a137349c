"""The ground truth of ``midway make-video`` is only valid if its videos decode to the frames at their indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from midway_plugin.data.synthetic.writer import write_synthetic_dataset
from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.video.readers import OpenCVReader, open_reader
from midway_plugin.data.video.seek_check import check_random_access


# The default (lossless) is compared with the rendered frames themselves; the lossy yuv420p format with its own
# sequential decode (x264 at crf 12 moves 64 x 48 px texture by ~7 grey levels on average: compression, not seeking).
@pytest.mark.parametrize(("pix_fmt", "crf", "tolerance"), [("yuv444p", 0, 1.0), ("yuv420p", 12, 2.0)])
def test_generated_videos_read_exactly_with_random_access(
    tmp_path: Path, pix_fmt: str, crf: int, tolerance: float
) -> None:
    # 96 frames at 30 fps: keyframes every 30 frames (write_video's -g), so random access has to seek.
    out = tmp_path / "synth"
    write_synthetic_dataset(out, num_videos=2, num_frames=96, size=(48, 64), save_frames=True, crf=crf, pix_fmt=pix_fmt)
    truths = {}
    for video in sorted((out / "videos").glob("*.mp4")):
        report = check_random_access(video)
        assert report.exact and report.reader == "decord", report.describe()
        if crf == 0:
            truth = np.stack([np.asarray(Image.open(p)) for p in sorted((out / "frames" / video.stem).glob("*.png"))])
        else:
            truth = OpenCVReader(video).get_batch(list(range(96)))
        truths[video.stem] = truth.astype(int)
        asked = [90, 31, 60, 5, 59, 30, 61, 95]  # around the keyframes, backwards and forwards
        got = np.stack([open_reader("decord", video).get_batch([i]).asnumpy()[0] for i in asked])
        diff = np.abs(got.astype(int) - truth[asked]).mean(axis=(1, 2, 3))
        assert diff.max() <= tolerance, dict(zip(asked, diff.round(2)))

    torch.manual_seed(0)
    ds = VideoPairDataset(out / "videos", delta_t=(15, 30), repeat=5)
    for i in range(len(ds)):
        item = ds[i]
        truth = truths[Path(item["path"]).stem]
        for pair, (t, u) in enumerate(item["frame_indices"].tolist()):
            for view, index in zip(item["views"], (t, u)):
                frame = view[pair].permute(1, 2, 0).numpy()
                assert np.abs(frame - truth[index]).mean() <= tolerance, (item["path"], index)
