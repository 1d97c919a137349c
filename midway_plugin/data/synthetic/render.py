"""Synthetic video with exact ground truth: textured objects moving over a textured, panning background.

Every pixel is rendered analytically (no resampling of an image): the background is a sum of coloured sinusoidal
gratings evaluated at world coordinates ``p + c_t`` (``c_t``: camera offset at frame t), and each object is a
shape with its own procedural texture evaluated in the object's local coordinates
``q = R(-theta_t) (p - center_t) / s_t``. The forward optical flow from frame t to t + g (``g``: the frame gap,
1 by default) is therefore exact: ``c_t - c_{t+g}`` on the background and ``center_{t+g} + s_{t+g} R(theta_{t+g}) q
- p`` on an object (the flow of the surface visible at ``p`` in frame t; occluded destinations are not marked).
The camera moves at a constant velocity plus a slow sinusoidal wobble (``camera_wobble = 0``: a pure pan).

Classes (the segmentation label of a pixel is the class of the topmost object, 0 = background):
``0 background, 1 disc, 2 square, 3 triangle``. Each class has its own texture family (rings, checks, stripes).

In memory: :func:`generate_video` -> :class:`SyntheticVideo` (frames, flows, masks as numpy); on disk:
:func:`~midway_plugin.data.synthetic.writer.write_synthetic_dataset` (``midway make-video``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("background", "disc", "square", "triangle")
#: RGB colour per class for visualising masks (mmseg-style palette).
PALETTE: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (220, 20, 60), (0, 142, 255), (250, 170, 30))


@dataclass
class SyntheticVideo:
    """One generated video and its ground truth.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 RGB frames.
        flows: ``(T - g, H, W, 2)`` float32 forward flow, ``flows[t]`` maps frame t to frame t + g (x, y order;
            ``g``: the ``frame_gap``, 1 by default).
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


def describe_videos(fps: float, height: int, width: int, num_frames: int) -> dict[str, Any]:
    """The fields a video's metadata and the dataset's index share: classes, palette, fps, size, frame count."""
    return {
        "classes": list(CLASS_NAMES),
        "palette": [list(c) for c in PALETTE],
        "fps": float(fps),
        "height": int(height),
        "width": int(width),
        "num_frames": int(num_frames),
    }


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
    frame_gap: int = 1,
    camera_wobble: float = 3.0,
    texture_wavelength: tuple[float, float] | None = None,
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
        frame_gap: The flow ground truth maps frame t to frame t + ``frame_gap`` (1 <= gap < num_frames).
        camera_wobble: Largest amplitude in pixels of the camera's sinusoidal wobble (each video draws its own in
            ``[0, camera_wobble]``; period 20-60 frames); 0 = a constant-velocity pan.
        texture_wavelength: ``(min, max)`` wavelength in pixels of the background gratings and the object patterns
            (min >= 2); None = the defaults, relative to the frame size (background ``0.25-0.6 x`` the shorter
            side, objects ``0.35-0.7 x`` their radius, at least 6 px). Longer waves stay matchable at larger motion.

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
    if isinstance(frame_gap, bool) or int(frame_gap) != frame_gap or not 1 <= frame_gap < num_frames:
        raise ValueError(
            f"frame_gap must be an integer in [1, num_frames - 1] = [1, {num_frames - 1}], got {frame_gap!r}"
        )
    gap = int(frame_gap)
    if not 0 <= camera_wobble < math.inf:
        raise ValueError(f"camera_wobble must be a finite number >= 0 (pixels), got {camera_wobble!r}")
    if texture_wavelength is not None and not 2 <= texture_wavelength[0] <= texture_wavelength[1] < math.inf:
        raise ValueError(
            f"texture_wavelength must be (min, max) pixels with 2 <= min <= max, got {tuple(texture_wavelength)!r}"
        )
    rng = np.random.default_rng(seed)
    extent = min(height, width)
    t = np.arange(num_frames, dtype=np.float64)

    # Camera: a pan at constant velocity plus a slow sinusoidal wobble; background pixel p shows world p + c_t.
    direction = rng.uniform(0, 2 * math.pi)
    speed = rng.uniform(*camera_speed)
    wobble_amp, wobble_period = rng.uniform(0, camera_wobble), rng.uniform(20, 60)
    wobble_phase = rng.uniform(0, 2 * math.pi)
    camera = np.stack(
        [
            speed * math.cos(direction) * t + wobble_amp * np.sin(2 * math.pi * t / wobble_period + wobble_phase),
            speed * math.sin(direction) * t + wobble_amp * np.cos(2 * math.pi * t / wobble_period + wobble_phase),
        ],
        axis=1,
    )
    velocity_cam = (speed * math.cos(direction), speed * math.sin(direction))
    background = _Gratings(rng, 6, texture_wavelength or (0.25 * extent + 4, 0.6 * extent + 8), contrast=0.45)

    objects: list[dict[str, Any]] = []
    for index in range(num_objects):
        cls = int(rng.integers(1, len(CLASS_NAMES)))
        radius = float(rng.uniform(0.08, 0.18) * extent)
        # Smallest pattern wavelength 6 px keeps bilinear interpolation error low while staying visible.
        draw = rng.uniform(0.35, 0.7)
        if texture_wavelength is None:
            wavelength = float(max(6.0, draw * radius))
        else:  # the same draw, mapped onto the requested range (the rest of the layout does not change)
            lo, hi = texture_wavelength
            wavelength = float(lo + (hi - lo) * (draw - 0.35) / 0.35)
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
    flows = np.empty((num_frames - gap, height, width, 2), dtype=np.float32)
    masks = np.zeros((num_frames, height, width), dtype=np.uint8)
    instances = np.zeros((num_frames, height, width), dtype=np.uint8)
    for f in range(num_frames):
        image = background(xs + camera[f, 0], ys + camera[f, 1])
        g = f + gap  # the flow's destination frame
        if g < num_frames:
            flow = np.empty((height, width, 2), dtype=np.float64)
            flow[..., 0] = camera[f, 0] - camera[g, 0]
            flow[..., 1] = camera[f, 1] - camera[g, 1]
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
            if g < num_frames:
                nx, ny = obj["center"][g]
                ntheta, nscale = obj["angle"][g], obj["scale"][g]
                ncos, nsin = math.cos(ntheta), math.sin(ntheta)
                # p' = c_{t+g} + s_{t+g} R(theta_{t+g}) q
                px = nx + nscale * (ncos * qx[inside] - nsin * qy[inside])
                py = ny + nscale * (nsin * qx[inside] + ncos * qy[inside])
                flow[inside, 0] = px - xs[inside]
                flow[inside, 1] = py - ys[inside]
        frames[f] = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
        if g < num_frames:
            flows[f] = flow

    meta = {
        **describe_videos(fps, height, width, num_frames),
        "seed": int(seed),
        "flow": f"forward, frame t -> t + {gap}, (u, v) = (x, y) pixels; exact for the surface visible at t",
        "frame_gap": gap,
        "camera": {
            "offset": camera.tolist(),
            "convention": "background pixel p shows world point p + offset; the offset grows by velocity per "
            "frame plus the wobble (a background pixel moves by -velocity per frame)",
            "velocity": list(velocity_cam),
            "wobble_amplitude": float(wobble_amp),
        },
        "objects": [{**obj, "center_convention": "(x, y) pixels", "angle_unit": "radians"} for obj in objects],
    }
    return SyntheticVideo(frames, flows, masks, instances, meta)
