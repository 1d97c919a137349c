"""A keyframe-aware reader with PyAV: frames identified by their timestamps, decoded from the nearest keyframe only.

decord and OpenCV seek by frame number and trust the container's timing to know where they landed, which is wrong on
some files (docs/video-seeking.md). This reader never counts: at opening it lists the timestamps (pts) of every packet
of the video stream without decoding anything (demuxing only), so frame ``i`` *is* the packet with the ``i``-th smallest
pts, as a sequential decode would produce it. To return frame ``i`` it seeks to the last keyframe whose pts is at most
frame ``i``'s (an open GOP's leading frames come after their keyframe in decode order, so they are reached too), decodes
forward and keeps the frame whose pts is frame ``i``'s; only kept frames are converted to RGB, and packets of frames no
other frame refers to (non-reference B-frames) are not decoded unless wanted, which changes no other frame. Sorted
requests decode forward without a new seek while the next wanted frame's keyframe is already behind the decoder, so a
window of nearby frames costs one seek. A seek that lands after the wanted frame (a container whose index is wrong)
falls back to decoding from the start of the file, and a frame that never comes out raises. One assumption remains: one
packet is one frame (true of MP4/MKV/MOV and of ordinary AVI; "packed" B-frames in old DivX AVI files put two frames in
one packet); the seek check verifies the reader on every file it is chosen for, so a file that breaks it gets another
reader.

PyAV's wheels ship their own FFmpeg, so this needs no system package. The timestamp index of the last few files is
kept per process (a folder-mode worker reopens a video for every item).
"""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

# Timestamp indexes kept per process: (path, size, mtime) -> (sorted frame pts, sorted keyframe pts).
_INDEX_CACHE: OrderedDict[tuple[str, int, int], tuple[np.ndarray, list[int]]] = OrderedDict()
_INDEX_CACHE_SIZE = 64


def _timestamp_index(container: Any, stream: Any, path: str) -> tuple[np.ndarray, list[int]]:
    """Sorted pts of every frame of ``stream`` and of its keyframes, from one demuxing pass (no decoding).

    Raises:
        ValueError: A packet has no timestamp, or two packets share one (the frames cannot be told apart).
    """
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key in _INDEX_CACHE:
        _INDEX_CACHE.move_to_end(key)
        return _INDEX_CACHE[key]
    pts: list[int] = []
    keyframes: list[int] = []
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's final flush packet
            continue
        if packet.pts is None:
            raise ValueError(f"video {path!r} has packets without timestamps: PyAV cannot identify its frames")
        pts.append(int(packet.pts))
        if packet.is_keyframe:
            keyframes.append(int(packet.pts))
    frames = np.sort(np.asarray(pts, dtype=np.int64))
    if len(frames) > 1 and not np.all(np.diff(frames) > 0):
        raise ValueError(f"video {path!r} has frames with equal timestamps: PyAV cannot identify its frames")
    if not keyframes or keyframes[0] > frames[0]:
        keyframes.insert(0, int(frames[0]) if len(frames) else 0)  # the first frame always starts a decode
    result = frames, sorted(keyframes)
    _INDEX_CACHE[key] = result
    while len(_INDEX_CACHE) > _INDEX_CACHE_SIZE:
        _INDEX_CACHE.popitem(last=False)
    return result


