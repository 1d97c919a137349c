"""``midway make-video``: synthetic videos with exact optical flow and segmentation ground truth."""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from midway_plugin.commands.errors import CommandError


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected HxW (e.g. 128x128), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _range(text: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*([0-9.]+)\s*,\s*([0-9.]+)\s*", text)
    try:
        lo, hi = float(match.group(1)), float(match.group(2))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (e.g. 0.5,2.5), got {text!r}") from None
    if lo > hi:
        raise argparse.ArgumentTypeError(f"expected MIN <= MAX, got {text!r}")
    return lo, hi


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``midway make-video``."""
    parser = subparsers.add_parser(
        "make-video",
        help="generate synthetic videos with optical-flow and segmentation ground truth",
        description=(
            "Render textured objects (discs, squares, triangles) moving over a textured, panning background "
            "and write them as H.264 mp4 files (readable by decord) with per-frame ground truth: forward optical "
            "flow as Middlebury .flo files, class masks as 8-bit PNG (0 = background), and JSON metadata "
            "(classes, fps, size, object trajectories), lossless PNG frames for the mmseg / mmflow benchmark "
            "datasets, a train/val split by video and flow magnitude statistics. Deterministic given --seed. "
            "Layout: OUT/videos/*.mp4 (train), OUT/videos_val/*.mp4 (held-out val), OUT/frames/NAME/NNNNNN.png, "
            "OUT/flow/NAME/NNNNNN.flo (frame N -> N+1), OUT/masks/NAME/NNNNNN.png, OUT/meta/NAME.json, "
            "OUT/dataset.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    parser.add_argument("--num-videos", type=int, default=1, metavar="N", help="number of videos")
    parser.add_argument("--frames", type=int, default=64, metavar="T", help="frames per video")
    parser.add_argument("--size", type=_size, default=(128, 128), metavar="HxW", help="frame size in pixels")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the videos")
    parser.add_argument("--seed", type=int, default=0, help="random seed; video i uses SEED + i")
    parser.add_argument("--objects", type=int, default=3, metavar="K", help="moving objects per video")
    parser.add_argument(
        "--val-videos", type=int, default=None, metavar="K",
        help="hold out the last K videos as the val split (written to OUT/videos_val; default: a quarter of "
        "--num-videos, rounded down)",
    )
    parser.add_argument(
        "--object-speed", type=_range, default=(0.5, 2.5), metavar="MIN,MAX",
        help="range of object speeds in pixels per frame (each object draws its own)",
    )
    parser.add_argument(
        "--camera-speed", type=_range, default=(0.5, 2.0), metavar="MIN,MAX",
        help="range of the background pan speed in pixels per frame",
    )
    parser.add_argument(
        "--save-frames", action=argparse.BooleanOptionalAction, default=True,
        help="write lossless PNG frames (OUT/frames/; the mmseg and mmflow datasets read them)",
    )
    parser.add_argument("--crf", type=int, default=0, help="x264 quality (0 = lossless, 12 = visually lossless)")
    parser.add_argument(
        "--pix-fmt", choices=("yuv444p", "yuv420p"), default="yuv444p",
        help="yuv444p: full colour resolution (with --crf 0 the decoded frames match the ground truth); "
        "yuv420p: the common format, lossy chroma, even sizes only",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the videos; returns the exit code."""
    height, width = args.size
    checks = [
        (args.num_videos >= 1, f"--num-videos must be >= 1, got {args.num_videos}"),
        (args.frames >= 2, f"--frames must be >= 2 (flow needs a next frame), got {args.frames}"),
        (height >= 8 and width >= 8, f"--size must be at least 8x8, got {height}x{width}"),
        (
            args.pix_fmt != "yuv420p" or (height % 2 == 0 and width % 2 == 0),
            f"--size must be even in both dimensions with --pix-fmt yuv420p, got {height}x{width}",
        ),
        (args.fps > 0, f"--fps must be positive, got {args.fps}"),
        (0 <= args.objects <= 254, f"--objects must be in [0, 254], got {args.objects}"),
        (0 <= args.crf <= 51, f"--crf must be in [0, 51], got {args.crf}"),
        (
            args.val_videos is None or 0 <= args.val_videos < args.num_videos,
            f"--val-videos must be in [0, --num-videos - 1] = [0, {args.num_videos - 1}] (at least one training "
            f"video), got {args.val_videos}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise CommandError(message)
    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {str(args.out)!r} exists and is not a directory")

    from midway_plugin.data.flow_stats import format_flow_stats
    from midway_plugin.data.synthetic_writer import write_synthetic_dataset

    start = time.perf_counter()
    try:
        summary = write_synthetic_dataset(
            args.out,
            num_videos=args.num_videos,
            num_frames=args.frames,
            size=(height, width),
            fps=args.fps,
            seed=args.seed,
            num_objects=args.objects,
            save_frames=args.save_frames,
            crf=args.crf,
            pix_fmt=args.pix_fmt,
            val_videos=args.val_videos,
            camera_speed=args.camera_speed,
            object_speed=args.object_speed,
        )
    except OSError as err:
        raise CommandError(f"could not write to {str(args.out)!r}: {err}") from err
    except ValueError as err:
        raise CommandError(str(err)) from err
    elapsed = time.perf_counter() - start
    print(
        f"wrote {len(summary['videos'])} video(s) of {args.frames} frames at {height}x{width}, {args.fps:g} fps "
        f"to {args.out} in {elapsed:.1f} s"
    )
    splits = summary["splits"]
    print(f"  videos : {args.out / 'videos'}  ({len(splits['train'])} train videos: pretrain with this folder)")
    print(f"           {args.out / 'videos_val'}  ({len(splits['val'])} held-out val videos)")
    print(f"  flow   : {args.out / 'flow'}/NAME/NNNNNN.flo  (forward flow, frame N -> N+1)")
    print(f"  masks  : {args.out / 'masks'}/NAME/NNNNNN.png  (classes: {', '.join(summary['classes'])})")
    if args.save_frames:
        print(f"  frames : {args.out / 'frames'}/NAME/NNNNNN.png")
    print(f"  index  : {args.out / 'dataset.json'}  (classes, splits, flow_stats)")
    stats = {k: v for k, v in summary["flow_stats"].items() if k in splits}
    for line in format_flow_stats(stats):
        print(f"  flow   {line}")
    return 0
