"""The subcommands' output paths, held or checked with :mod:`midway_plugin.output_lock` (refusals: CommandError)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from midway_plugin.commands.errors import CommandError
from midway_plugin.output_lock import OutputLock, OutputLockError, check_writable


@contextmanager
def held_output(target: str | os.PathLike[str], what: str, *, folder: bool = True) -> Iterator[None]:
    """Holds ``target`` for the block: one writer per output folder or file.

    Raises:
        CommandError: another process holds ``target`` (the message names it), or it cannot be written.
    """
    lock = OutputLock(target, what, folder=folder)
    try:
        lock.acquire()
    except OutputLockError as err:
        raise CommandError(str(err)) from None
    try:
        yield
    finally:
        lock.release()


def check_output(target: str | os.PathLike[str], what: str, *, folder: bool = True) -> None:
    """Refuses an output path this process cannot write (a file, a path under a file, read-only), before any work.

    Raises:
        CommandError: names ``what``, ``target`` and the reason.
    """
    try:
        check_writable(target, what, folder=folder)
    except OutputLockError as err:
        raise CommandError(str(err)) from None
