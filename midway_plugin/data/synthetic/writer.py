"""Writes the ``midway make-video`` folder: synthetic videos with their flow, masks, frames and metadata.

The layout of the folder (and how the benchmark datasets read it back) is described in
:mod:`~midway_plugin.data.synthetic.index`. Video ``i`` of a dataset written with ``seed`` is
``generate_video(..., seed=seed + i)``; the last ``val_videos`` form the held-out split.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from midway_plugin.data import motion_tokens
from midway_plugin.data.synthetic.flo_io import write_flo
from midway_plugin.data.synthetic.flow_stats import BIN_PX, FlowStatistics
from midway_plugin.data.synthetic.index import INDEX_FILE, VIDEO_DIRS
from midway_plugin.data.synthetic.render import describe_videos, generate_video
from midway_plugin.data.synthetic.video_encode import check_readable, write_video


def motion_token_summary(
    stats: dict[str, FlowStatistics], frame_size: tuple[int, int], frame_gap: int, recipe: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``dataset.json["motion_tokens"]``: per split, the motion in tokens of pretraining pairs (``recipe``) and of
    the flow pairs (frames ``frame_gap`` apart, same crop), from the exact |flow| histograms."""
    recipe = dict(recipe or {})
    flow_recipe = {**recipe, "delta_t": (frame_gap, frame_gap)}
    out: dict[str, Any] = {"formula": motion_tokens.FORMULA, "pretrain_pairs": {}, "flow_pairs": {}}
    for split, s in stats.items():
        centres = (np.arange(len(s.hist)) + 0.5) * BIN_PX
        for key, kwargs in (("pretrain_pairs", recipe), ("flow_pairs", flow_recipe)):
            out[key][split] = motion_tokens.token_motion_stats(
                centres, frame_size, frame_gap=frame_gap, weights=s.hist, **kwargs
            )
    return out


def default_val_videos(num_videos: int) -> int:
    """The default held-out count: a quarter of the videos (0 for fewer than 4)."""
    return num_videos // 4


