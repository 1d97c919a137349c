"""``midway check-videos``: audit a video folder before pretraining on it.

Runs the dataset's own scan (the same files, the same checks, the same index cache) and prints per file whether
decord's random access returns the frames asked for, which reader the dataset will use, frame count and fps.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections import Counter
from pathlib import Path

from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import check_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``midway check-videos``."""
    parser = subparsers.add_parser(
        "check-videos",
        help="audit videos: is random access exact, which reader is used, frames, fps",
        description=(
            "Scan DIR (recursively; or one video file) as the pretraining dataset does and print, per video, "
            "whether decord's random access returns the frames asked for (checked against a sequential decode of "
            "the same frames), the reader the dataset will use for it (decord; where decord is wrong, PyAV's "
            "keyframe reader or OpenCV's seeking if exact, else a sequential decode), its frame count, fps, "
            "codec and container, and every skipped file with the reason. Details: docs/video-seeking.md."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("root", type=Path, metavar="DIR", help="folder of videos (or one video file)")
    parser.add_argument(
        "--index-cache",
        type=Path,
        default=None,
        metavar="FILE",
        help="the dataset's index cache: reuse and update it (same file as data.index_cache)",
    )
    parser.add_argument("--workers", type=int, default=4, help="threads opening files")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when any file has inexact random access or is skipped"
    )
    parser.set_defaults(func=run)


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def run(args: argparse.Namespace) -> int:
    """Scan and print the audit; returns the exit code."""
    if not args.root.exists():
        raise CommandError(f"{str(args.root)!r} does not exist")
    if args.workers < 1:
        raise CommandError(f"--workers must be >= 1, got {args.workers}")
    if args.index_cache is not None:
        check_output(args.index_cache, "--index-cache", folder=False)

    from midway_plugin.data.video.info import NoUsableVideoError
    from midway_plugin.data.video.pairs import VideoPairDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every warning's content is in the table below
        try:
            dataset = VideoPairDataset(
                args.root,
                delta_t=1,
                repeat=1,
                mode="folder",
                scan_workers=args.workers,
                index_cache=args.index_cache,
                seek_check="fallback",
            )
            videos, skipped = dataset.videos, dataset.skipped
        except NoUsableVideoError as err:
            videos, skipped = [], None
            message = str(err)

    base = args.root if args.root.is_dir() else args.root.parent
    header = ["file", "random access", "reader", "frames", "fps", "codec", "container"]
    rows = []
    for info in videos:
        seek = info.seek
        if seek is None:
            access, codec, container = "not checked", "?", Path(info.path).suffix.lstrip(".")
        else:
            verdict = "exact" if seek.exact else "WRONG"
            access = f"{verdict} ({seek.max_difference:.1f})"
            codec, container = seek.codec, seek.container
        if info.decord_problem:  # decord decodes the frames wrong (not only seeks wrong): checked with PyAV onwards
            access = "WRONG (shape)"
        rows.append(
            [
                os.path.relpath(info.path, base),
                access,
                info.reader,
                str(info.num_frames),
                f"{info.fps:.3f}",
                codec,
                container,
            ]
        )
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        print(_row(header, widths))
        for row in rows:
            print(_row(row, widths))
    if skipped is None:
        print(message)
        return 1
    for path, reason in skipped.items():
        print(f"skipped  {os.path.relpath(path, base)}: {reason}")

    inexact = [info for info in videos if info.decord_problem or (info.seek is not None and not info.seek.exact)]
    by_reader = Counter(info.reader for info in inexact)
    print(
        f"{len(videos)} usable video(s): {len(videos) - len(inexact)} with exact random access (decord), "
        f"{len(inexact)} read with an exact reader"
        + (f" ({', '.join(f'{name}: {n}' for name, n in sorted(by_reader.items()))})" if inexact else "")
        + f"; {len(skipped)} skipped. 'random access': decord's frames against a sequential decode of the same "
        "frames (largest mean difference in grey levels)."
    )
    for info in inexact:
        why = info.decord_problem or (info.seek.describe() if info.seek is not None else "")
        print(f"  {os.path.relpath(info.path, base)}: {why}")
    return 1 if args.strict and (inexact or skipped) else 0
