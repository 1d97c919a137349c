"""Writing frames as an H.264 mp4 (imageio-ffmpeg's libx264) and checking that the dataset reads it back as written."""

from __future__ import annotations

import os

import numpy as np


def write_video(
    path: str | os.PathLike[str], frames: np.ndarray, fps: float, crf: int = 0, pix_fmt: str = "yuv444p"
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


def check_readable(path: str | os.PathLike[str], num_frames: int, size: tuple[int, int]) -> str:
    """Checks that the dataset's readers read ``path`` back with ``num_frames`` frames of ``size`` x 3 channels.

    decord first; where decord 0.6.0 mis-decodes the frame width (e.g. 16, 24, 48 and 72 px, into 4-channel
    garbage), PyAV, the reader the dataset falls back to for such files.

    Returns:
        The reader that reads it back (``"decord"`` or ``"pyav"``).

    Raises:
        ValueError: Neither reads the file back as written (the message names the file).
    """
    import decord

    from midway_plugin.data.video.readers import open_reader

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        count, shape = len(reader), tuple(reader[0].shape)
    except Exception as err:
        raise ValueError(f"decord cannot read back {str(path)!r}: {err}") from err
    if count != num_frames:
        raise ValueError(f"decord reads {str(path)!r} as {count} frames, expected {num_frames}")
    if shape == (*size, 3):
        return "decord"
    try:
        pyav = open_reader("pyav", path)
        pyav_count, pyav_shape = len(pyav), tuple(pyav.get_batch([0, num_frames - 1]).shape[1:])
    except Exception as err:  # PyAV's errors
        pyav_count, pyav_shape = -1, (str(err)[:100],)
    if pyav_count == num_frames and pyav_shape == (*size, 3):
        return "pyav"
    raise ValueError(
        f"{str(path)!r} is not read back as written: decord decodes frames of shape {shape} and PyAV "
        f"{pyav_count} frames of {pyav_shape}, expected {num_frames} of {(*size, 3)}"
    )