class PyAVReader:
    """Exact random access with PyAV: frames found by timestamp, decoded from the nearest keyframe before them.

    Args:
        path: The video file.
        width: Output width in pixels (-1: native); frames are scaled with area interpolation.
        height: Output height in pixels (-1: native).
        num_threads: FFmpeg decoder threads (0: FFmpeg's choice); with 1 (the dataset's default) frames nothing
            refers to are not decoded unless wanted.

    Raises:
        ValueError: PyAV cannot open the file, it has no video stream, or its frames have no usable timestamps
            (the message names the file).
    """

    #: ``get_batch`` takes repeated indices and decodes each frame once.
    accepts_repeats = True

    def __init__(self, path: str | os.PathLike[str], width: int = -1, height: int = -1, num_threads: int = 1) -> None:
        import av

        self.path = str(path)
        self._size = (width, height) if width > 0 and height > 0 else None
        try:
            self._container = av.open(self.path)
        except Exception as err:  # PyAV raises its FFmpegError subclasses
            raise ValueError(f"PyAV cannot open video {self.path!r}: {str(err).strip()[:200]}") from None
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"video {self.path!r} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_count = max(0, int(num_threads))
        try:
            self._pts, self._keyframes = _timestamp_index(self._container, self._stream, self.path)
        except Exception:
            self._container.close()
            raise
        rate = self._stream.average_rate
        self._fps = float(rate) if rate is not None and float(rate) > 0 else 0.0
        self._frames: Iterator[Any] | None = None  # the decoder's output since the last seek
        self._last_pts: int | None = None  # pts of the last frame it produced
        #: Skip decoding frames that no other frame refers to, unless wanted (one decoder thread only: with
        #: several, the per-packet setting could apply to another packet than the one it was made for).
        self.skip_unreferenced = int(num_threads) == 1
        self._wanted: set[int] = set()
        #: Frames decoded and seeks made so far (for benchmarks and tests).
        self.decoded = 0
        self.seeks = 0

    def __len__(self) -> int:
        return len(self._pts)

    def get_avg_fps(self) -> float:
        """The stream's average frame rate (0.0 when unknown)."""
        return self._fps

    def keyframe_indices(self) -> list[int]:
        """Frame indices of the keyframes (where a decode can start)."""
        return [int(i) for i in np.searchsorted(self._pts, self._keyframes)]

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Frames ``indices`` (any order, repeats allowed) as ``(N, H, W, 3)`` uint8 RGB.

        Raises:
            IndexError: An index is out of range (the message names the file, the index and the frame count).
            RuntimeError: The decoder never produced a wanted frame (a damaged stream).
        """
        wanted = sorted({int(i) for i in indices})
        if not wanted:
            return np.zeros((0, 0, 0, 3), dtype=np.uint8)
        for index in (wanted[0], wanted[-1]):
            if not 0 <= index < len(self._pts):
                raise IndexError(f"frame index {index} out of range for video {self.path!r} of {len(self)} frames")
        self._wanted = {int(self._pts[i]) for i in wanted}
        frames = {index: self._frame(int(self._pts[index]), index) for index in wanted}
        return np.stack([frames[int(i)] for i in indices])

    def _frame(self, target: int, index: int) -> np.ndarray:
        key = self._keyframes[bisect.bisect_right(self._keyframes, target) - 1]
        # Decode forward when the decoder is before the target and already past the target's keyframe.
        if self._frames is None or self._last_pts is None or not key <= self._last_pts < target:
            self._seek(key)
        frame = self._decode_to(target)
        if frame is None:  # the seek landed after the target (a wrong container index): decode from the start
            self._seek(self._keyframes[0])
            frame = self._decode_to(target)
        if frame is None:
            raise RuntimeError(f"frame {index} (pts {target}) of video {self.path!r} never came out of the decoder")
        return self._rgb(frame)

    def _decode_to(self, target: int) -> Any:
        """Decodes forward to the frame of pts ``target``; None (and a seek needed next) when it was passed."""
        assert self._frames is not None
        for frame in self._frames:
            if frame.pts is None:
                continue
            pts = int(frame.pts)
            if pts == target:
                self._last_pts = pts
                return frame
            if pts > target:  # frames come out in pts order: the target will not come any more
                break
            self._last_pts = pts
        self._frames = None
        return None

    def _decoded_frames(self) -> Iterator[Any]:
        """The decoder's frames from the current demuxer position. Packets of frames no other frame refers to
        are not decoded unless wanted (their pts is known before decoding): skipping them changes no other frame."""
        context = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            if self.skip_unreferenced:
                context.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in self._wanted else "NONREF"
            for frame in context.decode(packet):
                self.decoded += 1
                yield frame

    def _seek(self, pts: int) -> None:
        self.seeks += 1
        self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
        self._frames = self._decoded_frames()
        self._last_pts = None

    def _rgb(self, frame: Any) -> np.ndarray:
        if self._size is None:
            return np.asarray(frame.to_ndarray(format="rgb24"))
        width, height = self._size
        return np.asarray(frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA"))

    def close(self) -> None:
        """Closes the file."""
        self._container.close()

    def __del__(self) -> None:
        try:
            self._container.close()
        except Exception:  # interpreter shutdown, or never opened
            pass