def write_synthetic_dataset(
    out: str | os.PathLike[str],
    num_videos: int = 1,
    num_frames: int = 64,
    size: tuple[int, int] = (128, 128),
    fps: float = 30.0,
    seed: int = 0,
    num_objects: int = 3,
    save_frames: bool = True,
    crf: int = 0,
    pix_fmt: str = "yuv444p",
    prefix: str = "synth",
    verify: bool = True,
    val_videos: int | None = None,
    camera_speed: tuple[float, float] = (0.5, 2.0),
    object_speed: tuple[float, float] = (0.5, 2.5),
    frame_gap: int = 1,
    camera_wobble: float = 3.0,
    texture_wavelength: tuple[float, float] | None = None,
    token_recipe: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Writes ``num_videos`` synthetic videos with their ground truth under ``out``.

    The layout is described in :mod:`~midway_plugin.data.synthetic.index`.

    Args:
        out: Output directory (created; existing files of the same names are overwritten).
        num_videos: Number of videos.
        num_frames: Frames per video.
        size: ``(height, width)`` (both even for ``yuv420p``).
        fps: Frame rate of the mp4 files.
        seed: Video ``i`` uses seed ``seed + i``.
        num_objects: Objects per video.
        save_frames: Also write every frame as a lossless PNG (what the mmseg / mmflow datasets read).
        crf: x264 constant rate factor (0 = lossless; 12 = visually lossless).
        pix_fmt: ``"yuv444p"`` (default; with crf 0 the frames decode to the ground truth within ~0.4 grey levels)
            or ``"yuv420p"`` (the common format; chroma is subsampled).
        prefix: File name prefix of the videos.
        verify: Check that the dataset's readers read every written video back (frame count and shape).
        val_videos: How many of the last videos form the held-out ``val`` split (default
            :func:`default_val_videos`: a quarter); their mp4 files go to ``OUT/videos_val``.
        camera_speed: Range of the camera pan speed, pixels per frame.
        object_speed: Range of the object speeds, pixels per frame.
        frame_gap: ``flow_dir/NNNNNN.flo`` maps frame N to frame N + ``frame_gap`` (``num_frames - frame_gap``
            files); the flow benchmark pairs frames ``frame_gap`` apart.
        camera_wobble: Largest wobble amplitude of the camera, pixels (0: a constant-velocity pan).
        texture_wavelength: ``(min, max)`` texture wavelength in pixels (None: relative to the frame size).
        token_recipe: Keyword arguments of :func:`~midway_plugin.data.motion_tokens.token_motion_stats`
            (``crop_scale``, ``input_size``, ``patch_size``, ``delta_t``) for the ``motion_tokens`` statistics of
            the pretraining pairs (None: the tiny preset and the demo recipe).

    Returns:
        The content of ``OUT/dataset.json`` (with ``splits``, per-split ``flow_stats`` and ``motion_tokens``).

    Raises:
        ValueError: An argument is out of range, or a written video is not read back as written.
    """
    from PIL import Image

    if num_videos < 1:
        raise ValueError(f"num_videos must be >= 1, got {num_videos!r}")
    num_val = default_val_videos(num_videos) if val_videos is None else int(val_videos)
    if not 0 <= num_val < num_videos:
        raise ValueError(
            f"val_videos must be in [0, num_videos - 1] = [0, {num_videos - 1}] (at least one training video), "
            f"got {val_videos!r}"
        )
    for name, (lo, hi) in (("camera_speed", camera_speed), ("object_speed", object_speed)):
        if not 0 <= lo <= hi:
            raise ValueError(f"{name} must be a range (min, max) with 0 <= min <= max, got {(lo, hi)!r}")
    height, width = (int(v) for v in size)
    if pix_fmt == "yuv420p" and (height % 2 or width % 2):
        raise ValueError(f"size must be even in both dimensions for yuv420p video, got {height}x{width}")
    root = Path(out)
    video_dirs = VIDEO_DIRS
    for sub in (*video_dirs.values(), "flow", "masks", "meta"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    splits: dict[str, list[str]] = {"train": [], "val": []}
    stats = {split: FlowStatistics() for split in splits}
    for i in range(num_videos):
        name = f"{prefix}_{i:04d}"
        split = "val" if i >= num_videos - num_val else "train"
        video = generate_video(
            num_frames,
            (height, width),
            num_objects,
            seed=seed + i,
            fps=fps,
            camera_speed=camera_speed,
            object_speed=object_speed,
            frame_gap=frame_gap,
            camera_wobble=camera_wobble,
            texture_wavelength=texture_wavelength,
        )
        video_path = root / video_dirs[split] / f"{name}.mp4"
        # A rerun with another split must not leave the video in the other folder (pretraining reads a folder).
        for other in video_dirs.values():
            (root / other / f"{name}.mp4").unlink(missing_ok=True)
        write_video(video_path, video.frames, fps, crf=crf, pix_fmt=pix_fmt)
        if verify:
            check_readable(video_path, num_frames, (height, width))
        flow_dir, mask_dir = root / "flow" / name, root / "masks" / name
        flow_dir.mkdir(exist_ok=True)
        mask_dir.mkdir(exist_ok=True)
        for f, flow in enumerate(video.flows):
            write_flo(flow_dir / f"{f:06d}.flo", flow)
            stats[split].add(flow, video.instances[f], video.instances[f + frame_gap])
        for f, mask in enumerate(video.masks):
            Image.fromarray(mask, mode="L").save(mask_dir / f"{f:06d}.png")
        entry = {
            "name": name,
            "split": split,
            "video": f"{video_dirs[split]}/{name}.mp4",
            "flow_dir": f"flow/{name}",
            "mask_dir": f"masks/{name}",
            "meta": f"meta/{name}.json",
            "seed": seed + i,
        }
        if save_frames:
            frame_dir = root / "frames" / name
            frame_dir.mkdir(parents=True, exist_ok=True)
            for f, frame in enumerate(video.frames):
                Image.fromarray(frame).save(frame_dir / f"{f:06d}.png")
            entry["frame_dir"] = f"frames/{name}"
        (root / "meta" / f"{name}.json").write_text(json.dumps(video.meta))
        entries.append(entry)
        splits[split].append(name)
    summary = {
        **describe_videos(fps, height, width, num_frames),
        "num_objects": int(num_objects),
        "camera_speed": [float(v) for v in camera_speed],
        "object_speed": [float(v) for v in object_speed],
        "camera_wobble": float(camera_wobble),
        "texture_wavelength": None if texture_wavelength is None else [float(v) for v in texture_wavelength],
        "frame_gap": int(frame_gap),
        "video_codec": f"libx264 {pix_fmt} crf {int(crf)}",
        "seed": int(seed),
        "flow_format": f"Middlebury .flo, flow_dir/NNNNNN.flo = forward flow frame NNNNNN -> NNNNNN + {frame_gap}",
        "mask_format": "8-bit PNG, class index per pixel, 0 = background",
        "frame_format": "8-bit RGB PNG, frame_dir/NNNNNN.png" if save_frames else "not written (save_frames=False)",
        "splits": splits,
        "flow_stats": {
            "unit": f"pixels per flow step (|flow| of frames {frame_gap} apart); fractions of all pixels",
            **{split: s.summary() for split, s in stats.items()},
        },
        "motion_tokens": motion_token_summary(stats, (height, width), frame_gap, token_recipe),
        "videos": entries,
    }
    (root / INDEX_FILE).write_text(json.dumps(summary, indent=2))
    return summary
