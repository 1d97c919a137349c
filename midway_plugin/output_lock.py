"""One writer per output: a run holds its output folder (or file) with a kernel lock that a crash cannot leave stale.

``midway pretrain``, ``export``, ``make-video`` and ``bench`` hold what they write into for as long as they write:
``fcntl.flock`` on a lock file (``.midway.lock`` inside a folder, ``.NAME.lock`` beside a file). The kernel drops
the lock when the holding process ends, ``kill -9`` included, so a lock file left behind by a crash holds nothing
and the next run takes it over (processes forked from the holder, such as data-loader workers, close their copy
of the lock at once, so they cannot keep it after the holder died). The holder writes its pid, host, command and
start time into the file, so a refused run can say who holds the output. The file is removed on a clean release;
a run that finds the file replaced under it (released and removed meanwhile) opens the new one, so two runs never
hold two different files.

Under DDP only the launching process (global rank 0) holds the lock: the processes Lightning or ``torchrun``
start run with ``LOCAL_RANK``/``RANK``/``NODE_RANK`` set (:func:`is_launching_process`).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

#: The lock file inside a held folder.
FOLDER_LOCK_NAME = ".midway.lock"
#: Environment variables that name a process's rank (Lightning, torchrun, SLURM); any non-zero one means the
#: process was started by a launcher and is not the one that holds the output.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")


#: The locks this process holds, by descriptor: a forked child (a data-loader worker) closes its copies at once
#: (:func:`_forget_in_child`), so that the lock ends with the process that took it, not with its last worker.
_HELD: dict[int, OutputLock] = {}


def _forget_in_child() -> None:
    for fd, lock in list(_HELD.items()):
        lock._fd = None
        try:
            os.close(fd)  # the parent's descriptor keeps the flock; this copy would outlive a killed parent
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class OutputLockError(ValueError):
    """The output cannot be held: in use by another run (named), or not a writable folder; the message names it."""


def is_launching_process() -> bool:
    """Whether this process is the one a user started (rank 0 of every launcher), the one that holds outputs."""
    return all(os.environ.get(name, "0").strip() in ("", "0") for name in _RANK_VARIABLES)


def lock_path(target: str | os.PathLike[str], *, folder: bool = True) -> Path:
    """The lock file of an output folder (inside it) or an output file (beside it, hidden)."""
    target = Path(target)
    return target / FOLDER_LOCK_NAME if folder else target.with_name(f".{target.name}.lock")


def _holder_text(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict) or "pid" not in holder:
        return "another process (it has not recorded itself yet)"
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')!r}, started {holder.get('started')}, "
        f"command: {holder.get('command')}"
    )


def _folder_problem(target: Path, folder: Path, what: str, err: OSError | None) -> OutputLockError:
    """A clear error for a folder that cannot be created or written (a file, under a file, read-only, ...)."""
    reasons = {
        errno.ENOTDIR: "a parent of it is a file, not a folder",
        errno.EEXIST: "it exists and is not a folder",
        errno.EROFS: "it is on a read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left on the device",
    }
    if folder.exists() and not folder.is_dir():
        reason = "it is a file, not a folder"
    elif err is None:
        reason = "it is not a folder"
    else:
        reason = reasons.get(err.errno or 0, err.strerror or str(err))
    if folder != target:
        reason = f"its folder {str(folder)!r}: {reason}"
    return OutputLockError(f"{what} {str(target)!r} cannot be written: {reason}")


def _unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be created in the existing ``folder`` (None if they can)."""
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return "it is on a read-only file system" if read_only else "permission denied (not writable)"


def check_writable(target: str | os.PathLike[str], what: str, *, folder: bool = True) -> Path:
    """Creates the output folder (of ``target``, or ``target`` itself) and checks that it can be written.

    Args:
        target: The output folder, or the output file when ``folder=False``.
        what: How messages name it (``"--out"``, ``"output_dir"``).
        folder: Whether ``target`` is a folder.

    Returns:
        ``target`` as a ``Path`` (``~`` expanded).

    Raises:
        OutputLockError: ``target`` (or a parent) is a file, a file target is a folder, or the folder cannot be
            created or is not writable (read-only mount, permissions); the message names ``what`` and ``target``.
    """
    target = Path(os.path.expanduser(os.fspath(target)))
    parent = target if folder else target.parent
    if not folder and target.is_dir():
        raise OutputLockError(f"{what} {str(target)!r} cannot be written: it is a folder, not a file")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _folder_problem(target, parent, what, err) from None
    if not parent.is_dir():
        raise _folder_problem(target, parent, what, None)
    reason = _unwritable_reason(parent)
    if reason is not None:
        if parent != target:
            reason = f"its folder {str(parent)!r}: {reason}"
        raise OutputLockError(f"{what} {str(target)!r} cannot be written: {reason}")
    if not folder and target.exists() and not os.access(target, os.W_OK):
        raise OutputLockError(f"{what} {str(target)!r} cannot be written: the file is read-only")
    return target


def _this_command() -> str:
    """This process's command line as the user typed it (``python -m midway_plugin.cli`` shows as ``midway``)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("cli.py", "__main__.py", "midway"):
        program = "midway"
    return " ".join([program, *sys.argv[1:]])


class OutputLock:
    """Holds one output (a folder or a file) for this process; a context manager.

    Args:
        target: The output folder, or the output file when ``folder=False``.
        what: How messages name the output (``"output_dir"``, ``"--out"``, ``"export file"``).
        folder: ``target`` is a folder (created if missing; the lock file goes inside), else a file.
        command: What the holder records as its command (default: this process's command line).

    Raises:
        OutputLockError: On :meth:`acquire`: another process holds it (the message names that holder), or the
            folder cannot be created or written.
    """

    def __init__(
        self, target: str | os.PathLike[str], what: str, *, folder: bool = True, command: str | None = None
    ) -> None:
        self.target = Path(os.path.expanduser(os.fspath(target)))
        self.what = what
        self.folder = folder
        self.command = command if command is not None else _this_command()
        self.path = lock_path(self.target, folder=folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> OutputLock:
        """Takes the lock without waiting; records this process as the holder."""
        if self._fd is not None:
            return self
        parent = check_writable(self.target, self.what, folder=self.folder)
        parent = parent if self.folder else parent.parent
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise _folder_problem(self.target, parent, self.what, err) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputLockError(
                    f"{self.what} {str(self.target)!r} is in use by another run ({_holder_text(self.path)}); "
                    f"wait for it to finish, or write somewhere else (lock file: {self.path})"
                ) from None
            try:  # the holder before us may have released and removed the file between our open and flock
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        _HELD[fd] = self
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(holder).encode())
        except OSError:  # a full disk: the lock holds all the same, only the holder's name is missing
            pass
        return self

    def release(self) -> None:
        """Removes the lock file and drops the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        _HELD.pop(self._fd, None)
        os.close(self._fd)  # closing the last descriptor drops the flock
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:
        fd: Any = getattr(self, "_fd", None)
        if fd is not None:
            _HELD.pop(fd, None)
            os.close(fd)


__all__ = ["FOLDER_LOCK_NAME", "OutputLock", "OutputLockError", "check_writable", "is_launching_process", "lock_path"]
