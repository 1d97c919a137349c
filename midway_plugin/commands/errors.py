"""The one error type a ``midway`` subcommand raises for bad input."""


class CommandError(Exception):
    """A user-facing error: printed as ``midway <command>: error: ...`` with exit code 2, no traceback."""
