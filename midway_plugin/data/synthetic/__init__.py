"""Synthetic video with exact ground truth: rendering, the `midway make-video` folder, reading it back.

Imports numpy (and imageio-ffmpeg to encode): `midway make-video` needs no torch.
"""

from __future__ import annotations

from midway_plugin.data.synthetic.flo_io import read_flo, write_flo
from midway_plugin.data.synthetic.flow_stats import FlowStatistics
from midway_plugin.data.synthetic.index import SyntheticIndexError, flow_samples, read_index, segmentation_samples
from midway_plugin.data.synthetic.render import CLASS_NAMES, PALETTE, SyntheticVideo, generate_video
from midway_plugin.data.synthetic.video_encode import check_readable, write_video
from midway_plugin.data.synthetic.writer import write_synthetic_dataset

__all__ = [
    "CLASS_NAMES",
    "FlowStatistics",
    "PALETTE",
    "SyntheticIndexError",
    "SyntheticVideo",
    "check_readable",
    "flow_samples",
    "generate_video",
    "read_flo",
    "read_index",
    "segmentation_samples",
    "write_flo",
    "write_synthetic_dataset",
    "write_video",
]
