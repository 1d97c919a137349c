"""Frame pairs from video, read with decord: the pretraining data of Midway Network.

API (what the Lightly method and the CLI use)::

    from midway_plugin.data import VideoPairDataset, MidwayTransform, flatten_pairs

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

The gap ``dt`` of each pair is drawn uniformly from the integer range ``delta_t`` (seconds are converted to frames
with the video's fps, rounded), clipped to what the video allows; the start ``t`` is uniform over the frames that
leave room for it. Randomness uses torch's global generator, which DataLoader seeds differently in every worker.

Bad input: at construction every candidate file is opened once with decord (frame count, fps, first frame). A
corrupt, empty, unreadable or too-short file (fewer than ``min dt + 1`` frames) is skipped with one
:class:`UnusableVideoWarning` naming it and the reason; when nothing usable is left, :class:`NoUsableVideoError`
names the root and the count of skipped files per reason. A file that fails to decode later (in ``__getitem__``)
is reported once per worker process and replaced by another item (deterministic fallback), so training goes on.

Exact frames: decord's random access returns wrong frames on some files (e.g. MPEG-4 Part 2 in AVI with B-frames).
The scan checks a few random-access reads of every file against a sequential decode
(:mod:`~midway_plugin.data.seek_check`; ``seek_check="fallback"``, the default): a file where they differ gets an
:class:`~midway_plugin.data.seek_check.InexactSeekWarning` naming it, its codec and the difference, and is read
with the first exact reader (:mod:`~midway_plugin.data.readers`: OpenCV's seeking where the same check passes,
else a sequential decode); ``seek_check="skip"`` skips it instead, ``"off"`` trusts decord. The result is kept in
:attr:`VideoInfo.reader` / :attr:`VideoInfo.seek` (and the index cache).

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §4.1 (BDD100K, Walking Tours; pairs 0.5–1 s apart) and Appendix (repeat
    sampling R = 5, dt in [15, 30] frames).
"""
from __future__ import annotations

import bisect
import json
import logging
import math
import os
import warnings
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from midway_plugin.data.readers import as_numpy as _as_numpy
from midway_plugin.data.readers import open_decord, open_reader
from midway_plugin.data.seek_check import InexactSeekWarning, SeekReport, check_random_access

logger = logging.getLogger(__name__)

#: File extensions searched in ``"folder"`` mode (case-insensitive).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm")

PairedTransform = Callable[[Image.Image, Image.Image], Any]

# decord readers inherited through fork() by DataLoader workers. They are kept referenced, never destroyed: their
# decoder thread did not survive the fork, so their destructor would wait for it forever (a hung worker).
_INHERITED_READERS: list[Any] = []


class UnusableVideoWarning(UserWarning):
    """A video file was skipped (at construction) or replaced by another item (while training)."""


class NoUsableVideoError(RuntimeError):
    """No usable video is left under the dataset root: raised at construction, before any training."""


@dataclass(frozen=True)
class VideoInfo:
    """What the construction-time scan learned about one usable video.

    Attributes:
        path: The video file.
        num_frames: Frame count reported by decord.
        fps: Average frame rate reported by decord (0.0 when unknown).
        height: Frame height in pixels as decoded (after ``decode_short_side`` resizing).
        width: Frame width in pixels as decoded.
        reader: The reader its frames are decoded with: ``"decord"``, or where decord seeks wrong ``"opencv"`` or
            ``"sequential"`` (:mod:`~midway_plugin.data.readers`).
        seek: The scan's random-access check (None when not checked).
    """

    path: str
    num_frames: int
    fps: float
    height: int
    width: int
    reader: str = "decord"
    seek: SeekReport | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoInfo:
        """Inverse of :func:`dataclasses.asdict` (the index cache's entries)."""
        seek = data.get("seek")
        return cls(**{**data, "seek": SeekReport.from_dict(seek) if seek is not None else None})


def open_video(path: str | os.PathLike, width: int = -1, height: int = -1, num_threads: int = 1) -> Any:
    """Opens ``path`` with :class:`decord.VideoReader` on the CPU.

    The single place where this module touches decord's reader (tests wrap it to count decode calls).

    Args:
        path: The video file.
        width: Decode width in pixels (-1: native).
        height: Decode height in pixels (-1: native).
        num_threads: Decoder threads (0: decord's automatic choice).

    Returns:
        The open ``decord.VideoReader``.
    """
    return open_decord(path, width=width, height=height, num_threads=num_threads)


