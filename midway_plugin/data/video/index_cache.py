"""The optional JSON index cache of a video scan: a second scan of a large folder reopens no unchanged file.

One entry per file, keyed by its resolved path and validated by ``[size, mtime_ns, decode_short_side]``: the scan
result (:class:`~midway_plugin.data.video.info.VideoInfo`, or the reason the file is unusable). An unreadable or
foreign cache is ignored with a logged warning, a cache that cannot be written likewise: the cache never stops a run.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from midway_plugin.data.video.info import VideoInfo

logger = logging.getLogger(__name__)

#: The cache file's format version (entries of another version are ignored).
VERSION = 2


def cache_key(path: Path) -> str:
    """The index-cache key of a file: its resolved path, or its absolute path when it cannot be resolved."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: Python < 3.13 raises RuntimeError
        return str(path.absolute())


def file_stamp(path: Path, decode_short_side: int | None) -> list[Any] | None:
    """What must be unchanged for a cached result to hold: ``[size, mtime_ns, decode_short_side]`` (None: no stat)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, decode_short_side]


def cached_result(entry: Any, stamp: list[Any] | None) -> VideoInfo | str | None:
    """The scan result an index-cache entry holds for ``stamp``; None when absent, stale or malformed."""
    if stamp is None or not isinstance(entry, dict) or entry.get("key") != stamp:
        return None
    try:
        if "info" in entry:
            return VideoInfo.from_dict(entry["info"])
        return entry["reason"] if isinstance(entry.get("reason"), str) else None
    except (TypeError, KeyError, ValueError, AttributeError):  # fields of another version, not a mapping
        return None


def load_cache(cache_file: Path | None) -> dict[str, Any]:
    """The entries of ``cache_file`` (``{}`` when absent, unreadable or of another version)."""
    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        data = json.loads(cache_file.read_text())
        entries = data["entries"] if data.get("version") == VERSION else {}
        if not isinstance(entries, dict):
            raise TypeError(f"'entries' is a {type(entries).__name__}, not a mapping")
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        logger.warning("ignoring unreadable video index cache %s (%s)", cache_file, err)
        return {}


def save_cache(cache_file: Path, entries: dict[str, tuple[Any, VideoInfo | str]]) -> None:
    """Writes ``{cache key: (stamp, result)}`` atomically (a temporary file, then a rename)."""
    data = {
        "version": VERSION,
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
