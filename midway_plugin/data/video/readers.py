"""Frame readers: decord's random access, PyAV's keyframe-aware one, OpenCV's, and an exact sequential reader.

All readers answer the same three calls, so the dataset and the analysis do not care which one a file gets::

    reader = open_reader("sequential", path)   # or "decord", "pyav", "opencv", "cuda"
    len(reader)                 # frame count the container reports
    reader.get_avg_fps()        # average frame rate (0.0 when unknown)
    reader.get_batch([3, 90])   # (2, H, W, 3) uint8 RGB, in the order asked (decord: its NDArray)

"decord" and "opencv" (OpenCV's FFmpeg backend) seek: they jump to a keyframe and decode forward, trusting the
container's timestamps to know where they are. Each lands on other frames than the ones asked for on some files,
silently, and not on the same files (decord: MPEG-4 Part 2 in AVI with B-frames, H.264 with open GOPs; OpenCV:
variable frame rate; see docs/video-seeking.md). "pyav" (:mod:`~midway_plugin.data.video.pyav_reader`) identifies
frames by their timestamps from a demuxing pass and decodes from the keyframe before each wanted frame, skipping
frames nothing refers to. "sequential" never seeks: it decodes the stream from its first frame with OpenCV, and
frame i is the i-th frame that comes out, which is the definition of frame i. "cuda" decodes on the GPU
(:mod:`~midway_plugin.data.video.gpu_decode`; used only when ``decoder="cuda"`` is asked for).
:mod:`midway_plugin.data.video.seek_check` decides per file which reader is exact.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

#: Reader names, in the order the seek check prefers them ("sequential" is always exact, and slowest).
READERS: tuple[str, ...] = ("decord", "pyav", "opencv", "sequential")
#: Readers the seek check can check: the seeking CPU readers and the GPU decoder (only when asked for).
CHECKABLE_READERS: tuple[str, ...] = (*READERS[:-1], "cuda")

# "opencv": a wanted frame at most this far ahead is reached by decoding forward rather than by seeking.
_DECODE_AHEAD = 16


def as_numpy(frames: Any) -> np.ndarray:
    """A batch from any reader as a numpy array (decord returns its NDArray, or a tensor under its torch bridge)."""
    if hasattr(frames, "asnumpy"):
        frames = frames.asnumpy()
    elif hasattr(frames, "cpu"):  # a torch tensor, possibly on the GPU ("cuda" reader)
        frames = frames.cpu().numpy()
    elif hasattr(frames, "numpy"):
        frames = frames.numpy()
    return np.asarray(frames)


def open_decord(path: str | os.PathLike[str], width: int = -1, height: int = -1, num_threads: int = 1) -> Any:
    """Opens ``path`` with :class:`decord.VideoReader` on the CPU (-1: native width/height)."""
    import decord

    return decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=num_threads)


class OpenCVReader:
    """Frames decoded by OpenCV's FFmpeg backend, by seeking (``seek=True``) or strictly sequentially.

    Sequentially (the ``"sequential"`` reader) frame i is the i-th frame the decoder produces, always exact.
    Reaching frame i from the current position p <= i decodes i - p frames (without colour conversion for the
    skipped ones); an index before p reopens the file and decodes from frame 0. With ``seek`` (the ``"opencv"``
    reader) frames more than a few ahead or behind are reached with OpenCV's frame seek, exact only where the
    seek check says so.

    Args:
        path: The video file.
        width: Output width in pixels (-1: native); frames are resized with area interpolation.
        height: Output height in pixels (-1: native).
        seek: Seek (fast, not always exact) instead of decoding from the start.
        num_threads: FFmpeg decoder threads (0: OpenCV's choice, one per CPU core).

    Raises:
        ValueError: OpenCV cannot open the file (the message names it).
    """

    #: ``get_batch`` takes repeated indices and decodes each frame once.
    accepts_repeats = True

    def __init__(
        self, path: str | os.PathLike[str], width: int = -1, height: int = -1, seek: bool = False, num_threads: int = 1
    ) -> None:
        self.path = str(path)
        self.seek = seek
        self.num_threads = num_threads
        self._size = (width, height) if width > 0 and height > 0 else None
        self._capture: Any = cast(Any, None)
        self._position = 0  # index of the next frame the decoder will produce
        self._open()
        self._num_frames = max(0, int(self._capture.get(self._cv2.CAP_PROP_FRAME_COUNT)))
        fps = float(self._capture.get(self._cv2.CAP_PROP_FPS))
        self._fps = fps if np.isfinite(fps) and fps > 0 else 0.0

    def _open(self) -> None:
        import cv2

        self._cv2 = cv2
        if self._capture is not None:
            self._capture.release()
        params = [cv2.CAP_PROP_N_THREADS, self.num_threads] if self.num_threads > 0 else []
        capture = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            raise ValueError(f"OpenCV (FFmpeg) cannot open video {self.path!r}")
        # decord ignores rotation metadata; frames must keep the size the scan measured.
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        self._capture = capture
        self._position = 0

    def __len__(self) -> int:
        return self._num_frames

    def get_avg_fps(self) -> float:
        """The frame rate the container reports (0.0 when unknown)."""
        return self._fps

    @property
    def fourcc(self) -> str:
        """The stream's four-character codec tag as OpenCV reports it (e.g. ``XVID``, ``avc1``), or ``""``."""
        code = int(self._capture.get(self._cv2.CAP_PROP_FOURCC))
        text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
        return text.strip("\x00 ") if text.isprintable() else ""

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Frames ``indices`` (any order, repeats allowed) as ``(N, H, W, 3)`` uint8 RGB.

        Raises:
            IndexError: An index is negative or past the last frame the stream decodes (the message names the
                file, the index and how many frames it has).
        """
        wanted = sorted({int(i) for i in indices})
        if not wanted:
            return np.zeros((0, 0, 0, 3), dtype=np.uint8)
        if wanted[0] < 0:
            raise IndexError(f"frame index {wanted[0]} is negative (video {self.path!r})")
        if wanted[0] < self._position and not self.seek:
            self._open()
        frames: dict[int, np.ndarray] = {}
        for index in wanted:
            if self.seek and not 0 <= index - self._position <= _DECODE_AHEAD:
                self._capture.set(self._cv2.CAP_PROP_POS_FRAMES, index)
                self._position = index
            while self._position < index:
                if not self._capture.grab():
                    self._stream_ended(index)
                self._position += 1
            ok, frame = self._capture.read()
            if not ok:
                self._stream_ended(index)
            self._position += 1
            frames[index] = self._rgb(frame)
        return np.stack([frames[int(i)] for i in indices])

    def _stream_ended(self, index: int) -> None:
        ended = self._position
        self._open()  # the capture is past its end: the next batch starts afresh
        raise IndexError(
            f"frame {index} does not exist in video {self.path!r}: its stream ends after {ended} decoded frames "
            f"(the container claims {self._num_frames})"
        )

    def _rgb(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        if self._size is not None and (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def open_reader(
    name: str, path: str | os.PathLike[str], width: int = -1, height: int = -1, num_threads: int = 1
) -> Any:
    """Opens ``path`` with the reader called ``name`` (one of :data:`READERS`).

    Args:
        name: ``"decord"``, ``"pyav"``, ``"opencv"``, ``"sequential"`` or ``"cuda"`` (the GPU decoder,
            :mod:`~midway_plugin.data.video.gpu_decode`; frames come back as a tensor on the GPU).
        path: The video file.
        width: Output width in pixels (-1: native).
        height: Output height in pixels (-1: native).
        num_threads: Decoder threads (0: the library's automatic choice).

    Raises:
        ValueError: ``name`` is not a known reader.
    """
    if name == "decord":
        return open_decord(path, width=width, height=height, num_threads=num_threads)
    if name == "pyav":
        from midway_plugin.data.video.pyav_reader import PyAVReader

        return PyAVReader(path, width=width, height=height, num_threads=num_threads)
    if name in ("opencv", "sequential"):
        return OpenCVReader(path, width=width, height=height, seek=name == "opencv", num_threads=num_threads)
    if name == "cuda":
        from midway_plugin.data.video.gpu_decode import CUDAReader

        return CUDAReader(path, width=width, height=height, num_threads=num_threads)
    raise ValueError(f"unknown video reader {name!r}; expected one of {', '.join((*READERS, 'cuda'))}")
