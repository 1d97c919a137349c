"""``midway configs``: the configs this package ships, and the path of one, wherever it is installed.

A wheel carries them in ``midway_plugin/.mim/configs/`` (copied there at build time by ``setup.py``, beside
``model-index.yml``, the layout ``mim search`` reads); a source checkout or editable install reads the checkout's
``configs/``. ``mim train mmseg "$(midway configs path NAME)"`` then works from any directory: the configs' own
``_base_`` entries are relative to the file (``./_base_/...``) or name an installed package (``mmseg::``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from midway_plugin.commands.errors import CommandError

#: The config families, one folder each: OpenMMLab Python configs and ``midway pretrain`` YAML.
FAMILIES = ("mmseg", "mmflow", "pretrain")
_SUFFIXES = (".py", ".yaml")
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def config_root(package_dir: Path = _PACKAGE_DIR) -> Path:
    """The folder holding ``mmseg/``, ``mmflow/`` and ``pretrain/``: the wheel's ``.mim/configs``, else the
    checkout's ``configs/`` (editable or source use).

    Raises:
        CommandError: neither exists (a wheel built without its configs).
    """
    candidates = (package_dir / ".mim" / "configs", package_dir.parent / "configs")
    for root in candidates:
        if all((root / family).is_dir() for family in FAMILIES):
            return root
    raise CommandError(
        "no configs found: looked in "
        + " and ".join(str(c) for c in candidates)
        + " (a wheel must be built with setup.py, which copies configs/ into midway_plugin/.mim/)"
    )


def list_configs(root: Path, family: str | None = None) -> list[tuple[str, Path]]:
    """``(family/name, path)`` of every runnable config (``_base_`` fragments excluded), sorted."""
    found = []
    for fam in FAMILIES if family is None else (family,):
        for path in sorted((root / fam).iterdir()):
            if path.is_file() and path.suffix in _SUFFIXES:
                found.append((f"{fam}/{path.stem}", path))
    return found


def find_config(name: str, root: Path) -> Path:
    """The path of the config ``name``: its file name with or without the extension, optionally prefixed by its
    family (``mmseg/linear_midway-tiny_1xb16-2k_synthetic-64x64``).

    Raises:
        CommandError: no config or several configs match; the message lists the closest names.
    """
    configs = list_configs(root)
    key = name.strip().removeprefix("configs/")
    stem = key.rsplit(".", 1)[0] if key.endswith(_SUFFIXES) else key
    matches = [path for full, path in configs if stem in (full, full.split("/", 1)[1])]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommandError(
            f"config {name!r} is ambiguous: "
            + ", ".join(str(m.relative_to(root)) for m in matches)
            + "; prefix it with its family (mmseg/, mmflow/, pretrain/)"
        )
    short = {full.split("/", 1)[1]: full for full, _ in configs}
    close = [short[s] for s in difflib.get_close_matches(stem.split("/")[-1], list(short), n=3, cutoff=0.5)]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `midway configs` lists them"
    raise CommandError(f"no config named {name!r} in {root}{hint}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "configs",
        help="list the packaged configs, or print the path of one (for mim train)",
        description=(
            "Without a subcommand: list every config this package ships (family/name and path). "
            "`midway configs path NAME` prints the absolute path of one, for "
            '`mim train mmseg "$(midway configs path NAME)"` from any directory. '
            "Installed from a wheel, the configs are in midway_plugin/.mim/configs; from a checkout, in configs/."
        ),
    )
    parser.add_argument("--family", choices=FAMILIES, help="list only this family's configs")
    sub = parser.add_subparsers(dest="configs_command", metavar="{list,path,root}")
    listing = sub.add_parser("list", help="list the configs (the default)")
    listing.add_argument("--family", choices=FAMILIES, dest="list_family", help="list only this family's configs")
    path = sub.add_parser("path", help="print the absolute path of one config")
    path.add_argument("name", help="a config name as `midway configs` lists it, with or without family/ and extension")
    sub.add_parser("root", help="print the folder that holds the config families")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = config_root()
    if args.configs_command == "path":
        print(find_config(args.name, root))
        return 0
    if args.configs_command == "root":
        print(root)
        return 0
    family = getattr(args, "list_family", None) or args.family
    configs = list_configs(root, family)
    width = max(len(name) for name, _ in configs)
    try:
        for name, path in configs:
            print(f"{name:<{width}}  {path}")
        sys.stdout.flush()
    except BrokenPipeError:  # `midway configs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
