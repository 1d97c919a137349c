"""Pictures for the analysis: heatmap overlays, point markers, grids, track strips and GIFs (PIL + matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "TRACK_COLORS",
    "colorize",
    "display_scale",
    "draw_arrows",
    "draw_points",
    "draw_tracks",
    "hstack",
    "labelled",
    "overlay_heatmap",
    "save_gif",
    "save_png",
    "upscale",
    "vstack",
]

#: Marker colours: perturbation track, feature-similarity baseline, then further points.
TRACK_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 255, 128),
    (255, 64, 64),
    (64, 160, 255),
    (255, 210, 0),
    (255, 0, 255),
    (0, 255, 255),
)


def display_scale(size: tuple[int, int], minimum: int = 224) -> int:
    """Integer upscaling so the shorter side of a picture is at least ``minimum`` pixels (tiny test frames)."""
    return max(1, -(-minimum // max(1, min(size))))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour integer upscaling of an ``(H, W, C)`` image (keeps token boundaries sharp)."""
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def colorize(
    heat: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "inferno"
) -> np.ndarray:
    """Map a 2-D array to RGB uint8 with a matplotlib colormap; range ``[vmin, vmax]`` (default: its min/max)."""
    from matplotlib import colormaps  # import cost (~0.5 s): only when a picture is coloured

    heat = np.asarray(heat, dtype=np.float64)
    lo = float(np.nanmin(heat)) if vmin is None else vmin
    hi = float(np.nanmax(heat)) if vmax is None else vmax
    scaled = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    rgba = colormaps[cmap](np.clip(scaled, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def overlay_heatmap(
    frame: np.ndarray,
    heat: np.ndarray,
    *,
    alpha: float = 0.6,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "inferno",
) -> np.ndarray:
    """Blend a token-grid heatmap ``(h, w)`` over a frame ``(H, W, 3)`` uint8 (each token a block of pixels)."""

    color = colorize(heat, vmin, vmax, cmap)
    h_px, w_px = frame.shape[:2]
    color = np.asarray(Image.fromarray(color).resize((w_px, h_px), Image.Resampling.NEAREST))
    out = (1.0 - alpha) * frame.astype(np.float64) + alpha * color.astype(np.float64)
    return out.round().clip(0, 255).astype(np.uint8)


def draw_points(
    frame: np.ndarray,
    points: Sequence[tuple[float, float]],
    *,
    colors: Sequence[tuple[int, int, int]] = TRACK_COLORS,
    labels: Sequence[str] | None = None,
    radius: int = 5,
) -> np.ndarray:
    """Draw ringed markers (and optional labels) at pixel ``(x, y)`` points; returns a new image."""

    img = Image.fromarray(frame.copy())
    draw = ImageDraw.Draw(img)
    for k, (x, y) in enumerate(points):
        color = tuple(colors[k % len(colors)])
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, outline=(0, 0, 0), width=max(1, radius // 2) + 2)
        draw.ellipse(box, outline=color, width=max(1, radius // 2))
        if labels is not None:
            draw.text((x + radius + 2, y - radius - 2), labels[k], fill=color, stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(img)


def draw_tracks(
    frames: np.ndarray,
    tracks: Sequence[Sequence[tuple[float, float]]],
    *,
    colors: Sequence[tuple[int, int, int]] = TRACK_COLORS,
    radius: int = 5,
) -> list[np.ndarray]:
    """Draw each track on every frame: its path up to that frame as a line, the current point as a marker.

    The first track is drawn last (on top, smallest ring); later tracks get larger rings so that coinciding
    points stay visible.
    """

    out = []
    for t, frame in enumerate(frames):
        img = Image.fromarray(np.ascontiguousarray(frame))
        draw = ImageDraw.Draw(img)
        for k in reversed(range(len(tracks))):
            color = tuple(colors[k % len(colors)])
            path = [tuple(map(float, p)) for p in tracks[k][: t + 1]]
            if len(path) > 1:
                draw.line(path, fill=(0, 0, 0), width=4)
                draw.line(path, fill=color, width=2)
            x, y = path[-1]
            rad = radius + 3 * k
            draw.ellipse((x - rad, y - rad, x + rad, y + rad), outline=(0, 0, 0), width=4)
            draw.ellipse((x - rad, y - rad, x + rad, y + rad), outline=color, width=2)
        out.append(np.asarray(img))
    return out


def draw_arrows(
    frame: np.ndarray,
    starts: Sequence[tuple[float, float]],
    ends: Sequence[tuple[float, float]],
    *,
    color: tuple[int, int, int] = (0, 255, 128),
    head: float = 4.0,
) -> np.ndarray:
    """Draw an arrow from each start to its end (a dot where they coincide); returns a new image."""

    img = Image.fromarray(np.ascontiguousarray(frame))
    draw = ImageDraw.Draw(img)
    for (x0, y0), (x1, y1) in zip(starts, ends, strict=True):
        dx, dy = x1 - x0, y1 - y0
        length = float(np.hypot(dx, dy))
        if length < 1e-6:
            draw.ellipse((x0 - 2, y0 - 2, x0 + 2, y0 + 2), fill=color, outline=(0, 0, 0))
            continue
        draw.line([(x0, y0), (x1, y1)], fill=(0, 0, 0), width=3)
        draw.line([(x0, y0), (x1, y1)], fill=color, width=1)
        ux, uy = dx / length, dy / length
        left = (x1 - head * (ux - 0.5 * uy), y1 - head * (uy + 0.5 * ux))
        right = (x1 - head * (ux + 0.5 * uy), y1 - head * (uy - 0.5 * ux))
        draw.polygon([(x1, y1), left, right], fill=color, outline=(0, 0, 0))
    return np.asarray(img)


def labelled(image: np.ndarray, text: str, height: int = 16) -> np.ndarray:
    """Add a black caption strip above an image."""

    strip = Image.new("RGB", (image.shape[1], height), (0, 0, 0))
    ImageDraw.Draw(strip).text((3, 2), text, fill=(255, 255, 255))
    return np.concatenate([np.asarray(strip), image], axis=0)


def _pad_to(image: np.ndarray, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w, 3), dtype=np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def hstack(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Place images side by side (top-aligned, black gaps)."""
    h = max(i.shape[0] for i in images)
    parts = []
    for k, img in enumerate(images):
        if k:
            parts.append(np.zeros((h, gap, 3), dtype=np.uint8))
        parts.append(_pad_to(img, h, img.shape[1]))
    return np.concatenate(parts, axis=1)


def vstack(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Stack images vertically (left-aligned, black gaps)."""
    w = max(i.shape[1] for i in images)
    parts = []
    for k, img in enumerate(images):
        if k:
            parts.append(np.zeros((gap, w, 3), dtype=np.uint8))
        parts.append(_pad_to(img, img.shape[0], w))
    return np.concatenate(parts, axis=0)


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write an RGB uint8 image as PNG."""

    Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG")
    return Path(path)


def save_gif(frames: Sequence[np.ndarray], path: Path, *, duration_ms: int = 400) -> Path:
    """Write frames as a looping GIF (PIL)."""

    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return Path(path)
