"""Synthetic video with exact ground truth: textured objects moving over a textured, panning background.

Every pixel is rendered analytically (no resampling of an image): the background is a sum of coloured sinusoidal
gratings evaluated at world coordinates ``p + c_t`` (``c_t``: camera offset at frame t), and each object is a
shape with its own procedural texture evaluated in the object's local coordinates
``q = R(-theta_t) (p - center_t) / s_t``. The forward optical flow from frame t to t + 1 is therefore exact:
``c_t - c_{t+1}`` on the background and ``center_{t+1} + s_{t+1} R(theta_{t+1}) q - p`` on an object (the flow of
the surface visible at ``p`` in frame t; occluded destinations are not marked).

Classes (the segmentation label of a pixel is the class of the topmost object, 0 = background):
``0 background, 1 disc, 2 square, 3 triangle``. Each class has its own texture family (rings, checks, stripes).

In memory: :func:`generate_video` -> :class:`SyntheticVideo` (frames, flows, masks as numpy). On disk:
:func:`write_synthetic_dataset` (used by ``midway make-video``) writes::

    OUT/dataset.json                     classes, palette, fps, size, frame count, videos, splits, flow_stats
    OUT/videos/synth_0000.mp4            H.264 (lossless yuv444p by default), readable by decord: TRAIN videos
    OUT/videos_val/synth_0006.mp4        the held-out VAL videos (the last ``val_videos``), kept apart so that
                                         pretraining on OUT/videos never sees them
    OUT/flow/synth_0000/000000.flo       Middlebury .flo, forward flow frame 0 -> 1 (num_frames - 1 files)
    OUT/masks/synth_0000/000000.png      8-bit PNG, class index per pixel (num_frames files)
    OUT/frames/synth_0000/000000.png     lossless RGB frames (save_frames=True, the default; the mmseg / mmflow
                                         datasets read these)
    OUT/meta/synth_0000.json             per-video seed, objects (class, size, colours) and trajectories

Video ``i`` of a dataset written with ``seed`` is ``generate_video(..., seed=seed + i)``. The split is by video
(frames of one video are never on both sides): ``dataset.json["splits"] = {"train": [names], "val": [names]}``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midway_plugin.data.flow_stats import FlowStatistics

CLASS_NAMES: tuple[str, ...] = ("background", "disc", "square", "triangle")
#: RGB colour per class for visualising masks (mmseg-style palette).
PALETTE: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (220, 20, 60), (0, 142, 255), (250, 170, 30))

FLO_MAGIC = 202021.25  # Middlebury .flo header tag ("PIEH" as a float32)


@dataclass
class SyntheticVideo:
    """One generated video and its ground truth.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB frames.
        flows: ``(T - 1, H, W, 2)`` float32 forward flow, ``flows[t]`` maps frame t to frame t + 1 (x, y order).
        masks: ``(T, H, W)`` uint8 class index of the visible surface (0 = background, see :data:`CLASS_NAMES`).
        instances: ``(T, H, W)`` uint8 object index + 1 of the visible surface (0 = background).
        meta: JSON-serialisable description: classes, fps, size, seed, objects and their trajectories.
    """

    frames: np.ndarray
    flows: np.ndarray
    masks: np.ndarray
    instances: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Folds positions into [lo, hi] like a ball bouncing between two walls."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, (lo + hi) / 2)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


class _Gratings:
    """A colour texture: sum of sinusoidal gratings, evaluated exactly at any real coordinates."""

    def __init__(self, rng: np.random.Generator, count: int, wavelengths: tuple[float, float], contrast: float):
        angles = rng.uniform(0, 2 * math.pi, count)
        freqs = 1.0 / rng.uniform(*wavelengths, count)
        self.k = np.stack([np.cos(angles) * freqs, np.sin(angles) * freqs], axis=1) * 2 * math.pi  # (K, 2)
        self.phase = rng.uniform(0, 2 * math.pi, count)
        self.mix = rng.normal(0, contrast / math.sqrt(count), (3, count))  # colour of each grating
        self.base = rng.uniform(0.3, 0.7, 3)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        waves = np.sin(x[..., None] * self.k[:, 0] + y[..., None] * self.k[:, 1] + self.phase)  # (..., K)
        return self.base + waves @ self.mix.T  # (..., 3)


def _shape_inside(cls: int, qx: np.ndarray, qy: np.ndarray, radius: float) -> np.ndarray:
    if cls == 1:  # disc
        return qx * qx + qy * qy <= radius * radius
    if cls == 2:  # square, half side 0.8 r
        half = 0.8 * radius
        return (np.abs(qx) <= half) & (np.abs(qy) <= half)
    # equilateral triangle with circumradius r: inside all three edges at distance r / 2 from the centre
    inside = np.ones(qx.shape, dtype=bool)
    for k in range(3):
        angle = math.pi / 2 + 2 * math.pi * k / 3
        inside &= qx * math.cos(angle) + qy * math.sin(angle) <= radius / 2
    return inside


def _shape_texture(cls: int, qx: np.ndarray, qy: np.ndarray, wavelength: float) -> np.ndarray:
    """Class-specific pattern in [0, 1] (rings, smooth checks, stripes); smooth so bilinear warps are accurate."""
    w = 2 * math.pi / wavelength
    if cls == 1:
        return 0.5 + 0.5 * np.sin(w * np.sqrt(qx * qx + qy * qy))
    if cls == 2:
        return 0.5 + 0.5 * np.tanh(2.0 * np.sin(w * qx) * np.sin(w * qy))
    return 0.5 + 0.5 * np.sin(w * (0.8 * qx + 0.6 * qy))


def generate_video(
    num_frames: int = 64,
    size: tuple[int, int] = (128, 128),
    num_objects: int = 3,
    seed: int = 0,
    fps: float = 30.0,
    camera_speed: tuple[float, float] = (0.5, 2.0),
    object_speed: tuple[float, float] = (0.5, 2.5),
    rotation: bool = True,
    scaling: bool = True,
) -> SyntheticVideo:
    """Renders one synthetic video with exact forward flow and class masks.

    Args:
        num_frames: Number of frames T (>= 2).
        size: ``(height, width)`` in pixels (>= 8 each).
        num_objects: Number of moving objects (0 = background only); classes are drawn uniformly.
        seed: Seed of the random layout; the same arguments give the same video.
        fps: Frame rate recorded in the metadata.
        camera_speed: Range of the camera pan speed in pixels per frame.
        object_speed: Range of the object speeds in pixels per frame (objects bounce off the frame borders).
        rotation: Let objects rotate slowly (at most 0.03 rad per frame).
        scaling: Let objects breathe in size (up to +-10 %).

    Returns:
        The :class:`SyntheticVideo`.

    Raises:
        ValueError: An argument is out of range (the message names it).
    """
    height, width = (int(v) for v in size)
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2 (flow needs a next frame), got {num_frames!r}")
    if height < 8 or width < 8:
        raise ValueError(f"size must be at least 8x8 pixels, got {height}x{width}")
    if num_objects < 0 or num_objects > 254:
        raise ValueError(f"num_objects must be in [0, 254], got {num_objects!r}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    rng = np.random.default_rng(seed)
    extent = min(height, width)
    t = np.arange(num_frames, dtype=np.float64)

    # Camera: a pan at constant velocity plus a slow sinusoidal wobble; background pixel p shows world p + c_t.
    direction = rng.uniform(0, 2 * math.pi)
    speed = rng.uniform(*camera_speed)
    wobble_amp, wobble_period, wobble_phase = rng.uniform(0, 3.0), rng.uniform(20, 60), rng.uniform(0, 2 * math.pi)
    camera = np.stack(
        [
            speed * math.cos(direction) * t + wobble_amp * np.sin(2 * math.pi * t / wobble_period + wobble_phase),
            speed * math.sin(direction) * t + wobble_amp * np.cos(2 * math.pi * t / wobble_period + wobble_phase),
        ],
        axis=1,
    )
    background = _Gratings(rng, 6, (0.25 * extent + 4, 0.6 * extent + 8), contrast=0.45)

    objects: list[dict[str, Any]] = []
    for index in range(num_objects):
        cls = int(rng.integers(1, len(CLASS_NAMES)))
        radius = float(rng.uniform(0.08, 0.18) * extent)
        # Smallest pattern wavelength 6 px keeps bilinear interpolation error low while staying visible.
        wavelength = float(max(6.0, rng.uniform(0.35, 0.7) * radius))
        colors = rng.uniform(0, 1, (2, 3))
        colors[1] = 1 - colors[0] * rng.uniform(0.3, 0.9)  # contrast between the two pattern colours
        angle = rng.uniform(0, 2 * math.pi)
        velocity = rng.uniform(*object_speed) * np.array([math.cos(angle), math.sin(angle)])
        start = rng.uniform([radius, radius], [width - 1 - radius, height - 1 - radius])
        cx = _reflect(start[0] + velocity[0] * t, radius, width - 1 - radius)
        cy = _reflect(start[1] + velocity[1] * t, radius, height - 1 - radius)
        # Draw every parameter whatever the switches, so that they do not change the rest of the layout.
        theta0, omega = rng.uniform(0, 2 * math.pi), rng.uniform(-0.03, 0.03)
        breathe_period, breathe_phase = rng.uniform(30, 90), rng.uniform(0, 2 * math.pi)
        theta = theta0 + omega * t * float(rotation)
        scale = 1.0 + 0.1 * np.sin(2 * math.pi * t / breathe_period + breathe_phase) * float(scaling)
        objects.append(
            {
                "index": index,
                "class_id": cls,
                "class_name": CLASS_NAMES[cls],
                "radius": radius,
                "wavelength": wavelength,
                "colors": colors.tolist(),
                "center": np.stack([cx, cy], axis=1).tolist(),
                "angle": np.asarray(theta).tolist(),
                "scale": np.asarray(scale).tolist(),
            }
        )

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    flows = np.empty((num_frames - 1, height, width, 2), dtype=np.float32)
    masks = np.zeros((num_frames, height, width), dtype=np.uint8)
    instances = np.zeros((num_frames, height, width), dtype=np.uint8)
    for f in range(num_frames):
        image = background(xs + camera[f, 0], ys + camera[f, 1])
        if f + 1 < num_frames:
            flow = np.empty((height, width, 2), dtype=np.float64)
            flow[..., 0] = camera[f, 0] - camera[f + 1, 0]
            flow[..., 1] = camera[f, 1] - camera[f + 1, 1]
        for obj in objects:  # painter's order: later objects are on top
            cx, cy = obj["center"][f]
            theta, scale = obj["angle"][f], obj["scale"][f]
            cos, sin = math.cos(theta), math.sin(theta)
            dx, dy = xs - cx, ys - cy
            qx, qy = (cos * dx + sin * dy) / scale, (-sin * dx + cos * dy) / scale  # q = R(-theta)(p - c) / s
            inside = _shape_inside(obj["class_id"], qx, qy, obj["radius"])
            if not inside.any():
                continue
            pattern = _shape_texture(obj["class_id"], qx[inside], qy[inside], obj["wavelength"])[:, None]
            colors = np.asarray(obj["colors"])
            image[inside] = pattern * colors[0] + (1 - pattern) * colors[1]
            masks[f][inside] = obj["class_id"]
            instances[f][inside] = obj["index"] + 1
            if f + 1 < num_frames:
                nx, ny = obj["center"][f + 1]
                ntheta, nscale = obj["angle"][f + 1], obj["scale"][f + 1]
                ncos, nsin = math.cos(ntheta), math.sin(ntheta)
                # p' = c_{t+1} + s_{t+1} R(theta_{t+1}) q
                px = nx + nscale * (ncos * qx[inside] - nsin * qy[inside])
                py = ny + nscale * (nsin * qx[inside] + ncos * qy[inside])
                flow[inside, 0] = px - xs[inside]
                flow[inside, 1] = py - ys[inside]
        frames[f] = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
        if f + 1 < num_frames:
            flows[f] = flow

    meta = {
        "classes": list(CLASS_NAMES),
        "palette": [list(c) for c in PALETTE],
        "fps": float(fps),
        "height": height,
        "width": width,
        "num_frames": int(num_frames),
        "seed": int(seed),
        "flow": "forward, frame t -> t + 1, (u, v) = (x, y) pixels; exact for the surface visible at t",
        "camera": {"offset": camera.tolist(), "convention": "background pixel p shows world point p + offset"},
        "objects": [
            {**obj, "center_convention": "(x, y) pixels", "angle_unit": "radians"} for obj in objects
        ],
    }
    return SyntheticVideo(frames, flows, masks, instances, meta)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Writes a flow field ``(H, W, 2)`` (x, y) as a Middlebury ``.flo`` file.

    Raises:
        ValueError: ``flow`` is not ``(H, W, 2)``.
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"a flow field must have shape (H, W, 2), got {flow.shape}")
    with open(path, "wb") as fh:
        np.array([FLO_MAGIC], dtype="<f4").tofile(fh)
        np.array([flow.shape[1], flow.shape[0]], dtype="<i4").tofile(fh)
        flow.astype("<f4").tofile(fh)


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Reads a Middlebury ``.flo`` file into a float32 ``(H, W, 2)`` array.

    Raises:
        ValueError: The file is not a valid ``.flo`` file (the message names it and the problem).
    """
    data = Path(path).read_bytes()
    if len(data) < 12 or np.frombuffer(data[:4], dtype="<f4")[0] != np.float32(FLO_MAGIC):
        raise ValueError(f"{str(path)!r} is not a Middlebury .flo file (bad header)")
    width, height = (int(v) for v in np.frombuffer(data[4:12], dtype="<i4"))
    expected = 12 + width * height * 2 * 4
    if width <= 0 or height <= 0 or len(data) != expected:
        raise ValueError(f"{str(path)!r}: header says {width}x{height} but the file has {len(data)} bytes")
    return np.frombuffer(data[12:], dtype="<f4").reshape(height, width, 2).copy()


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 0, pix_fmt: str = "yuv444p"
) -> None:
    """Encodes ``(T, H, W, 3)`` uint8 frames as an H.264 mp4 with imageio-ffmpeg (libx264).

    The default (``yuv444p``, ``crf=0``) is lossless up to the RGB <-> YUV rounding (about 0.4 grey levels), so
    the decoded frames match the ground truth; ``yuv420p`` gives the common, widely playable (lossy) format.

    Args:
        path: Output file (``.mp4``).
        frames: ``(T, H, W, 3)`` uint8 RGB frames.
        fps: Frame rate.
        crf: x264 constant rate factor (0 = lossless, 12 = visually lossless, 23 = x264's default).
        pix_fmt: ``"yuv444p"`` or ``"yuv420p"`` (needs even height and width).

    Raises:
        ValueError: A bad array shape, pixel format, or odd frame size with ``yuv420p``.
    """
    import imageio_ffmpeg

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    if pix_fmt not in ("yuv444p", "yuv420p"):
        raise ValueError(f"pix_fmt must be 'yuv444p' or 'yuv420p', got {pix_fmt!r}")
    height, width = frames.shape[1:3]
    if pix_fmt == "yuv420p" and (height % 2 or width % 2):
        raise ValueError(f"yuv420p video needs an even frame size, got {height}x{width} (use yuv444p)")
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out=pix_fmt,
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=["-crf", str(int(crf)), "-preset", "veryfast", "-g", str(max(1, int(round(fps))))],
    )
    writer.send(None)  # start the ffmpeg process
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def check_decord_readable(path: str | os.PathLike, num_frames: int, size: tuple[int, int]) -> None:
    """Checks that decord reads ``path`` back with ``num_frames`` frames of ``size`` x 3 channels.

    Raises:
        ValueError: decord cannot open the file or decodes it differently (the message names the file).
    """
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        count, shape = len(reader), tuple(reader[0].shape)
    except Exception as err:
        raise ValueError(f"decord cannot read back {str(path)!r}: {err}") from err
    if count != num_frames or shape != (*size, 3):
        raise ValueError(
            f"decord reads {str(path)!r} as {count} frames of shape {shape}, expected {num_frames} of "
            f"{(*size, 3)} (decord 0.6.0 mis-decodes some frame widths such as 16, 24, 48 and 72 px; "
            "choose another width)"
        )


