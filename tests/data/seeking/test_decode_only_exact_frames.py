"""The decode-only (accelerator-augment) path keeps the exact reader the seek check chose for each file."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.video.seek_check import InexactSeekWarning
from midway_plugin.data.views import MidwayTransform
from midway_plugin.data.views.device_augment import PairGeometryTransform

ENCODINGS = ("mpeg4_avi_bframes", "h264_open_gop", "h264_closed_gop")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, index_video) -> Path:
    root = tmp_path_factory.mktemp("decode_only_folder")
    for name in ENCODINGS:
        index_video(root / name, name, 120)
    return root


def test_decoded_frames_are_the_frames_asked_for(folder: Path, frame_number_of) -> None:
    torch.manual_seed(0)
    transform = PairGeometryTransform(MidwayTransform.small(initial_crop_scale=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InexactSeekWarning)
        ds = VideoPairDataset(folder, transform=transform, delta_t=(15, 30), repeat=5)
    readers = {Path(v.path).stem: v.reader for v in ds.videos}
    assert readers["mpeg4_avi_bframes"] != "decord" and readers["h264_closed_gop"] == "decord"
    wrong = []
    for i in range(12):
        item = ds[i % len(ds)]
        frames = item["views"]["frames"]  # (R, 2, H, W, 3) uint8
        for pair, indices in enumerate(item["frame_indices"].tolist()):
            for which, index in enumerate(indices):
                shown = frame_number_of(frames[pair, which].numpy())
                if shown != index:
                    wrong.append((Path(item["path"]).name, index, shown))
    assert wrong == []
