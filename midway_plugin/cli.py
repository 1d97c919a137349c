"""The ``midway`` command line.

Every module in :mod:`midway_plugin.commands` that defines ``register(subparsers)`` adds one
subcommand; ``register`` creates its parser and sets ``func`` (called with the parsed namespace,
returning an exit code). A subcommand that also sets ``accepts_overrides=True`` receives the tokens its parser
does not know (``--section.key VALUE`` config overrides) as ``args.overrides``; for any other subcommand they are
an error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from midway_plugin import __version__, commands
from midway_plugin.commands.errors import CommandError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midway",
        description="Midway Network (Hoang & Ren, ICLR 2026): pretraining from video, export, analysis.",
    )
    parser.add_argument("--version", action="version", version=f"midway-plugin {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        if not getattr(args, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.overrides = extras
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"midway {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
