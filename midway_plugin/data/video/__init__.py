"""Reading video exactly: scanning a folder, the reader of each file, frame pairs for pretraining.

Imports torch, numpy and decord.
"""

from __future__ import annotations

from midway_plugin.data.video.info import NoUsableVideoError, UnusableVideoWarning, VideoInfo
from midway_plugin.data.video.pairs import VideoPairDataset
from midway_plugin.data.video.readers import READERS, OpenCVReader, open_reader
from midway_plugin.data.video.scan import VIDEO_EXTENSIONS
from midway_plugin.data.video.seek_check import InexactSeekWarning, SeekReport, check_random_access

__all__ = [
    "InexactSeekWarning",
    "NoUsableVideoError",
    "OpenCVReader",
    "READERS",
    "SeekReport",
    "UnusableVideoWarning",
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "VideoPairDataset",
    "check_random_access",
    "open_reader",
]
