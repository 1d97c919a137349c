"""``midway make-video``: synthetic videos with exact optical flow and segmentation ground truth."""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path

from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import held_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.


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


def _int_range(text: str) -> tuple[int, int]:
    lo, hi = _range(text)
    if not (lo.is_integer() and hi.is_integer()):
        raise argparse.ArgumentTypeError(f"expected whole numbers MIN,MAX (e.g. 2,6), got {text!r}")
    return int(lo), int(hi)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``midway make-video``."""
    parser = subparsers.add_parser(
        "make-video",
        help="generate synthetic videos with optical-flow and segmentation ground truth",
        description=(
            "Render textured objects (discs, squares, triangles) moving over a textured, panning background "
            "and write them as H.264 mp4 files (read back as written by the dataset's readers) with per-frame "
            "ground truth: forward optical "
            "flow as Middlebury .flo files, class masks as 8-bit PNG (0 = background), and JSON metadata "
            "(classes, fps, size, object trajectories), lossless PNG frames for the mmseg / mmflow benchmark "
            "datasets, a train/val split by video and flow magnitude statistics. Deterministic given --seed. "
            "Layout: OUT/videos/*.mp4 (train), OUT/videos_val/*.mp4 (held-out val), OUT/frames/NAME/NNNNNN.png, "
            "OUT/flow/NAME/NNNNNN.flo (frame N -> N+G, G = --frame-gap), OUT/masks/NAME/NNNNNN.png, "
            "OUT/meta/NAME.json, OUT/dataset.json (with the motion in tokens at the model's input)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    parser.add_argument("--num-videos", type=int, default=1, metavar="N", help="number of videos")
    parser.add_argument("--frames", type=int, default=64, metavar="T", help="frames per video")
    parser.add_argument("--size", type=_size, default=(128, 128), metavar="HxW", help="frame size in pixels")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the videos")
    parser.add_argument("--seed", type=int, default=0, help="random seed; video i uses SEED + i")
    parser.add_argument(
        "--objects",
        type=int,
        default=None,
        metavar="K",
        help="moving objects per video (default: 3; 0 with --pan-only)",
    )
    parser.add_argument(
        "--val-videos",
        type=int,
        default=None,
        metavar="K",
        help="hold out the last K videos as the val split (written to OUT/videos_val; default: a quarter of "
        "--num-videos, rounded down)",
    )
    parser.add_argument(
        "--object-speed",
        type=_range,
        default=(0.5, 2.5),
        metavar="MIN,MAX",
        help="range of object speeds in pixels per frame (each object draws its own)",
    )
    parser.add_argument(
        "--camera-speed",
        type=_range,
        default=(0.5, 2.0),
        metavar="MIN,MAX",
        help="range of the background pan speed in pixels per frame (a constant-velocity pan plus the wobble)",
    )
    parser.add_argument(
        "--camera-wobble",
        type=float,
        default=None,
        metavar="PX",
        help="largest amplitude of the camera's slow sinusoidal wobble in pixels (each video draws its own in "
        "[0, PX], period 20-60 frames; 0 = a pure pan; default: 3, 0 with --pan-only)",
    )
    parser.add_argument(
        "--texture-wavelength",
        type=_range,
        default=None,
        metavar="MIN,MAX",
        help="wavelength range in pixels of the background and object textures (MIN >= 2; default: relative to "
        "the frame size, background 0.25-0.6 x the shorter side, objects 0.35-0.7 x their radius, at least 6 px); "
        "textures whose wavelength exceeds twice the motion stay matchable",
    )
    parser.add_argument(
        "--frame-gap",
        type=int,
        default=1,
        metavar="G",
        help="write the flow ground truth from frame N to frame N+G (OUT/flow/NAME/NNNNNN.flo, --frames - G files "
        "per video): flow pairs with G times the per-frame motion",
    )
    parser.add_argument(
        "--pan-only",
        action="store_true",
        help="a control set: no objects and no wobble, only a constant-velocity camera pan (every pixel moves "
        "with the pan)",
    )
    stats = parser.add_argument_group(
        "motion in tokens (statistics only: the recipe that will read the videos; default: the tiny preset and "
        "configs/pretrain/demo.yaml)"
    )
    stats.add_argument(
        "--stats-input-size",
        type=int,
        default=32,
        metavar="PX",
        help="side of the model's input crop in pixels (data.motion.crop_size)",
    )
    stats.add_argument("--stats-patch-size", type=int, default=8, metavar="PX", help="the ViT's patch size")
    stats.add_argument(
        "--stats-crop-scale",
        type=_range,
        default=(0.3, 0.6),
        metavar="MIN,MAX",
        help="crop area range as a fraction of the frame (data.motion.crop_scale)",
    )
    stats.add_argument(
        "--stats-delta-t",
        type=_int_range,
        default=(2, 6),
        metavar="MIN,MAX",
        help="frame gap range of the pretraining pairs (data.delta_t in frames)",
    )
    parser.add_argument(
        "--save-frames",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write lossless PNG frames (OUT/frames/; the mmseg and mmflow datasets read them)",
    )
    parser.add_argument("--crf", type=int, default=0, help="x264 quality (0 = lossless, 12 = visually lossless)")
    parser.add_argument(
        "--pix-fmt",
        choices=("yuv444p", "yuv420p"),
        default="yuv444p",
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
        (args.objects is None or 0 <= args.objects <= 254, f"--objects must be in [0, 254], got {args.objects}"),
        (
            not args.pan_only or not args.objects,
            f"--pan-only renders no objects: drop --objects {args.objects} (or --pan-only)",
        ),
        (
            not args.pan_only or not args.camera_wobble,
            f"--pan-only is a pure pan: drop --camera-wobble {args.camera_wobble} (or --pan-only)",
        ),
        (
            args.camera_wobble is None or 0 <= args.camera_wobble < math.inf,
            f"--camera-wobble must be a finite number >= 0 (pixels), got {args.camera_wobble}",
        ),
        (
            args.texture_wavelength is None or args.texture_wavelength[0] >= 2,
            f"--texture-wavelength MIN must be >= 2 pixels (shorter waves alias), got {args.texture_wavelength}",
        ),
        (
            1 <= args.frame_gap < args.frames,
            f"--frame-gap must be in [1, --frames - 1] = [1, {args.frames - 1}], got {args.frame_gap}",
        ),
        (args.stats_input_size >= 1, f"--stats-input-size must be >= 1, got {args.stats_input_size}"),
        (args.stats_patch_size >= 1, f"--stats-patch-size must be >= 1, got {args.stats_patch_size}"),
        (
            0 < args.stats_crop_scale[0] and args.stats_crop_scale[1] <= 1,
            f"--stats-crop-scale must lie in (0, 1], got {args.stats_crop_scale}",
        ),
        (args.stats_delta_t[0] >= 1, f"--stats-delta-t must be >= 1 frame, got {args.stats_delta_t}"),
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

    with held_output(args.out, "--out"):  # one writer per output folder
        return _write(args, height, width)


def _write(args: argparse.Namespace, height: int, width: int) -> int:
    """Writes the dataset into the held ``--out`` and prints where everything is."""
    from midway_plugin.data.motion_tokens import format_token_stats, warn_if_sub_token
    from midway_plugin.data.synthetic.flow_stats import format_flow_stats
    from midway_plugin.data.synthetic.writer import write_synthetic_dataset

    start = time.perf_counter()
    try:
        summary = write_synthetic_dataset(
            args.out,
            num_videos=args.num_videos,
            num_frames=args.frames,
            size=(height, width),
            fps=args.fps,
            seed=args.seed,
            num_objects=0 if args.pan_only else (3 if args.objects is None else args.objects),
            save_frames=args.save_frames,
            crf=args.crf,
            pix_fmt=args.pix_fmt,
            val_videos=args.val_videos,
            camera_speed=args.camera_speed,
            object_speed=args.object_speed,
            frame_gap=args.frame_gap,
            camera_wobble=0.0 if args.pan_only else (3.0 if args.camera_wobble is None else args.camera_wobble),
            texture_wavelength=args.texture_wavelength,
            token_recipe=dict(
                input_size=args.stats_input_size,
                patch_size=args.stats_patch_size,
                crop_scale=args.stats_crop_scale,
                delta_t=args.stats_delta_t,
            ),
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
    print(f"  flow   : {args.out / 'flow'}/NAME/NNNNNN.flo  (forward flow, frame N -> N+{args.frame_gap})")
    print(f"  masks  : {args.out / 'masks'}/NAME/NNNNNN.png  (classes: {', '.join(summary['classes'])})")
    if args.save_frames:
        print(f"  frames : {args.out / 'frames'}/NAME/NNNNNN.png")
    print(f"  index  : {args.out / 'dataset.json'}  (classes, splits, flow_stats, motion_tokens)")
    stats = {k: v for k, v in summary["flow_stats"].items() if k in splits}
    for line in format_flow_stats(stats):
        print(f"  flow   {line}")
    tokens = summary["motion_tokens"]
    for key, label in (("pretrain_pairs", "pretraining pairs"), ("flow_pairs", "flow pairs")):
        for split, s in tokens[key].items():
            print(f"  tokens {label}, {split:5s}: {format_token_stats(s)}")
    warn_if_sub_token(
        tokens["pretrain_pairs"]["train"],
        "make-video (pretraining pairs, train split)",
        "raise --object-speed / --camera-speed (with a larger --texture-wavelength), the pairs' gap "
        "(data.delta_t, --stats-delta-t) or zoom in (a smaller data.motion.crop_scale or patch)",
    )
    warn_if_sub_token(
        tokens["flow_pairs"]["train"],
        f"make-video (flow pairs, frames {args.frame_gap} apart, train split)",
        "raise --frame-gap or --object-speed / --camera-speed",
    )
    return 0
