"""Checkpoint files that are either complete or absent: written to a temp file next to the target, then renamed.

Lightning's default ``TorchCheckpointIO`` writes through fsspec, whose local "transaction" stages the bytes in the
system temp directory and *moves* them into place: across filesystems (local ``/tmp``, ``output_dir`` on network
storage) that move is a copy, so a kill during it leaves ``last.ckpt`` empty or half written. Here the temp file is
created in the target's own directory, flushed and fsync'ed, then ``os.replace``'d over the target (atomic on
POSIX), so the previous checkpoint stays intact until the new one is complete. A temp file left by a killed save
is removed by the next save (of the same checkpoint, or of any other once the process that wrote it is gone).
"""

from __future__ import annotations

import errno
import io
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins import TorchCheckpointIO

TEMP_MARKER = ".tmp-"


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (full disk, permissions); the message names the file and the need."""


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def temp_path(path: Path) -> Path:
    """The temp file a save of ``path`` by this process writes first (hidden, same directory)."""
    return path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")


def save_atomically(obj: Any, path: str | os.PathLike[str]) -> int:
    """``torch.save(obj)`` to ``path`` so that ``path`` is never seen incomplete.

    Returns:
        The size written, in bytes.

    Raises:
        CheckpointSaveError: Not enough space (the message gives the size needed and the space free), or another
            OS error; the file previously at ``path`` is untouched and no temp file is left behind.
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getbuffer()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointSaveError(f"cannot create the checkpoint directory {path.parent}: {err.strerror}") from err
    _remove_stale_temp_files(path)
    free = _free_bytes(path.parent)
    if free < len(data):
        raise CheckpointSaveError(errno.ENOSPC, _no_space(path, len(data), free))
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointSaveError(err.errno, _no_space(path, len(data), _free_bytes(path.parent))) from err
        raise CheckpointSaveError(err.errno, f"cannot save checkpoint {path}: {err.strerror or err}") from err
    return len(data)


def _remove_stale_temp_files(path: Path) -> None:
    """Deletes the temp files killed saves left in ``path``'s directory: those of ``path`` itself, and any other
    whose writing process is gone."""
    for stale in path.parent.glob(f".*{TEMP_MARKER}*"):
        pid = stale.name.rpartition(TEMP_MARKER)[2]
        same_target = stale.name.startswith(f".{path.name}{TEMP_MARKER}")
        if same_target or (pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid))):
            stale.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _no_space(path: Path, needed: int, free: int) -> str:
    existing = sorted(
        (p for p in path.parent.glob("*.ckpt") if p.is_file() and TEMP_MARKER not in p.name),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if existing:
        after = (
            f"the {len(existing)} checkpoint(s) already in {path.parent} are intact (newest: "
            f"{existing[0].name}; free some space, then resume with --resume last)"
        )
    else:
        after = "no checkpoint had been written yet, so there is nothing to resume (free some space and start again)"
    return (
        f"cannot save checkpoint {path}: it needs {_megabytes(needed)} and the filesystem has {_megabytes(free)} "
        f"free; {after}"
    )


def _fsync_directory(directory: Path) -> None:
    """Makes the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO`` writing with :func:`save_atomically`; remembers what it wrote (for the summary)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[Path] = []

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        save_atomically(checkpoint, path)
        path = Path(path)
        if path in self.written:
            self.written.remove(path)
        self.written.append(path)


__all__ = ["AtomicCheckpointIO", "CheckpointSaveError", "save_atomically"]
