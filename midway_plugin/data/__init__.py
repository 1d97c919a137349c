"""Video data for Midway pretraining: frame-pair datasets, paired transforms, synthetic video.

Public API (stable; the Lightly method and the CLI build on it)::

    from midway_plugin.data import (
        VideoPairDataset,        # video_pairs.py: decord frame pairs (folder of videos / one long video)
        NoUsableVideoError,      # raised at construction when no video is usable
        UnusableVideoWarning,    # one warning per skipped or failing file
        flatten_pairs,           # (B, R, ...) batch -> (B*R, ...) views
        MidwayMotionTransform,   # transforms.py: the dynamics objective's motion crops
        MidwayDINOTransform,     # transforms.py: the paired-frame DINO crops
        MidwayTransform,         # transforms.py: both of the above, one dict per pair
        generate_video, SyntheticVideo, CLASS_NAMES,   # synthetic.py: in-memory video + ground truth
        write_synthetic_dataset, write_video, read_flo, write_flo, check_decord_readable,
    )

See ``docs/data.md`` for the layout, shapes and options.
"""
from __future__ import annotations

from midway_plugin.data.synthetic import (
    CLASS_NAMES,
    SyntheticVideo,
    check_decord_readable,
    generate_video,
    read_flo,
    write_flo,
    write_synthetic_dataset,
    write_video,
)
from midway_plugin.data.transforms import (
    MidwayDINOTransform,
    MidwayMotionTransform,
    MidwayTransform,
)
from midway_plugin.data.video_pairs import (
    VIDEO_EXTENSIONS,
    NoUsableVideoError,
    UnusableVideoWarning,
    VideoInfo,
    VideoPairDataset,
    flatten_pairs,
)

__all__ = [
    "CLASS_NAMES",
    "VIDEO_EXTENSIONS",
    "MidwayDINOTransform",
    "MidwayMotionTransform",
    "MidwayTransform",
    "NoUsableVideoError",
    "SyntheticVideo",
    "UnusableVideoWarning",
    "VideoInfo",
    "VideoPairDataset",
    "check_decord_readable",
    "flatten_pairs",
    "generate_video",
    "read_flo",
    "write_flo",
    "write_synthetic_dataset",
    "write_video",
]
