"""The ``midway make-video`` folder: its layout, and reading it as a benchmark (the samples of one split, as paths).

:func:`~midway_plugin.data.synthetic.writer.write_synthetic_dataset` writes::

    OUT/dataset.json                     classes, palette, fps, size, frame count, videos, splits, flow_stats
    OUT/videos/synth_0000.mp4            H.264 (lossless yuv444p by default), readable by decord: TRAIN videos
    OUT/videos_val/synth_0006.mp4        the held-out VAL videos (the last ``val_videos``), kept apart so that
                                         pretraining on OUT/videos never sees them
    OUT/flow/synth_0000/000000.flo       Middlebury .flo, forward flow frame 0 -> 0 + G (G = dataset.json
                                         "frame_gap", --frame-gap, 1 by default; num_frames - G files)
    OUT/masks/synth_0000/000000.png      8-bit PNG, class index per pixel (num_frames files)
    OUT/frames/synth_0000/000000.png     lossless RGB frames (save_frames=True, the default; the mmseg / mmflow
                                         datasets read these)
    OUT/meta/synth_0000.json             per-video seed, objects (class, size, colours) and trajectories

The split is by video (frames of one video are never on both sides):
``dataset.json["splits"] = {"train": [names], "val": [names]}``; each entry of ``dataset.json["videos"]`` records
its own folders, which is what the readers below follow.

The MMSegmentation and MMFlow datasets (``MidwaySyntheticDataset``, ``MidwaySyntheticFlow``) are thin wrappers
around :func:`segmentation_samples` and :func:`flow_samples`; both read ``OUT/dataset.json`` and the PNG frames,
PNG masks and ``.flo`` files next to it, exactly as ``midway make-video`` wrote them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SPLITS = ("train", "val")
#: The index file at the root of the folder.
INDEX_FILE = "dataset.json"
#: The folder of each split's mp4 files (pretraining reads ``OUT/videos``, so the val videos are kept apart).
VIDEO_DIRS = {"train": "videos", "val": "videos_val"}


class SyntheticIndexError(ValueError):
    """The folder is not a usable ``midway make-video`` output (the message names the file and key)."""


def read_index(root: str | os.PathLike) -> dict[str, Any]:
    """``ROOT/dataset.json``, checked for the keys the benchmark datasets need.

    Raises:
        SyntheticIndexError: the file is missing, not JSON, or lacks ``videos`` / ``splits`` / ``classes``.
    """
    path = Path(root) / INDEX_FILE
    if not path.is_file():
        raise SyntheticIndexError(
            f"{str(path)!r} not found: data_root must be a folder written by `midway make-video --out DIR`"
        )
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SyntheticIndexError(f"cannot read {str(path)!r}: {err}") from err
    if not isinstance(index, dict):
        raise SyntheticIndexError(f"{str(path)!r}: expected a JSON object, got {type(index).__name__}")
    for key in ("classes", "palette", "num_frames", "videos"):
        if key not in index:
            raise SyntheticIndexError(f"{str(path)!r} has no {key!r} key (not written by `midway make-video`?)")
    if not isinstance(index.get("splits"), dict):
        raise SyntheticIndexError(
            f"{str(path)!r} has no 'splits' key: it was written by an older `midway make-video`; generate the "
            "videos again (the split is by video: --val-videos K holds out the last K)"
        )
    return index


def split_videos(root: str | os.PathLike, split: str, need: str = "frame_dir") -> tuple[dict, list[dict]]:
    """``(index, video entries of split)``, each entry checked to have the ``need`` folder.

    Raises:
        SyntheticIndexError: unknown or empty split, a video listed in the split but not in ``videos``, or a
            missing folder (frames are missing when make-video ran with ``--no-save-frames``).
    """
    if split not in SPLITS:
        raise SyntheticIndexError(f"split must be one of {SPLITS}, got {split!r}")
    index = read_index(root)
    path = Path(root) / INDEX_FILE
    names = index["splits"].get(split)
    if not names:
        raise SyntheticIndexError(
            f"{str(path)!r}: split {split!r} has no videos (splits: "
            f"{ {k: len(v) for k, v in index['splits'].items()} }); generate more videos or change --val-videos"
        )
    by_name = {entry["name"]: entry for entry in index["videos"]}
    entries = []
    for name in names:
        if name not in by_name:
            raise SyntheticIndexError(f"{str(path)!r}: splits.{split} lists {name!r}, which is not in 'videos'")
        entry = by_name[name]
        if need not in entry or not (Path(root) / entry[need]).is_dir():
            hint = (
                " (make-video ran with --no-save-frames: generate the videos again with frames)"
                if need == "frame_dir"
                else ""
            )
            raise SyntheticIndexError(
                f"{str(path)!r}: video {name!r} has no {need} folder {entry.get(need, '<not recorded>')!r}{hint}"
            )
        entries.append(entry)
    return index, entries


def _check_stride(frame_stride: int) -> int:
    if isinstance(frame_stride, bool) or not isinstance(frame_stride, int) or frame_stride < 1:
        raise SyntheticIndexError(f"frame_stride must be a positive integer, got {frame_stride!r}")
    return frame_stride


def frame_gap(index: dict[str, Any]) -> int:
    """The frames between the two ends of each ``.flo`` file: ``index["frame_gap"]`` (1 for older folders)."""
    gap = index.get("frame_gap", 1)
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 1:
        raise SyntheticIndexError(f"{INDEX_FILE}: frame_gap must be a positive integer, got {gap!r}")
    return gap


def _existing(path: Path) -> str:
    if not path.is_file():
        raise SyntheticIndexError(f"{str(path)!r} is missing (the make-video output is incomplete)")
    return str(path)


def segmentation_samples(root: str | os.PathLike, split: str, frame_stride: int = 1) -> tuple[dict, list[dict]]:
    """``(index, samples)``: one sample per kept frame, ``dict(img_path, seg_map_path, video, frame)``.

    Frames ``0, s, 2s, ...`` of every video of ``split`` (``s = frame_stride``), video by video.
    """
    stride = _check_stride(frame_stride)
    index, entries = split_videos(root, split, "frame_dir")
    root = Path(root)
    samples = []
    for entry in entries:
        for t in range(0, int(index["num_frames"]), stride):
            samples.append(
                dict(
                    img_path=_existing(root / entry["frame_dir"] / f"{t:06d}.png"),
                    seg_map_path=_existing(root / entry["mask_dir"] / f"{t:06d}.png"),
                    video=entry["name"],
                    frame=t,
                )
            )
    return index, samples


def flow_samples(root: str | os.PathLike, split: str, frame_stride: int = 1) -> tuple[dict, list[dict]]:
    """``(index, samples)``: one sample per pair (t, t + G), ``dict(img1_path, img2_path, flow_fw_path, video,
    frame)`` for ``t = 0, s, 2s, ... < num_frames - G`` of every video of ``split`` (``G``: the index's
    ``frame_gap``, 1 when absent)."""
    stride = _check_stride(frame_stride)
    index, entries = split_videos(root, split, "frame_dir")
    gap = frame_gap(index)
    root = Path(root)
    samples = []
    for entry in entries:
        frames = root / entry["frame_dir"]
        for t in range(0, int(index["num_frames"]) - gap, stride):
            samples.append(
                dict(
                    img1_path=_existing(frames / f"{t:06d}.png"),
                    img2_path=_existing(frames / f"{t + gap:06d}.png"),
                    flow_fw_path=_existing(root / entry["flow_dir"] / f"{t:06d}.flo"),
                    video=entry["name"],
                    frame=t,
                )
            )
    return index, samples
