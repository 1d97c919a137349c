"""The construction-time scan of a video root: which files there are, and what each one is (or why it is unusable).

Every candidate file is opened once with decord (frame count, fps, first frame, the decode size; a file whose
frames decord decodes with a wrong shape is read with PyAV, or OpenCV's sequential decode, instead) and, unless
``seek_check="off"``, its random access is checked against a sequential decode
(:func:`~midway_plugin.data.video.seek_check.check_random_access`), which picks the exact reader for it. Results are
kept in the optional index cache (:mod:`~midway_plugin.data.video.index_cache`). Unreadable directories and
symlink loops are skipped with an :class:`~midway_plugin.data.video.info.UnusableVideoWarning`.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from midway_plugin.data.video import frame_decoding
from midway_plugin.data.video.index_cache import cache_key, cached_result, file_stamp, load_cache, save_cache
from midway_plugin.data.video.info import UnusableVideoWarning, VideoInfo
from midway_plugin.data.video.readers import READERS, as_numpy, open_reader
from midway_plugin.data.video.seek_check import check_gpu_frames, check_random_access

logger = logging.getLogger(__name__)

#: File extensions searched in ``"folder"`` mode (case-insensitive).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def find_videos(root: Path, extensions: Sequence[str]) -> tuple[list[Path], list[str]]:
    """The video files under ``root`` (any depth, sorted, each directory once) and the other files found.

    Args:
        root: A directory, or one file (returned as the only candidate).
        extensions: Lower-case suffixes with the dot.

    Returns:
        ``(videos, ignored)``: candidate paths, and the paths of files without a video extension.
    """
    if root.is_file():
        return [root], []
    files: list[Path] = []
    ignored: list[str] = []
    seen: set[tuple[int, int]] = set()  # (device, inode) of visited directories: symlink loops end here

    def unlistable(err: OSError) -> None:
        where = err.filename or root
        warnings.warn(f"skipping directory {str(where)!r}: {err.strerror or err}", UnusableVideoWarning, stacklevel=4)

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unlistable):
        try:
            stat = os.stat(dirpath)
        except OSError as err:
            unlistable(err)
            dirnames.clear()
            continue
        if (stat.st_dev, stat.st_ino) in seen:
            dirnames.clear()
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() in extensions:
                files.append(path)
            else:
                ignored.append(str(path))
    return files, ignored


def probe_video(path: Path, decode_short_side: int | None) -> VideoInfo | str:
    """Opens one file: its :class:`VideoInfo` (random access not yet checked), or the reason it is unusable."""
    try:
        size = path.stat().st_size
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    if size == 0:
        return "empty file (0 bytes)"
    if not os.access(path, os.R_OK):
        return "unreadable (permission denied)"
    try:
        reader = frame_decoding.open_video(path, num_threads=1)
        num_frames = len(reader)
        fps = float(reader.get_avg_fps())
        if num_frames < 1:
            return "no video frames"
        first = as_numpy(reader[0])
    except Exception as err:  # decord raises DECORDError / RuntimeError subclasses for bad containers
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"corrupt or not a video (decord: {message[:200]})"
    if first.ndim != 3 or first.shape[2] != 3:
        # decord 0.6.0 mis-decodes some frame widths (e.g. 16, 24, 48, 72 px) into 4-channel garbage: the file is
        # valid, so it is read with an exact reader that decodes it right.
        shape = f"decord 0.6.0 decodes its frames with shape {tuple(first.shape)} instead of (H, W, 3)"
        return _other_reader(path, int(num_frames), float(fps), decode_short_side, shape)
    if not math.isfinite(fps) or fps < 0:
        fps = 0.0
    height, width = frame_decoding.decode_size(int(first.shape[0]), int(first.shape[1]), decode_short_side)
    if (height, width) != tuple(first.shape[:2]):
        # Check the resized decode too: decord mis-decodes some widths, which would fail every item later.
        try:
            resized = as_numpy(frame_decoding.open_video(path, width=width, height=height, num_threads=1)[0])
            problem: str | None = None if resized.shape == (height, width, 3) else f"with shape {tuple(resized.shape)}"
        except Exception as err:  # decord's errors
            problem = f"with an error ({str(err).strip()[:200]})"
        if problem is not None:
            return _other_reader(
                path,
                int(num_frames),
                fps,
                decode_short_side,
                f"decord 0.6.0 decodes it at {width}x{height} (decode_short_side={decode_short_side}) {problem}",
            )
    return VideoInfo(str(path), int(num_frames), fps, height, width)


def _other_reader(
    path: Path, num_frames: int, fps: float, decode_short_side: int | None, problem: str
) -> VideoInfo | str:
    """The :class:`VideoInfo` of a file decord decodes wrong (``problem``), read with PyAV (else OpenCV's
    sequential decode), or why neither reads it."""
    for name in ("pyav", "sequential"):
        try:
            first = as_numpy(open_reader(name, path).get_batch([0]))[0]
        except Exception as err:  # PyAV / OpenCV errors: try the next reader
            logger.debug("%s cannot decode %s: %s", name, path, err)
            continue
        if first.ndim == 3 and first.shape[2] == 3:
            if not math.isfinite(fps) or fps < 0:
                fps = 0.0
            height, width = frame_decoding.decode_size(int(first.shape[0]), int(first.shape[1]), decode_short_side)
            return VideoInfo(str(path), num_frames, fps, height, width, reader=name, decord_problem=problem)
    return f"undecodable ({problem}, and neither PyAV nor OpenCV decodes it)"


def check_seeking(info: VideoInfo) -> VideoInfo:
    """``info`` with the reader that is exact for its file (see :mod:`~midway_plugin.data.video.seek_check`)."""
    # A file decord decodes wrong is checked without decord: the first exact one of the others reads it.
    readers = READERS[1:-1] if info.decord_problem else READERS[:-1]
    try:
        report = check_random_access(info.path, readers=readers)
    except ValueError as err:  # OpenCV cannot open what decord can: nothing to check against
        logger.warning("random access of %s not checked: %s", info.path, err)
        return info
    return replace(info, reader=report.reader, seek=report)


def scan_videos(
    files: Sequence[Path],
    decode_short_side: int | None,
    seek_check: str,
    workers: int,
    cache_file: Path | None = None,
    gpu_check: bool = False,
) -> dict[Path, VideoInfo | str]:
    """Probes ``files`` (in ``workers`` threads), reusing and then updating the index cache.

    With ``gpu_check`` (``decoder="cuda"``), every usable file's frames from the GPU decoder are also compared with
    a sequential CPU decode (not cached: the GPU may differ between runs); a file it reads wrong is unusable.

    Returns:
        Per file, its :class:`VideoInfo` or the reason it cannot be read.
    """
    cache = load_cache(cache_file)
    stamps = {path: file_stamp(path, decode_short_side) for path in files}
    results: dict[Path, VideoInfo | str] = {}
    todo: list[Path] = []
    for path in files:
        cached = cached_result(cache.get(cache_key(path)), stamps[path])
        if cached is not None:
            results[path] = cached
        else:
            todo.append(path)
    # Cached without a seek check (seek_check was "off", or OpenCV could not open the file): check now.
    unchecked = [p for p, r in results.items() if isinstance(r, VideoInfo) and r.seek is None]
    if seek_check == "off":
        unchecked = []
    if todo or unchecked:
        logger.info("opening %d video files", len(todo) + len(unchecked))

        def probe(path: Path) -> VideoInfo | str:
            result = probe_video(path, decode_short_side)
            return check_seeking(result) if isinstance(result, VideoInfo) and seek_check != "off" else result

        with ThreadPoolExecutor(max_workers=min(workers, len(todo) + len(unchecked))) as pool:
            results.update(zip(todo, pool.map(probe, todo), strict=True))
            results.update(zip(unchecked, pool.map(check_seeking, [results[p] for p in unchecked]), strict=True))
    if cache_file is not None:
        save_cache(cache_file, {cache_key(p): (stamps[p], results[p]) for p in files if stamps[p]})
    if gpu_check:
        for path in files:
            result = results[path]
            if isinstance(result, VideoInfo):
                results[path] = _gpu_verdict(result)
    return results


def _gpu_verdict(info: VideoInfo) -> VideoInfo | str:
    """``info``, or why the GPU decoder cannot be trusted with its file (its frames checked against a CPU decode)."""
    report = check_gpu_frames(info.path)
    if not report.exact:
        return f"wrong frames from the GPU decoder ({report.describe()})"
    return info
