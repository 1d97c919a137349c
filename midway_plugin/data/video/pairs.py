"""Frame pairs from video, read with decord: the pretraining data of Midway Network.

API (what the Lightly method and the CLI use)::

    from midway_plugin.data.video import VideoPairDataset
    from midway_plugin.data.views import MidwayTransform, flatten_pairs

    ds = VideoPairDataset(
        root,                       # a folder (searched recursively) or one video file
        transform=MidwayTransform(),  # paired transform: f(frame_t, frame_t_plus_dt) -> views; None = raw frames
        delta_t=(15, 30),           # frame gap range, inclusive, in ``delta_unit``
        delta_unit="frames",        # or "seconds" (converted with each video's own fps)
        repeat=5,                   # R pairs per video opening ("folder" mode only)
        mode="auto",                # "folder": one item per video; "single": every start frame is an item
    )
    item = ds[i]
    item["views"]          # the transform's output with every tensor stacked over the R pairs: (R, C, H, W)
    item["frame_indices"]  # LongTensor (R, 2): [t, t + dt] of each pair
    item["video_index"]    # int: index into ds.videos (VideoInfo: path, num_frames, fps, height, width)
    item["path"]           # str: the video file

    loader = DataLoader(ds, batch_size=B, shuffle=True, num_workers=...)   # default collate
    batch = next(iter(loader))
    views = flatten_pairs(batch["views"])   # every (B, R, C, H, W) tensor -> (B * R, C, H, W)

Modes (docs/paper.md §2.2):

* ``"folder"`` (BDD100K): every video file under ``root`` (extensions :data:`VIDEO_EXTENSIONS`, any depth) is one
  item; each time a video is opened, ``repeat`` pairs are drawn (repeat sampling, MAE-st; the paper uses R = 5) and
  the frames of all of them are decoded with one sorted ``get_batch`` call. One pass over the dataset therefore
  shows ``repeat`` pairs per video.
* ``"single"`` (Walking Tours): every start frame ``t`` that leaves room for the smallest gap is one item (all
  pairs of the video; several videos are concatenated). ``repeat`` must be 1.
* ``"auto"``: ``"single"`` when ``root`` is a file, ``"folder"`` when it is a directory.

The pairs are drawn by :mod:`~midway_plugin.data.video.pair_sampling` (dt uniform in ``delta_t``, t uniform), the files
found and probed by :mod:`~midway_plugin.data.video.scan`, the frames decoded by
:mod:`~midway_plugin.data.video.frame_decoding`.

Bad input: at construction every candidate file is opened once with decord (frame count, fps, first frame). A
corrupt, empty, unreadable or too-short file (fewer than ``min dt + 1`` frames) is skipped with one
:class:`UnusableVideoWarning` naming it and the reason; when nothing usable is left, :class:`NoUsableVideoError`
names the root and the count of skipped files per reason. A file that fails to decode later (in ``__getitem__``)
is reported once per worker process and replaced by another item (deterministic fallback), so training goes on.

Exact frames: decord's random access returns wrong frames on some files (e.g. MPEG-4 Part 2 in AVI with B-frames).
The scan checks a few random-access reads of every file against a sequential decode
(:mod:`~midway_plugin.data.video.seek_check`; ``seek_check="fallback"``, the default): a file where they differ gets an
:class:`~midway_plugin.data.video.seek_check.InexactSeekWarning` naming it, its codec and the difference, and is read
with the first exact reader (:mod:`~midway_plugin.data.video.readers`: OpenCV's seeking where the same check passes,
else a sequential decode); ``seek_check="skip"`` skips it instead, ``"off"`` trusts decord. The result is kept in
:attr:`VideoInfo.reader` / :attr:`VideoInfo.seek` (and the index cache).

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §4.1 (BDD100K, Walking Tours; pairs 0.5–1 s apart) and Appendix (repeat
    sampling R = 5, dt in [15, 30] frames).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from midway_plugin.data.video.frame_decoding import DECODERS, ReaderCache, decode_pairs, open_for_decoding
from midway_plugin.data.video.info import NoUsableVideoError, UnusableVideoWarning, VideoInfo
from midway_plugin.data.video.pair_sampling import (
    SAMPLINGS,
    StartIndex,
    check_delta_t,
    gap_range,
    pair_from_start,
    sample_pairs,
    sample_window_pairs,
)
from midway_plugin.data.video.scan import VIDEO_EXTENSIONS, find_videos, scan_videos
from midway_plugin.data.video.seek_check import InexactSeekWarning

logger = logging.getLogger(__name__)

PairedTransform = Callable[[Image.Image, Image.Image], Any]


def _stack_views(outputs: Sequence[Any]) -> Any:
    """Stacks R transform outputs of identical structure into one structure of (R, ...) tensors."""
    first = outputs[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(list(outputs))
    if isinstance(first, dict):
        return {key: _stack_views([out[key] for out in outputs]) for key in first}
    if isinstance(first, (list, tuple)):
        if any(len(out) != len(first) for out in outputs):
            raise ValueError("the paired transform returned outputs of different lengths for the pairs of one item")
        return type(first)(_stack_views([out[i] for out in outputs]) for i in range(len(first)))
    raise TypeError(
        f"the paired transform must return tensors or lists/tuples/dicts of tensors, got {type(first).__name__}"
    )


def _reason_kind(reason: str) -> str:
    """The kind of a skip reason, for the summary: its text before the first detail (parenthesis, colon, digit)."""
    kind = re.split(r" \(|: |;| \d", reason, maxsplit=1)[0].strip()
    return kind or reason


def _raw_views(frame_t: Image.Image, frame_u: Image.Image) -> list[torch.Tensor]:
    """``transform=None``: the two frames as uint8 tensors of shape (3, H, W)."""
    return [torch.from_numpy(np.array(f, dtype=np.uint8)).permute(2, 0, 1) for f in (frame_t, frame_u)]


class VideoPairDataset(Dataset[dict[str, Any]]):
    """Frame pairs (t, t + dt) from a folder of videos or one long video, decoded with decord.

    See the module docstring for modes, shapes and the handling of bad files.

    Args:
        root: A directory (searched recursively for :data:`VIDEO_EXTENSIONS`) or one video file.
        transform: Paired transform called as ``transform(frame_t, frame_t_plus_dt)`` on two RGB PIL images; its
            output (a tensor, or a list/tuple/dict of tensors, e.g. :class:`~midway_plugin.data.views.MidwayTransform`)
            is stacked over the R pairs. ``None`` returns the two frames as uint8 ``(3, H, W)`` tensors.
        delta_t: Inclusive ``(min, max)`` frame gap, or a single number for a fixed gap.
        delta_unit: ``"frames"`` or ``"seconds"`` (converted per video with its own fps, rounded to frames).
        repeat: Pairs drawn per item in ``"folder"`` mode (paper: 5). Must be 1 in ``"single"`` mode.
        mode: ``"folder"``, ``"single"`` or ``"auto"`` (see module docstring).
        extensions: Video file extensions searched in a directory.
        decode_short_side: When set, frames whose shorter side is larger are decoded (by decord) at this shorter
            side, keeping the aspect ratio; saves decoding and cropping time on 720p video.
        num_threads: decord decoder threads per reader.
        scan_workers: Threads used to open the files at construction.
        index_cache: Optional JSON file remembering the scan (keyed by path, size and modification time), so a
            second construction over a large folder does not reopen every file.
        seek_check: ``"fallback"``: check decord's random access on every file at the scan and read files where
            it returns wrong frames with an exact reader; ``"skip"``: skip those files instead; ``"off"``: trust
            decord (no check).
        sampling: How the ``repeat`` pairs of one opening are drawn (``"folder"`` mode):
            ``"independent"`` (the paper's repeat sampling: each pair anywhere in the video) or ``"window"``
            (all pairs inside one window of ``window`` x the largest gap, decoded forward once: several times
            cheaper, pairs of one opening close in time; :mod:`~midway_plugin.data.video.pair_sampling`).
        window: Length of the sampling window as a multiple of the largest gap (at least that gap + 1 frames).
        decoder: ``"auto"``: each file's reader from the scan (decord where its random access is exact);
            ``"pyav"``: every file with the keyframe-aware PyAV reader (frames found by timestamp, decoded only
            from the keyframe before a wanted frame; not on files the scan's check found it wrong on);
            ``"cuda"``: torchcodec's GPU decoder (frames stay on the GPU; needs a transform that takes arrays,
            e.g. the accelerator-augment path, and is checked per file against a sequential CPU decode at the
            scan; :mod:`~midway_plugin.data.video.gpu_decode`).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        TypeError: ``transform`` is not callable.
        ValueError: An argument is out of range (the message names it and its value).
        NoUsableVideoError: No usable video was found under ``root``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: PairedTransform | None = None,
        delta_t: tuple[float, float] | float = (15, 30),
        delta_unit: Literal["frames", "seconds"] = "frames",
        repeat: int = 5,
        mode: Literal["auto", "folder", "single"] = "auto",
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        decode_short_side: int | None = None,
        num_threads: int = 1,
        scan_workers: int = 4,
        index_cache: str | os.PathLike[str] | None = None,
        seek_check: Literal["fallback", "skip", "off"] = "fallback",
        sampling: Literal["independent", "window"] = "independent",
        window: float = 1.5,
        decoder: Literal["auto", "pyav", "cuda"] = "auto",
    ) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"video root {str(self.root)!r} does not exist")
        if mode == "auto":
            mode = "single" if self.root.is_file() else "folder"
        if mode not in ("folder", "single"):
            raise ValueError(f"mode must be 'auto', 'folder' or 'single', got {mode!r}")
        delta_t = check_delta_t(delta_t, delta_unit)
        if int(repeat) != repeat or repeat < 1:
            raise ValueError(f"repeat must be a positive integer, got {repeat!r}")
        if mode == "single" and repeat != 1:
            raise ValueError(
                f"repeat={repeat} is only meaningful in 'folder' mode; 'single' mode yields every pair once "
                "(set repeat=1)"
            )
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a callable f(frame_t, frame_t_plus_dt) or None, got {transform!r}")
        if decode_short_side is not None and decode_short_side < 1:
            raise ValueError(f"decode_short_side must be a positive number of pixels, got {decode_short_side!r}")
        if seek_check not in ("fallback", "skip", "off"):
            raise ValueError(f"seek_check must be 'fallback', 'skip' or 'off', got {seek_check!r}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        if sampling == "window" and mode == "single":
            raise ValueError(
                "sampling='window' draws the repeat pairs of one opening in 'folder' mode; 'single' mode yields "
                "every pair once (use sampling='independent')"
            )
        if not (isinstance(window, (int, float)) and window >= 1):
            raise ValueError(f"window must be a multiple >= 1 of the largest gap, got {window!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if decoder == "cuda" and not getattr(transform, "takes_arrays", False):
            raise ValueError(
                "decoder='cuda' keeps the frames on the GPU, so the transform must take arrays (the "
                "accelerator-augment path, PairGeometryTransform; data.augment: device), "
                f"not {type(transform).__name__}"
            )

        self.transform = transform
        self.delta_t: tuple[float, float] = delta_t
        self.delta_unit = delta_unit
        self.repeat = int(repeat)
        self.mode = mode
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.decode_short_side = decode_short_side
        self.num_threads = num_threads
        self.seek_check = seek_check
        self.sampling = sampling
        self.window = float(window)
        self.decoder = decoder

        self.videos: list[VideoInfo] = []
        self.skipped: dict[str, str] = {}  # path -> reason
        self.ignored: list[str] = []  # files without a video extension
        self._scan(max(1, scan_workers), Path(index_cache) if index_cache is not None else None)

        # "single" mode: every start frame of every video as one flat index.
        self._starts = StartIndex(
            [info.num_frames - self.delta_range(info)[0] for info in self.videos] if self.mode == "single" else []
        )
        self._length = self._starts.length if self.mode == "single" else len(self.videos)

        self._bad_videos: set[int] = set()  # per process: videos that failed to open
        self._reported: set[str] = set()  # per process: files already warned about
        self._readers = ReaderCache()  # per process, "single" mode only

    # ------------------------------------------------------------------ scan

    def _usable(self, info: VideoInfo) -> str | None:
        """The reason a probed video cannot give a single pair, or None."""
        if self.seek_check == "skip" and info.seek is not None and not info.seek.exact:
            return f"inexact random access ({info.seek.describe()}; seek_check='skip')"
        if self.delta_unit == "seconds" and info.fps <= 0:
            return "unknown frame rate (needed for delta_t in seconds)"
        lo = self.delta_range(info)[0]
        if info.num_frames < lo + 1:
            return f"too short ({info.num_frames} frames; at least {lo + 1} needed for a gap of {lo} frames)"
        return None

    def _scan(self, workers: int, cache_file: Path | None) -> None:
        files, self.ignored = find_videos(self.root, self.extensions)
        results = scan_videos(
            files, self.decode_short_side, self.seek_check, workers, cache_file, gpu_check=self.decoder == "cuda"
        )
        for path in files:
            result = results[path]
            reason = result if isinstance(result, str) else self._usable(result)
            if reason is None:
                info: VideoInfo = result  # type: ignore[assignment]
                self.videos.append(info)
                if info.decord_problem:
                    message = f"video {str(path)!r}: {info.decord_problem}; reading it with the {info.reader!r} reader"
                    warnings.warn(message, InexactSeekWarning, stacklevel=3)
                elif info.seek is not None and not info.seek.exact:
                    message = f"video {str(path)!r}: {info.seek.describe()}; reading it with the {info.reader!r} reader"
                    warnings.warn(message, InexactSeekWarning, stacklevel=3)
            else:
                self.skipped[str(path)] = reason
                warnings.warn(f"skipping video {str(path)!r}: {reason}", UnusableVideoWarning, stacklevel=3)
        if self.ignored:
            shown = ", ".join(repr(p) for p in self.ignored[:3]) + (", ..." if len(self.ignored) > 3 else "")
            logger.info("ignored %d files without a video extension under %s: %s", len(self.ignored), self.root, shown)
        if not self.videos:
            raise NoUsableVideoError(self._no_video_message(len(files)))

    def _no_video_message(self, num_candidates: int) -> str:
        where = f"video file {str(self.root)!r}" if self.root.is_file() else f"folder {str(self.root)!r}"
        if num_candidates == 0:
            return (
                f"no usable video in {where}: no file with a video extension "
                f"({', '.join(self.extensions)}) found"
                + (f"; {len(self.ignored)} other files ignored" if self.ignored else "")
            )
        counts = Counter(_reason_kind(reason) for reason in self.skipped.values())
        detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
        lo, hi = self.delta_t
        return (
            f"no usable video in {where}: all {num_candidates} video files were skipped ({detail}); "
            f"delta_t=({lo:g}, {hi:g}) {self.delta_unit}"
            + (f"; {len(self.ignored)} files without a video extension ignored" if self.ignored else "")
        )

    # ------------------------------------------------------------------ sampling

    def delta_range(self, video: int | VideoInfo) -> tuple[int, int]:
        """The inclusive frame-gap range used for one video (before clipping to its length).

        Args:
            video: Index into :attr:`videos`, or a :class:`VideoInfo`.

        Returns:
            ``(min_gap, max_gap)`` in frames.
        """
        info = self.videos[video] if isinstance(video, int) else video
        return gap_range(self.delta_t, self.delta_unit, info.fps)

    def sample_pairs(self, video: int, count: int) -> np.ndarray:
        """Draws ``count`` pairs from one video: dt uniform in its range (clipped to the video), t uniform.

        Args:
            video: Index into :attr:`videos`.
            count: Number of pairs.

        Returns:
            int64 array of shape ``(count, 2)``: ``[t, t + dt]`` per row.
        """
        info = self.videos[video]
        if self.sampling == "window":
            return sample_window_pairs(info.num_frames, self.delta_range(info), count, self.window)
        return sample_pairs(info.num_frames, self.delta_range(info), count)

    # ------------------------------------------------------------------ decoding

    def _reader(self, video: int) -> Any:
        info = self.videos[video]
        resized = self.decode_short_side is not None
        if self.mode == "folder":
            return open_for_decoding(info, resized, self.num_threads, self.decoder)
        return self._readers.get(video, lambda: open_for_decoding(info, resized, self.num_threads, self.decoder))

    def _report(self, video: int, err: Exception, what: str) -> None:
        path = self.videos[video].path
        if path in self._reported:
            return
        self._reported.add(path)
        warnings.warn(
            f"video {path!r} failed while {what} ({type(err).__name__}: {str(err).strip()[:200]}); "
            "using another item instead (further failures of this file are not reported)",
            UnusableVideoWarning,
            stacklevel=3,
        )

    def _load(self, index: int) -> dict[str, Any] | None:
        """Builds item ``index``, or returns None when its video cannot be decoded."""
        if self.mode == "folder":
            video, pairs = index, None
        else:
            video, start = self._starts.locate(index)
            info = self.videos[video]
            pairs = pair_from_start(start, info.num_frames, self.delta_range(info))
        if video in self._bad_videos:
            return None
        if pairs is None:
            pairs = self.sample_pairs(video, self.repeat)
        try:
            frames = decode_pairs(self._reader(video), pairs, self.videos[video].reader)
        except Exception as err:  # a decode failure must never end the epoch
            self._report(video, err, f"decoding frames {sorted(set(pairs.reshape(-1).tolist()))}")
            if self.mode == "folder":
                self._bad_videos.add(video)
            else:
                self._readers.drop(video)
            return None
        transform: Any = self.transform
        if getattr(transform, "takes_pair_batches", False):  # decode-only: all pairs at once, no more copies
            return self._item(transform.pairs(frames), pairs, video)
        outputs = []
        for frame_t, frame_u in frames:
            if getattr(self.transform, "takes_arrays", False):  # e.g. the decode-only path: no PIL round trip
                outputs.append(transform(frame_t, frame_u))
                continue
            images = Image.fromarray(frame_t), Image.fromarray(frame_u)
            outputs.append(transform(*images) if transform is not None else _raw_views(*images))
        return self._item(_stack_views(outputs), pairs, video)

    def _item(self, views: Any, pairs: np.ndarray, video: int) -> dict[str, Any]:
        return {
            "views": views,
            "frame_indices": torch.from_numpy(pairs.copy()),
            "video_index": video,
            "path": self.videos[video].path,
        }

    # ------------------------------------------------------------------ Dataset API

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Item ``index``; when its video fails to decode, the next decodable item (cyclically).

        Raises:
            IndexError: ``index`` is out of range.
            RuntimeError: Not a single item of the dataset can be decoded any more.
        """
        if not -self._length <= index < self._length:
            raise IndexError(f"index {index} out of range for a dataset of {self._length} items")
        index %= self._length
        step = 1
        for attempt in range(self._length):
            item = self._load((index + attempt * step) % self._length)
            if item is not None:
                return item
            if self.mode == "single" and attempt == 0:
                # Jump past the failing window rather than retrying overlapping pairs of the same region.
                video, _ = self._starts.locate(index)
                step = max(1, self.delta_range(video)[1])
        raise RuntimeError(
            f"no item of the video dataset under {str(self.root)!r} can be decoded any more "
            f"(files that failed: {sorted(self._reported)})"
        )

    def __repr__(self) -> str:
        lo, hi = self.delta_t
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, mode={self.mode!r}, videos={len(self.videos)}, "
            f"skipped={len(self.skipped)}, items={len(self)}, delta_t=({lo:g}, {hi:g}) {self.delta_unit}, "
            f"repeat={self.repeat})"
        )