def default_val_videos(num_videos: int) -> int:
    """The default held-out count: a quarter of the videos (0 for fewer than 4)."""
    return num_videos // 4


def write_synthetic_dataset(
    out: str | os.PathLike,
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
) -> dict[str, Any]:
    """Writes ``num_videos`` synthetic videos with their ground truth under ``out`` (layout: module docstring).

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
        verify: Check that decord reads every written video back (frame count and shape).
        val_videos: How many of the last videos form the held-out ``val`` split (default
            :func:`default_val_videos`: a quarter); their mp4 files go to ``OUT/videos_val``.
        camera_speed: Range of the camera pan speed, pixels per frame.
        object_speed: Range of the object speeds, pixels per frame.

    Returns:
        The content of ``OUT/dataset.json`` (with ``splits`` and per-split ``flow_stats``).

    Raises:
        ValueError: An argument is out of range, or decord cannot read a written video back.
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
    video_dirs = {"train": "videos", "val": "videos_val"}
    for sub in (*video_dirs.values(), "flow", "masks", "meta"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    splits: dict[str, list[str]] = {"train": [], "val": []}
    stats = {split: FlowStatistics() for split in splits}
    for i in range(num_videos):
        name = f"{prefix}_{i:04d}"
        split = "val" if i >= num_videos - num_val else "train"
        video = generate_video(num_frames, (height, width), num_objects, seed=seed + i, fps=fps,
                               camera_speed=camera_speed, object_speed=object_speed)
        video_path = root / video_dirs[split] / f"{name}.mp4"
        # A rerun with another split must not leave the video in the other folder (pretraining reads a folder).
        for other in video_dirs.values():
            (root / other / f"{name}.mp4").unlink(missing_ok=True)
        write_video(video_path, video.frames, fps, crf=crf, pix_fmt=pix_fmt)
        if verify:
            check_decord_readable(video_path, num_frames, (height, width))
        flow_dir, mask_dir = root / "flow" / name, root / "masks" / name
        flow_dir.mkdir(exist_ok=True)
        mask_dir.mkdir(exist_ok=True)
        for f, flow in enumerate(video.flows):
            write_flo(flow_dir / f"{f:06d}.flo", flow)
            stats[split].add(flow, video.instances[f], video.instances[f + 1])
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
        "classes": list(CLASS_NAMES),
        "palette": [list(c) for c in PALETTE],
        "fps": float(fps),
        "height": height,
        "width": width,
        "num_frames": int(num_frames),
        "num_objects": int(num_objects),
        "camera_speed": [float(v) for v in camera_speed],
        "object_speed": [float(v) for v in object_speed],
        "video_codec": f"libx264 {pix_fmt} crf {int(crf)}",
        "seed": int(seed),
        "flow_format": "Middlebury .flo, flow_dir/NNNNNN.flo = forward flow frame NNNNNN -> NNNNNN + 1",
        "mask_format": "8-bit PNG, class index per pixel, 0 = background",
        "frame_format": "8-bit RGB PNG, frame_dir/NNNNNN.png" if save_frames else "not written (save_frames=False)",
        "splits": splits,
        "flow_stats": {
            "unit": "pixels per frame step (|flow| of consecutive frames); fractions of all pixels",
            **{split: s.summary() for split, s in stats.items()},
        },
        "videos": entries,
    }
    (root / "dataset.json").write_text(json.dumps(summary, indent=2))
    return summary
