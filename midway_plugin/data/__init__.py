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
        FlowStatistics,          # flow_stats.py: |flow| statistics of a generated dataset (make-video reports them)
        read_index, segmentation_samples, flow_samples, SyntheticIndexError,  # synthetic_index.py: a make-video
                                 # folder as benchmark samples (what the mmseg / mmflow datasets read)
    )

See README ("Video data") for the layout, shapes and options.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are imported on first use (PEP 562): `midway make-video` needs only numpy, not torch/Lightly.
_EXPORTS = {
    "flow_stats": ("FlowStatistics",),
    "synthetic_index": ("SyntheticIndexError", "flow_samples", "read_index", "segmentation_samples"),
    "synthetic": (
        "CLASS_NAMES",
        "SyntheticVideo",
        "check_decord_readable",
        "generate_video",
        "read_flo",
        "write_flo",
        "write_synthetic_dataset",
        "write_video",
    ),
    "transforms": ("MidwayDINOTransform", "MidwayMotionTransform", "MidwayTransform"),
    "video_pairs": (
        "VIDEO_EXTENSIONS",
        "NoUsableVideoError",
        "UnusableVideoWarning",
        "VideoInfo",
        "VideoPairDataset",
        "flatten_pairs",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:
    from midway_plugin.data.flow_stats import FlowStatistics  # noqa: F401
    from midway_plugin.data.synthetic_index import (  # noqa: F401
        SyntheticIndexError,
        flow_samples,
        read_index,
        segmentation_samples,
    )
    from midway_plugin.data.synthetic import (  # noqa: F401
        CLASS_NAMES,
        SyntheticVideo,
        check_decord_readable,
        generate_video,
        read_flo,
        write_flo,
        write_synthetic_dataset,
        write_video,
    )
    from midway_plugin.data.transforms import MidwayDINOTransform, MidwayMotionTransform, MidwayTransform  # noqa
    from midway_plugin.data.video_pairs import (  # noqa: F401
        VIDEO_EXTENSIONS,
        NoUsableVideoError,
        UnusableVideoWarning,
        VideoInfo,
        VideoPairDataset,
        flatten_pairs,
    )


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
