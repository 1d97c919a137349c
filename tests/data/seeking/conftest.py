"""Videos whose frames carry their own index, encoded on the spot with the ffmpeg of imageio-ffmpeg.

Each frame shows its index as a 4 x 3 grid of 16 x 16 px blocks (12 bits, dark = 0, light = 1), so a test can tell
which frame a reader really returned without trusting any decoder. The ``subtle`` variant shows it in one row of
8 x 8 px blocks on a flat grey frame: neighbouring frames then differ by only 3-7 grey levels on average, like slow
real footage. The encodings are the layouts where readers
that seek go wrong (docs/video-seeking.md): MPEG-4 Part 2 in AVI with B-frames, H.264 with open GOPs, variable
frame rate, plus closed-GOP H.264 as the control.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

HEIGHT, WIDTH, BLOCK = 48, 64, 16

#: name -> (file extension, ffmpeg output options). Keyframe intervals are sparse on purpose.
ENCODINGS: dict[str, tuple[str, list[str]]] = {
    "mpeg4_avi_bframes": (".avi", ["-c:v", "mpeg4", "-vtag", "XVID", "-q:v", "2", "-bf", "2", "-g", "100"]),
    "h264_open_gop": (
        ".mkv",
        [
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-crf",
            "12",
            "-x264-params",
            "keyint=60:min-keyint=60:scenecut=0:open-gop=1:bframes=3",
        ],
    ),
    "h264_vfr": (
        ".mkv",
        [
            "-vf",
            "setpts='(N+floor(N/3)*0.7)/(30*TB)'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-crf",
            "12",
            "-x264-params",
            "keyint=50:min-keyint=50:scenecut=0:bframes=2",
        ],
    ),
    "h264_closed_gop": (
        ".mp4",
        [
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-crf",
            "12",
            "-x264-params",
            "keyint=50:min-keyint=50:scenecut=0:bframes=2",
        ],
    ),
}


def index_frames(num_frames: int, subtle: bool = False) -> np.ndarray:
    """``(T, 48, 64, 3)`` uint8 frames, frame i showing i in binary (bit k at block row k // 4, column k % 4;
    ``subtle``: bit k at column k of the top row of 8 x 8 blocks, up to 255 frames)."""
    bits = (np.arange(num_frames)[:, None] >> np.arange(12)[None, :]) & 1
    levels = np.where(bits, 210, 45).astype(np.uint8)
    if subtle:
        frames = np.full((num_frames, HEIGHT, WIDTH), 128, dtype=np.uint8)
        frames[:, : BLOCK // 2, :] = levels[:, :8].repeat(BLOCK // 2, axis=1)[:, None, :]
    else:
        frames = levels.reshape(num_frames, 3, 4).repeat(BLOCK, axis=1).repeat(BLOCK, axis=2)
    return np.repeat(frames[..., None], 3, axis=3)


def frame_number(frame: np.ndarray, subtle: bool = False) -> int:
    """The index a decoded frame of :func:`index_frames` shows (block centres thresholded at mid-grey)."""
    grey = frame.astype(np.float32).mean(axis=2)
    if subtle:
        centres = grey[BLOCK // 4, BLOCK // 4 :: BLOCK // 2][:8]
    else:
        centres = grey[BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK][:3, :4].reshape(-1)
    return int(sum(1 << k for k, value in enumerate(centres) if value > 127))


def encode(path: Path, encoding: str, num_frames: int, fps: float = 30.0, frames: np.ndarray | None = None) -> Path:
    """Encodes ``frames`` (default: :func:`index_frames`) with ``ENCODINGS[encoding]`` to ``path`` (its extension
    is set) and returns it."""
    import imageio_ffmpeg

    suffix, options = ENCODINGS[encoding]
    path = path.with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{WIDTH}x{HEIGHT}",
        "-r",
        f"{fps:g}",
        "-i",
        "-",
        *options,
        str(path),
    ]
    raw = (index_frames(num_frames) if frames is None else frames).tobytes()
    subprocess.run(cmd, input=raw, check=True, capture_output=True, timeout=60)
    return path


@pytest.fixture(scope="session")
def index_video():
    """``encode(path, encoding, num_frames, fps=30, frames=None)``: writes a test video (see :data:`ENCODINGS`)."""
    return encode


@pytest.fixture(scope="session")
def index_frames_of():
    """``index_frames(num_frames, subtle=False)``: the raw frames :func:`encode` writes by default."""
    return index_frames


@pytest.fixture(scope="session")
def frame_number_of():
    """``frame_number(frame, subtle=False)``: the index a decoded test frame shows."""
    return frame_number
