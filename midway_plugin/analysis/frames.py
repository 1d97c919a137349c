"""Frames in and out of the analysis: video/image reading, resizing, normalisation, pixel ↔ token coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD  # the pretraining normalisation (§2.3)
from torch import Tensor

from midway_plugin.analysis.errors import AnalysisError
from midway_plugin.data.video.readers import open_reader
from midway_plugin.data.video.seek_check import check_random_access

__all__ = [
    "frame_indices",
    "normalize_frames",
    "parse_point",
    "parse_size",
    "point_to_token",
    "read_images",
    "read_video",
    "resize_frames",
    "token_center",
    "video_length",
]


def parse_size(text: str | int, patch_size: int | None = None) -> tuple[int, int]:
    """Parse ``"224"`` or ``"224x400"`` (height x width) into ``(H, W)``; both must divide by the patch.

    Raises:
        AnalysisError: naming the text.
    """
    raw = str(text).lower().replace(" ", "")
    parts = raw.split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) <= 0:
        raise AnalysisError(f"image size {text!r} is not N or HxW with positive integers")
    h, w = (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
    if patch_size and (h % patch_size or w % patch_size):
        raise AnalysisError(f"image size {h}x{w} (from {text!r}) is not divisible by the patch size {patch_size}")
    return h, w


def parse_point(text: str) -> tuple[float, float]:
    """Parse ``"x,y"`` (pixels of the resized frame, x to the right, y down).

    Raises:
        AnalysisError: naming the text.
    """
    parts = str(text).split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise AnalysisError(f"point {text!r} is not 'x,y' with two numbers (pixels of the resized frame)") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise AnalysisError(f"point {text!r} is not finite")
    return x, y


def point_to_token(point: tuple[float, float], size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """The ``(row, col)`` of the token holding pixel ``point = (x, y)`` in a frame of ``size = (H, W)``.

    Raises:
        AnalysisError: the point lies outside the frame (the message names the point and the frame size).
    """
    x, y = point
    h, w = size
    if not (0 <= x < w and 0 <= y < h):
        raise AnalysisError(
            f"point x,y = {x:g},{y:g} lies outside the {w}x{h} (width x height) frame; "
            f"valid: 0 <= x < {w}, 0 <= y < {h}"
        )
    return int(y) // patch_size, int(x) // patch_size


def token_center(row: int, col: int, patch_size: int) -> tuple[float, float]:
    """Pixel ``(x, y)`` of a token's centre."""
    return (col + 0.5) * patch_size, (row + 0.5) * patch_size


def _check_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{what} file {str(path)!r} does not exist")
    return path


def _open_video(path: Path):
    import decord  # import cost, and only `midway analyze` on a video needs it (as data/readers.py)

    try:
        return decord.VideoReader(str(path), num_threads=1)
    except Exception as err:  # decord raises its own DECORDError / RuntimeError types
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AnalysisError(f"cannot decode video {str(path)!r}: {first_line}") from None


def video_length(path: str | Path) -> int:
    """Number of frames of a video (decord)."""
    path = _check_file(Path(path), "video")
    return len(_open_video(path))


def frame_indices(path: str | Path, length: int, start: int, gap: int, count: int) -> list[int]:
    """The frame indices ``start, start+gap, …`` (``count`` of them), checked against the video's length.

    Raises:
        AnalysisError: naming the file, its length and the frame that does not exist.
    """
    if gap < 1:
        raise AnalysisError(f"frame gap must be >= 1, got {gap}")
    if start < 0:
        raise AnalysisError(f"frame index must be >= 0, got {start}")
    if length < 2:
        raise AnalysisError(f"video {str(path)!r} has {length} frame(s); the analysis needs at least two")
    indices = [start + k * gap for k in range(count)]
    if indices[-1] >= length:
        raise AnalysisError(
            f"video {str(path)!r} has {length} frames (0..{length - 1}); frame index {start} with gap {gap} "
            f"for {count} frames needs frame {indices[-1]}"
        )
    return indices


def read_video(path: str | Path, start: int, gap: int, count: int) -> tuple[np.ndarray, list[int]]:
    """Read ``count`` frames ``start, start+gap, …`` of a video as ``(T, H, W, 3)`` uint8 RGB.

    The frames are read with the reader the pretraining data uses for this file: decord where its random access
    is exact, an exact one where it is not (:func:`midway_plugin.data.video.seek_check.check_random_access`).

    Raises:
        AnalysisError: missing or undecodable file, or too few frames (naming the file).
    """
    path = _check_file(Path(path), "video")
    reader = _open_video(path)
    indices = frame_indices(path, len(reader), start, gap, count)
    try:
        name = check_random_access(path).reader
    except ValueError as err:  # OpenCV cannot open it: decord's frames cannot be checked
        raise AnalysisError(f"cannot check that video {str(path)!r} decodes the frames asked for: {err}") from None
    try:
        if name != "decord":
            reader = open_reader(name, path)
        frames = np.asarray(reader.get_batch(indices).asnumpy() if name == "decord" else reader.get_batch(indices))
    except Exception as err:
        raise AnalysisError(f"cannot decode frames {indices} of video {str(path)!r}: {err}") from None
    return frames, indices


def read_images(paths: Sequence[str | Path]) -> np.ndarray:
    """Read image files as ``(T, H, W, 3)`` uint8 RGB; all must share a size.

    Raises:
        AnalysisError: a file is missing/unreadable or the sizes differ (naming the file).
    """

    frames = []
    for p in paths:
        path = _check_file(Path(p), "image")
        try:
            with Image.open(path) as img:
                frames.append(np.asarray(img.convert("RGB")))
        except (UnidentifiedImageError, OSError) as err:
            raise AnalysisError(f"cannot read image {str(path)!r}: {err}") from None
        if frames[-1].shape != frames[0].shape:
            raise AnalysisError(
                f"image {str(path)!r} is {frames[-1].shape[1]}x{frames[-1].shape[0]} but {str(paths[0])!r} is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}"
            )
    return np.stack(frames)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(T, h, w, 3)`` uint8 frames to ``size = (H, W)`` (bicubic, as the pretraining crops)."""

    h, w = size
    out = [
        np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BICUBIC)) if f.shape[:2] != (h, w) else f
        for f in frames
    ]
    return np.stack(out)


def normalize_frames(frames: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """``(T, H, W, 3)`` uint8 → ``(T, 3, H, W)`` float, ImageNet mean/std normalised."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std