def _decode_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """Returns the (height, width) a frame of native size (height, width) is decoded at."""
    if short_side is None or min(height, width) <= short_side:
        return height, width
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def flatten_pairs(batch: Any) -> Any:
    """Merges the batch and pair dimensions of every tensor in a collated batch.

    A DataLoader with the default collate turns the per-item ``(R, ...)`` tensors of :class:`VideoPairDataset`
    into ``(B, R, ...)``; models want ``(B * R, ...)``. Order: item-major (item 0's R pairs first).

    Args:
        batch: A tensor or a (nested) list, tuple or dict of tensors; other leaves (strings, ints) are kept.

    Returns:
        The same structure with every tensor of rank >= 2 reshaped to ``(B * R, ...)``.
    """
    if isinstance(batch, torch.Tensor):
        return batch.flatten(0, 1) if batch.dim() >= 2 else batch
    if isinstance(batch, dict):
        return {key: flatten_pairs(value) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(flatten_pairs(value) for value in batch)
    return batch


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


def _raw_views(frame_t: Image.Image, frame_u: Image.Image) -> list[torch.Tensor]:
    """``transform=None``: the two frames as uint8 tensors of shape (3, H, W)."""
    return [torch.from_numpy(np.array(f, dtype=np.uint8)).permute(2, 0, 1) for f in (frame_t, frame_u)]


def _cache_key(path: Path) -> str:
    """The index-cache key of a file: its resolved path, or its absolute path when it cannot be resolved."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: Python < 3.13 raises RuntimeError
        return str(path.absolute())


def _cached_result(entry: Any, key: list | None) -> VideoInfo | str | None:
    """The scan result an index-cache entry holds for ``key``; None when absent, stale or malformed."""
    if key is None or not isinstance(entry, dict) or entry.get("key") != key:
        return None
    try:
        if "info" in entry:
            return VideoInfo.from_dict(entry["info"])
        return entry["reason"] if isinstance(entry.get("reason"), str) else None
    except (TypeError, KeyError, ValueError, AttributeError):  # fields of another version, not a mapping
        return None


class VideoPairDataset(Dataset):
    """Frame pairs (t, t + dt) from a folder of videos or one long video, decoded with decord.

    See the module docstring for modes, shapes and the handling of bad files.

    Args:
        root: A directory (searched recursively for :data:`VIDEO_EXTENSIONS`) or one video file.
        transform: Paired transform called as ``transform(frame_t, frame_t_plus_dt)`` on two RGB PIL images; its
            output (a tensor, or a list/tuple/dict of tensors, e.g. :class:`~midway_plugin.data.MidwayTransform`)
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

    Raises:
        FileNotFoundError: ``root`` does not exist.
        TypeError: ``transform`` is not callable.
        ValueError: An argument is out of range (the message names it and its value).
        NoUsableVideoError: No usable video was found under ``root``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        transform: PairedTransform | None = None,
        delta_t: tuple[float, float] | float = (15, 30),
        delta_unit: Literal["frames", "seconds"] = "frames",
        repeat: int = 5,
        mode: Literal["auto", "folder", "single"] = "auto",
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        decode_short_side: int | None = None,
        num_threads: int = 1,
        scan_workers: int = 4,
        index_cache: str | os.PathLike | None = None,
        seek_check: Literal["fallback", "skip", "off"] = "fallback",
    ) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"video root {str(self.root)!r} does not exist")
        if mode == "auto":
            mode = "single" if self.root.is_file() else "folder"
        if mode not in ("folder", "single"):
            raise ValueError(f"mode must be 'auto', 'folder' or 'single', got {mode!r}")
        if delta_unit not in ("frames", "seconds"):
            raise ValueError(f"delta_unit must be 'frames' or 'seconds', got {delta_unit!r}")
        if isinstance(delta_t, (int, float)):
            delta_t = (delta_t, delta_t)
        delta_t = tuple(float(d) for d in delta_t)
        if len(delta_t) != 2 or not 0 < delta_t[0] <= delta_t[1] or not all(map(math.isfinite, delta_t)):
            raise ValueError(f"delta_t must be (min, max) with 0 < min <= max, got {delta_t!r}")
        if delta_unit == "frames" and not all(float(d).is_integer() for d in delta_t):
            raise ValueError(f"delta_t in frames must be whole numbers, got {delta_t!r}")
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

        self.transform = transform
        self.delta_t: tuple[float, float] = delta_t  # type: ignore[assignment]
        self.delta_unit = delta_unit
        self.repeat = int(repeat)
        self.mode = mode
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.decode_short_side = decode_short_side
        self.num_threads = num_threads
        self.seek_check = seek_check

        self.videos: list[VideoInfo] = []
        self.skipped: dict[str, str] = {}  # path -> reason
        self.ignored: list[str] = []  # files without a video extension
        self._scan(max(1, scan_workers), Path(index_cache) if index_cache is not None else None)

        # "single" mode: cumulative start-frame counts per video, for index -> (video, t).
        self._offsets: list[int] = []
        if self.mode == "single":
            total = 0
            for info in self.videos:
                self._offsets.append(total)
                total += info.num_frames - self.delta_range(info)[0]
            self._length = total
        else:
            self._length = len(self.videos)

        self._bad_videos: set[int] = set()  # per process: videos that failed to open
        self._reported: set[str] = set()  # per process: files already warned about
        self._readers: OrderedDict[int, Any] = OrderedDict()  # per process, "single" mode only
        self._reader_pid = os.getpid()

    # ------------------------------------------------------------------ scan

    def _candidates(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        files: list[Path] = []
        seen: set[tuple[int, int]] = set()  # (device, inode) of visited directories: symlink loops end here
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True, onerror=self._unlistable):
            try:
                stat = os.stat(dirpath)
            except OSError as err:
                self._unlistable(err)
                dirnames.clear()
                continue
            if (stat.st_dev, stat.st_ino) in seen:
                dirnames.clear()
                continue
            seen.add((stat.st_dev, stat.st_ino))
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.suffix.lower() in self.extensions:
                    files.append(path)
                else:
                    self.ignored.append(str(path))
        return files

    def _unlistable(self, err: OSError) -> None:
        """``os.walk`` error handler: an unreadable directory (or a symlink loop) is skipped with a warning."""
        where = err.filename or self.root
        warnings.warn(
            f"skipping directory {str(where)!r}: {err.strerror or err}", UnusableVideoWarning, stacklevel=4
        )

    def _probe(self, path: Path) -> VideoInfo | str:
        """Opens one file: its :class:`VideoInfo`, or the reason it is unusable."""
        try:
            size = path.stat().st_size
        except OSError as err:
            return f"unreadable ({err.strerror or err})"
        if size == 0:
            return "empty file (0 bytes)"
        if not os.access(path, os.R_OK):
            return "unreadable (permission denied)"
        try:
            reader = open_video(path, num_threads=1)
            num_frames = len(reader)
            fps = float(reader.get_avg_fps())
            if num_frames < 1:
                return "no video frames"
            first = _as_numpy(reader[0])
        except Exception as err:  # decord raises DECORDError / RuntimeError subclasses for bad containers
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return f"corrupt or not a video (decord: {message[:200]})"
        if first.ndim != 3 or first.shape[2] != 3:
            # decord 0.6.0 mis-decodes some frame widths (e.g. 16, 24, 48, 72 px) into 4-channel garbage.
            return (
                f"decord decodes its frames with shape {tuple(first.shape)} instead of (H, W, 3) "
                "(a decord quirk at some frame widths: re-encode the video at another width)"
            )
        if not math.isfinite(fps) or fps < 0:
            fps = 0.0
        height, width = _decode_size(int(first.shape[0]), int(first.shape[1]), self.decode_short_side)
        if (height, width) != tuple(first.shape[:2]):
            # Check the resized decode too: decord mis-decodes some widths, which would fail every item later.
            try:
                resized = _as_numpy(open_video(path, width=width, height=height, num_threads=1)[0])
            except Exception as err:
                return f"cannot be decoded at {width}x{height} (decode_short_side={self.decode_short_side}: {err})"
            if resized.shape != (height, width, 3):
                return (
                    f"decord decodes it at {width}x{height} (decode_short_side={self.decode_short_side}) with shape "
                    f"{tuple(resized.shape)} instead of ({height}, {width}, 3); choose another decode_short_side"
                )
        info = VideoInfo(str(path), int(num_frames), fps, height, width)
        return self._check_seeking(info) if self.seek_check != "off" else info

    @staticmethod
    def _check_seeking(info: VideoInfo) -> VideoInfo:
        """``info`` with the reader that is exact for its file (see :mod:`~midway_plugin.data.seek_check`)."""
        try:
            report = check_random_access(info.path)
        except ValueError as err:  # OpenCV cannot open what decord can: nothing to check against
            logger.warning("random access of %s not checked: %s", info.path, err)
            return info
        return replace(info, reader=report.reader, seek=report)

    def _usable(self, info: VideoInfo) -> str | None:
        """The reason a probed video cannot give a single pair, or None."""
        if self.seek_check == "skip" and info.seek is not None and not info.seek.exact:
            return f"inexact random access ({info.seek.describe()}; seek_check='skip')"
        if self.delta_unit == "seconds" and info.fps <= 0:
            return "unknown frame rate (needed for delta_t in seconds)"
        lo = self._delta_frames(info)[0]
        if info.num_frames < lo + 1:
            return f"too short ({info.num_frames} frames; at least {lo + 1} needed for a gap of {lo} frames)"
        return None

    def _scan(self, workers: int, cache_file: Path | None) -> None:
        files = self._candidates()
        cache = self._load_cache(cache_file)
        keys = {}
        todo: list[Path] = []
        results: dict[Path, VideoInfo | str] = {}
        for path in files:
            try:
                stat = path.stat()
                keys[path] = [stat.st_size, stat.st_mtime_ns, self.decode_short_side]
            except OSError:
                keys[path] = None
            cached = _cached_result(cache.get(_cache_key(path)), keys[path])
            if cached is not None:
                results[path] = cached
            else:
                todo.append(path)
        # Cached without a seek check (seek_check was "off", or OpenCV could not open the file): check now.
        unchecked = [p for p, r in results.items() if isinstance(r, VideoInfo) and r.seek is None]
        if self.seek_check == "off":
            unchecked = []
        if todo or unchecked:
            logger.info("opening %d video files under %s", len(todo) + len(unchecked), self.root)
            with ThreadPoolExecutor(max_workers=min(workers, len(todo) + len(unchecked))) as pool:
                results.update(zip(todo, pool.map(self._probe, todo)))
                results.update(zip(unchecked, pool.map(self._check_seeking, [results[p] for p in unchecked])))
        for path in files:
            result = results[path]
            reason = result if isinstance(result, str) else self._usable(result)
            if reason is None:
                info: VideoInfo = result  # type: ignore[assignment]
                self.videos.append(info)
                if info.seek is not None and not info.seek.exact:
                    message = f"video {str(path)!r}: {info.seek.describe()}; reading it with the {info.reader!r} reader"
                    warnings.warn(message, InexactSeekWarning, stacklevel=3)
            else:
                self.skipped[str(path)] = reason
                warnings.warn(f"skipping video {str(path)!r}: {reason}", UnusableVideoWarning, stacklevel=3)
        if self.ignored:
            shown = ", ".join(repr(p) for p in self.ignored[:3]) + (", ..." if len(self.ignored) > 3 else "")
            logger.info("ignored %d files without a video extension under %s: %s", len(self.ignored), self.root, shown)
        if cache_file is not None:
            self._save_cache(cache_file, {_cache_key(p): (keys[p], results[p]) for p in files if keys[p]})
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
        counts = Counter(reason.split(" (")[0] for reason in self.skipped.values())
        detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
        lo, hi = self.delta_t
        return (
            f"no usable video in {where}: all {num_candidates} video files were skipped ({detail}); "
            f"delta_t=({lo:g}, {hi:g}) {self.delta_unit}"
            + (f"; {len(self.ignored)} files without a video extension ignored" if self.ignored else "")
        )

    @staticmethod
    def _load_cache(cache_file: Path | None) -> dict[str, Any]:
        if cache_file is None or not cache_file.is_file():
            return {}
        try:
            data = json.loads(cache_file.read_text())
            entries = data["entries"] if data.get("version") == 1 else {}
            if not isinstance(entries, dict):
                raise TypeError(f"'entries' is a {type(entries).__name__}, not a mapping")
            return entries
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            logger.warning("ignoring unreadable video index cache %s (%s)", cache_file, err)
            return {}

    @staticmethod
    def _save_cache(cache_file: Path, entries: dict[str, tuple[Any, VideoInfo | str]]) -> None:
        data = {
            "version": 1,
            "entries": {
                path: {"key": key, **({"info": asdict(r)} if isinstance(r, VideoInfo) else {"reason": r})}
                for path, (key, r) in entries.items()
            },
        }
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_name(cache_file.name + f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(data))
            tmp.replace(cache_file)
        except OSError as err:
            logger.warning("could not write the video index cache %s (%s)", cache_file, err)

    # ------------------------------------------------------------------ sampling

    def _delta_frames(self, info: VideoInfo) -> tuple[int, int]:
        lo, hi = self.delta_t
        if self.delta_unit == "seconds":
            lo, hi = lo * info.fps, hi * info.fps
        lo_f = max(1, int(round(lo)))
        return lo_f, max(lo_f, int(round(hi)))

    def delta_range(self, video: int | VideoInfo) -> tuple[int, int]:
        """The inclusive frame-gap range used for one video (before clipping to its length).

        Args:
            video: Index into :attr:`videos`, or a :class:`VideoInfo`.

        Returns:
            ``(min_gap, max_gap)`` in frames.
        """
        info = self.videos[video] if isinstance(video, int) else video
        return self._delta_frames(info)

    def sample_pairs(self, video: int, count: int) -> np.ndarray:
        """Draws ``count`` pairs from one video: dt uniform in its range (clipped to the video), t uniform.

        Args:
            video: Index into :attr:`videos`.
            count: Number of pairs.

        Returns:
            int64 array of shape ``(count, 2)``: ``[t, t + dt]`` per row.
        """
        info = self.videos[video]
        lo, hi = self._delta_frames(info)
        hi = min(hi, info.num_frames - 1)
        dt = torch.randint(lo, hi + 1, (count,))
        # t uniform in [0, N - 1 - dt], drawn per pair.
        t = (torch.rand(count) * (info.num_frames - dt).double()).long().clamp_max(info.num_frames - 1 - dt)
        return torch.stack([t, t + dt], dim=1).numpy()

    def _locate(self, index: int) -> tuple[int, int]:
        """``"single"`` mode: dataset index -> (video index, start frame)."""
        video = bisect.bisect_right(self._offsets, index) - 1
        return video, index - self._offsets[video]

    # ------------------------------------------------------------------ decoding

    def _open(self, info: VideoInfo) -> Any:
        size = (info.width, info.height) if self.decode_short_side is not None else (-1, -1)
        if info.reader == "decord":
            return open_video(info.path, width=size[0], height=size[1], num_threads=self.num_threads)
        return open_reader(info.reader, info.path, width=size[0], height=size[1], num_threads=self.num_threads)

    def _reader(self, video: int) -> Any:
        info = self.videos[video]
        if self.mode == "folder":
            return self._open(info)
        if self._reader_pid != os.getpid():  # forked worker: open its own readers, never destroy the parent's
            _INHERITED_READERS.extend(self._readers.values())
            self._readers = OrderedDict()
            self._reader_pid = os.getpid()
        if video in self._readers:
            self._readers.move_to_end(video)
            return self._readers[video]
        reader = self._open(info)
        self._readers[video] = reader
        while len(self._readers) > 2:
            self._readers.popitem(last=False)
        return reader

    def _decode(self, video: int, pairs: np.ndarray) -> np.ndarray:
        """Decodes every frame of ``pairs`` with one sorted get_batch call; returns (R, 2, H, W, 3) uint8."""
        unique, inverse = np.unique(pairs.reshape(-1), return_inverse=True)
        frames = _as_numpy(self._reader(video).get_batch(unique.tolist()))
        if frames.shape[0] != len(unique):
            reader = self.videos[video].reader
            raise RuntimeError(f"the {reader} reader returned {frames.shape[0]} frames for {len(unique)} requested")
        return frames[inverse.reshape(pairs.shape)]

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
            video, start = self._locate(index)
            info = self.videos[video]
            lo, hi = self._delta_frames(info)
            dt = int(torch.randint(lo, min(hi, info.num_frames - 1 - start) + 1, (1,)))
            pairs = np.array([[start, start + dt]], dtype=np.int64)
        if video in self._bad_videos:
            return None
        if pairs is None:
            pairs = self.sample_pairs(video, self.repeat)
        try:
            frames = self._decode(video, pairs)
        except Exception as err:  # a decode failure must never end the epoch
            self._report(video, err, f"decoding frames {sorted(set(pairs.reshape(-1).tolist()))}")
            if self.mode == "folder":
                self._bad_videos.add(video)
            else:
                self._readers.pop(video, None)
            return None
        outputs = []
        for frame_t, frame_u in frames:
            if getattr(self.transform, "takes_arrays", False):  # e.g. the decode-only path: no PIL round trip
                outputs.append(self.transform(frame_t, frame_u))
                continue
            images = Image.fromarray(frame_t), Image.fromarray(frame_u)
            outputs.append(self.transform(*images) if self.transform is not None else _raw_views(*images))
        return {
            "views": _stack_views(outputs),
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
                video, _ = self._locate(index)
                step = max(1, self._delta_frames(self.videos[video])[1])
        raise RuntimeError(
            f"no item of the video dataset under {str(self.root)!r} can be decoded any more "
            f"(files that failed: {sorted(self._reported)})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_readers"] = OrderedDict()  # decord readers are not picklable and must not cross processes
        return state

    def __repr__(self) -> str:
        lo, hi = self.delta_t
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, mode={self.mode!r}, videos={len(self.videos)}, "
            f"skipped={len(self.skipped)}, items={len(self)}, delta_t=({lo:g}, {hi:g}) {self.delta_unit}, "
            f"repeat={self.repeat})"
        )
