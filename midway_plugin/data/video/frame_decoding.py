"""Decoding the frames of sampled pairs: the reader of each video, the decode size, one sorted batch per item.

Every pair of an item is decoded with one sorted ``get_batch`` call over their distinct frame indices. decord is
reached through :func:`open_video` only (tests wrap it to count or break decoding); a video whose random access is
inexact is read with the exact reader the scan chose (:mod:`~midway_plugin.data.video.readers`).

``decoder`` (the dataset's ``decoder`` argument, ``data.decoder``) overrides that choice for every file:
``"auto"`` keeps the scan's reader, ``"pyav"`` reads every file with the keyframe-aware PyAV reader
(:mod:`~midway_plugin.data.video.pyav_reader`; a file PyAV cannot index, or that the scan's check found PyAV wrong on,
keeps the scan's reader),
``"cuda"`` decodes on the GPU (:mod:`~midway_plugin.data.video.gpu_decode`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
import torch

from midway_plugin.data.video.info import VideoInfo
from midway_plugin.data.video.readers import as_numpy, open_decord, open_reader

# decord readers inherited through fork() by DataLoader workers. They are kept referenced, never destroyed: their
# decoder thread did not survive the fork, so their destructor would wait for it forever (a hung worker).
_INHERITED_READERS: list[Any] = []


def open_video(path: str | os.PathLike[str], width: int = -1, height: int = -1, num_threads: int = 1) -> Any:
    """Opens ``path`` with :class:`decord.VideoReader` on the CPU.

    The single place where the dataset (scan and decoding) touches decord's reader.

    Args:
        path: The video file.
        width: Decode width in pixels (-1: native).
        height: Decode height in pixels (-1: native).
        num_threads: Decoder threads (0: decord's automatic choice).

    Returns:
        The open ``decord.VideoReader``.
    """
    return open_decord(path, width=width, height=height, num_threads=num_threads)


def decode_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """The (height, width) a frame of native size (height, width) is decoded at (shorter side <= ``short_side``)."""
    if short_side is None or min(height, width) <= short_side:
        return height, width
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


Decoder = Literal["auto", "pyav", "cuda"]
#: The choices of ``decoder``.
DECODERS: tuple[str, ...] = ("auto", "pyav", "cuda")


def open_for_decoding(info: VideoInfo, resized: bool, num_threads: int, decoder: str = "auto") -> Any:
    """Opens ``info``'s video with its reader (or ``decoder``'s), at its decode size when ``resized`` (else native).

    Raises:
        ValueError: ``decoder`` is not one of :data:`DECODERS`.
    """
    width, height = (info.width, info.height) if resized else (-1, -1)
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
    if decoder == "cuda":
        return open_reader("cuda", info.path, width=width, height=height, num_threads=num_threads)
    pyav_failed_check = info.seek is not None and "pyav" in info.seek.differences and info.reader != "pyav"
    if decoder == "pyav" and info.reader != "pyav" and not pyav_failed_check:
        try:
            return open_reader("pyav", info.path, width=width, height=height, num_threads=num_threads)
        except ValueError:  # PyAV cannot identify this file's frames: the scan's exact reader
            pass
    if info.reader == "decord":
        return open_video(info.path, width=width, height=height, num_threads=num_threads)
    return open_reader(info.reader, info.path, width=width, height=height, num_threads=num_threads)


class ReaderCache:
    """The two most recently used readers of this process (``"single"`` mode reads one long video sequentially).

    After a ``fork()`` (a DataLoader worker) the parent's readers are set aside, never destroyed, and the worker
    opens its own. Not pickled: readers must not cross processes.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._readers: OrderedDict[int, Any] = OrderedDict()
        self._pid = os.getpid()

    def get(self, key: int, open_reader_: Any) -> Any:
        """The reader of video ``key``, opened with ``open_reader_()`` when not cached."""
        if self._pid != os.getpid():  # forked worker: open its own readers, never destroy the parent's
            _INHERITED_READERS.extend(self._readers.values())
            self._readers = OrderedDict()
            self._pid = os.getpid()
        if key in self._readers:
            self._readers.move_to_end(key)
            return self._readers[key]
        reader = open_reader_()
        self._readers[key] = reader
        while len(self._readers) > self.size:
            self._readers.popitem(last=False)
        return reader

    def drop(self, key: int) -> None:
        """Forgets the reader of video ``key`` (after it failed)."""
        self._readers.pop(key, None)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_readers": OrderedDict()}


def decode_pairs(reader: Any, pairs: np.ndarray, reader_name: str) -> Any:
    """Decodes every frame of ``pairs`` ``(R, 2)`` with one sorted get_batch call; returns (R, 2, H, W, 3) uint8.

    A numpy array, except from the GPU decoder, whose frames stay a tensor on the GPU.

    Raises:
        RuntimeError: The reader returned another number of frames than requested.
    """
    if getattr(reader, "accepts_repeats", False):  # one stacked copy, in the pairs' order, each frame decoded once
        frames = as_numpy(reader.get_batch(pairs.reshape(-1).tolist()))
        if frames.shape[0] != pairs.size:
            raise RuntimeError(f"the {reader_name} reader returned {frames.shape[0]} frames for {pairs.size} requested")
        return frames.reshape(*pairs.shape, *frames.shape[1:])
    unique, inverse = np.unique(pairs.reshape(-1), return_inverse=True)
    frames = reader.get_batch(unique.tolist())
    if isinstance(frames, torch.Tensor) and frames.is_cuda:
        take: Any = torch.from_numpy(inverse.reshape(pairs.shape)).to(frames.device)
    else:
        frames, take = as_numpy(frames), inverse.reshape(pairs.shape)
    if frames.shape[0] != len(unique):
        raise RuntimeError(f"the {reader_name} reader returned {frames.shape[0]} frames for {len(unique)} requested")
    return frames[take]
