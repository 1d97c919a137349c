"""Video data for Midway pretraining: frame-pair datasets, paired transforms, synthetic video.

Public API (stable; the Lightly method and the CLI build on it), by module::

    from midway_plugin.data import (
        VideoPairDataset,        # video_pairs.py: decord frame pairs (folder of videos / one long video)
        VideoInfo, NoUsableVideoError, UnusableVideoWarning,  # video_info.py: a scanned file; how files fail
        VIDEO_EXTENSIONS,        # video_scan.py: finding and probing the files (index cache: video_index_cache.py;
                                 # pairs: pair_sampling.py; decoding: frame_decoding.py)
        MidwayMotionTransform,   # motion_transform.py: the dynamics objective's motion crops
        MidwayDINOTransform,     # dino_transform.py: the paired-frame DINO crops (colours: color_view.py)
        MidwayTransform,         # transforms.py: both of the above, one dict per pair
        VIEW_ORDER, MidwayViews, unpack_batch, flatten_pairs,  # views.py: the view contract with the method
        PairGeometryTransform, collate_decoded, DeviceAugment,  # device_augment.py: views rendered on the GPU
        generate_video, SyntheticVideo, CLASS_NAMES, PALETTE,   # synthetic_render.py: video + exact ground truth
        write_synthetic_dataset,                     # synthetic_writer.py: the `midway make-video` folder
        write_video, check_readable,          # video_encode.py: H.264 mp4 that the dataset reads back
        read_flo, write_flo,                         # flo_io.py: Middlebury .flo files
        check_random_access, SeekReport, InexactSeekWarning,   # seek_check.py: random access exact per file?
        open_reader, OpenCVReader, READERS,                     # readers.py: decord, OpenCV seek, sequential
        FlowStatistics,          # flow_stats.py: |flow| statistics of a generated dataset (make-video reports them)
        token_motion_stats, SubTokenMotionWarning,  # motion_tokens.py: that motion in tokens at the model's input
        read_index, segmentation_samples, flow_samples, SyntheticIndexError,  # synthetic_index.py: the make-video
                                 # folder's layout, read as benchmark samples (what the mmseg / mmflow datasets read)
    )

The package uses torch, torchvision, PIL, numpy, decord and Lightly's *transforms* (plain torchvision transforms),
never Lightly's or Lightning's training framework. See docs/data.md for the layout, shapes and options.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are imported on first use (PEP 562): `midway make-video` needs only numpy, not torch/Lightly.
_EXPORTS = {
    "flow_stats": ("FlowStatistics",),
    "motion_tokens": ("SubTokenMotionWarning", "token_motion_stats"),
    "synthetic_index": ("SyntheticIndexError", "flow_samples", "read_index", "segmentation_samples"),
    "synthetic_render": ("CLASS_NAMES", "PALETTE", "SyntheticVideo", "generate_video"),
    "flo_io": ("read_flo", "write_flo"),
    "video_encode": ("check_readable", "write_video"),
    "synthetic_writer": ("write_synthetic_dataset",),
    "motion_transform": ("MidwayMotionTransform",),
    "dino_transform": ("MidwayDINOTransform",),
    "transforms": ("MidwayTransform",),
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
    from midway_plugin.data.device_augment import DeviceAugment, PairGeometryTransform, collate_decoded  # noqa
    from midway_plugin.data.dino_transform import MidwayDINOTransform  # noqa: F401
    from midway_plugin.data.flo_io import read_flo, write_flo  # noqa: F401
    from midway_plugin.data.flow_stats import FlowStatistics  # noqa: F401
    from midway_plugin.data.motion_tokens import SubTokenMotionWarning, token_motion_stats  # noqa: F401
    from midway_plugin.data.motion_transform import MidwayMotionTransform  # noqa: F401
    from midway_plugin.data.readers import READERS, OpenCVReader, open_reader  # noqa: F401
    from midway_plugin.data.seek_check import InexactSeekWarning, SeekReport, check_random_access  # noqa: F401
    from midway_plugin.data.synthetic_index import (  # noqa: F401
        SyntheticIndexError,
        flow_samples,
        read_index,
        segmentation_samples,
    )
    from midway_plugin.data.synthetic_render import CLASS_NAMES, PALETTE, SyntheticVideo, generate_video  # noqa
    from midway_plugin.data.synthetic_writer import write_synthetic_dataset  # noqa: F401
    from midway_plugin.data.transforms import MidwayTransform  # noqa: F401
    from midway_plugin.data.video_encode import check_readable, write_video  # noqa: F401
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
