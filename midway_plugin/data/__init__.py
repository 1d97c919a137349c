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
        PairGeometryTransform, collate_decoded, DeviceAugment,  # device_augment.py: views rendered on the GPU
        generate_video, SyntheticVideo, CLASS_NAMES,   # synthetic.py: in-memory video + ground truth
        write_synthetic_dataset, write_video, read_flo, write_flo, check_decord_readable,
        check_random_access, SeekReport, InexactSeekWarning,   # seek_check.py: random access exact per file?
        open_reader, OpenCVReader, READERS,                     # readers.py: decord, OpenCV seek, sequential
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
    "device_augment": ("DeviceAugment", "PairGeometryTransform", "collate_decoded"),
    "seek_check": ("InexactSeekWarning", "SeekReport", "check_random_access"),
    "readers": ("READERS", "OpenCVReader", "open_reader"),
    "video_info": ("NoUsableVideoError", "UnusableVideoWarning", "VideoInfo"),
    "video_scan": ("VIDEO_EXTENSIONS",),
    "video_pairs": ("VideoPairDataset",),
    "views": ("VIEW_ORDER", "MidwayViews", "flatten_pairs", "unpack_batch"),
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
    from midway_plugin.data.device_augment import DeviceAugment, PairGeometryTransform, collate_decoded  # noqa
    from midway_plugin.data.readers import READERS, OpenCVReader, open_reader  # noqa: F401
    from midway_plugin.data.seek_check import InexactSeekWarning, SeekReport, check_random_access  # noqa: F401
    from midway_plugin.data.transforms import MidwayDINOTransform, MidwayMotionTransform, MidwayTransform  # noqa
    from midway_plugin.data.video_info import NoUsableVideoError, UnusableVideoWarning, VideoInfo  # noqa: F401
    from midway_plugin.data.video_pairs import VideoPairDataset  # noqa: F401
    from midway_plugin.data.video_scan import VIDEO_EXTENSIONS  # noqa: F401
    from midway_plugin.data.views import VIEW_ORDER, MidwayViews, flatten_pairs, unpack_batch  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
