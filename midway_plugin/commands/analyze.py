"""``midway analyze``: forwarded-feature perturbation heatmaps and perturbation tracking (paper §4.4)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from midway_plugin.analysis.defaults import DEFAULT_GAP, DEFAULT_REPEATS, DEFAULT_TRACK_FRAMES, TOP_K
from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import check_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.

DEFAULT_SEED = 0
_COLOR_NAMES = ("green", "red")  # render.TRACK_COLORS[0], [1]

_LEVEL_HELP = (
    "feature level to perturb, as a ViT block number (paper notation: 3, 6 or 9 for ViT-S/B). Default: the "
    "highest level with a forward predictor (9 for ViT-S/B): the most semantic of the predicted levels, whose "
    "motion latents come straight from the top of the midway path (Algorithm 1), where object-level rather "
    "than texture-level correspondence is expected. The paper does not state which level it perturbed."
)
_REPEATS_HELP = (
    "random tangents r ~ N(0, I) averaged per heatmap (default %(default)s). One draw's cosine fluctuates by "
    "about 1/sqrt(D) for D-dim tokens; the mean of K draws by about 1/sqrt(D*K) (0.018 for ViT-S, D=384, K=8), "
    "a few hundredths of the map's range, while the cost grows linearly with K. The paper does not state K."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``midway analyze {perturb,track}``."""
    parser = subparsers.add_parser(
        "analyze",
        help="look at what the learned dynamics track (perturbation heatmaps, tracking)",
        description=(
            "Forwarded-feature perturbation analysis of a Midway export (Hoang & Ren, ICLR 2026, §4.4): "
            "attach a random tangent to one source token, push it through the forward predictor with the "
            "frame pair's motion latents held fixed (torch.func.jvp), and map the cosine between it and each "
            "predicted target token's tangent."
        ),
    )
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    parser.set_defaults(func=lambda args: _print_help(parser))

    perturb = sub.add_parser(
        "perturb",
        help="perturbation heatmaps for a frame pair",
        description=(
            "Heatmaps over the target frame showing where each chosen source point's feature is carried by "
            "the forward predictor. Writes source.png (the points), point<k>.png (source | target + heatmap), "
            "grid.png (all points), peaks.png (an arrow from each point to its heatmap peak), heatmaps.npy "
            "((P, h, w) mean cosines, raw), gains.npy (mean ||output tangent|| / ||r||: the cosine is blind to "
            "magnitude) and summary.json. --points all perturbs every token (no per-point PNGs then)."
        ),
    )
    _common(perturb, DEFAULT_REPEATS)
    src = perturb.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="video file (decord); the pair is frames T and T+D")
    src.add_argument("--frames", type=Path, nargs=2, metavar=("SOURCE", "TARGET"), help="two image files")
    perturb.add_argument(
        "--frame-index", type=int, default=0, metavar="T", help="source frame index in --video (default 0)"
    )
    perturb.add_argument(
        "--gap",
        type=int,
        default=DEFAULT_GAP,
        metavar="D",
        help="target = frame T+D (default %(default)s = 0.5 s at 30 fps, the lower end of the pretraining "
        "Δt ∈ [15, 30])",
    )
    perturb.add_argument(
        "--points",
        nargs="+",
        metavar="X,Y",
        help="source points in pixels of the resized frame (x right, y down), or 'all' for every token; "
        "default: a 3x3 grid",
    )
    perturb.set_defaults(func=run_perturb)

    track = sub.add_parser(
        "track",
        help="track a point through a clip with perturbation heatmaps",
        description=(
            "From --start, at each frame pair take the top-5 heatmap locations of the current point and keep "
            "the one whose encoder feature is most similar to the current point's; repeat frame by frame. "
            "--baseline adds plain feature-similarity tracking (argmax cosine over the next frame). Writes "
            "track.csv, track.json, track_strip.png and track.gif."
        ),
    )
    _common(track, DEFAULT_REPEATS)
    track.add_argument("--video", type=Path, required=True, help="video file (decord)")
    track.add_argument("--start", required=True, metavar="X,Y", help="start point in pixels of the resized frame")
    track.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_TRACK_FRAMES,
        metavar="N",
        help="frames to track through (default %(default)s)",
    )
    track.add_argument("--frame-index", type=int, default=0, metavar="T", help="first frame index (default 0)")
    track.add_argument(
        "--gap",
        type=int,
        default=DEFAULT_GAP,
        metavar="D",
        help="frames between tracked frames (default %(default)s, as for perturb)",
    )
    track.add_argument(
        "--top-k", type=int, default=TOP_K, help="heatmap candidates per step (default %(default)s, as in the paper)"
    )
    track.add_argument("--baseline", action="store_true", help="also track by plain feature similarity")
    track.set_defaults(func=run_track)


def _common(p: argparse.ArgumentParser, default_repeats: int) -> None:
    p.add_argument("--weights", type=Path, required=True, metavar="EXPORT", help="a Midway export (.safetensors)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--level", type=int, default=None, help=_LEVEL_HELP)
    p.add_argument("--repeats", type=int, default=default_repeats, metavar="K", help=_REPEATS_HELP)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random tangents (default %(default)s)")
    p.add_argument(
        "--img-size",
        default=None,
        metavar="N|HxW",
        help="frames are resized to this (default: the export's img_size); must divide by the patch size",
    )
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument(
        "--chunk-size",
        type=int,
        default=256,
        help="(point, repeat) tangents per batched jvp call; bounds memory (default %(default)s)",
    )


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _check_out(args: argparse.Namespace) -> None:
    """``--out`` is a folder this process can write (checked before the model loads)."""
    check_output(args.out, "--out")


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """Model, its device, frame size and the chosen level's block."""
    import torch

    from midway_plugin.analysis import AnalysisError, resolve_level
    from midway_plugin.analysis.frames import parse_size
    from midway_plugin.models import MidwayExportError, build_from_export

    if args.repeats < 1:
        raise CommandError(f"--repeats must be >= 1, got {args.repeats}")
    if args.chunk_size < 1:
        raise CommandError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    if not Path(args.weights).is_file():
        raise CommandError(f"--weights file {str(args.weights)!r} does not exist")
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as err:
        raise CommandError(f"--device {args.device!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"--device {args.device!r}: CUDA is not available on this machine")
    try:
        model = build_from_export(args.weights)
    except MidwayExportError as err:
        raise CommandError(str(err)) from None
    model.eval().to(device)
    patch = int(model.encoder.patch_size)
    try:
        size = parse_size(args.img_size if args.img_size is not None else model.cfg.img_size, patch)
        block = resolve_level(model, args.level)
    except AnalysisError as err:
        raise CommandError(str(err)) from None
    return model, device, size, block


def _generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


def run_perturb(args: argparse.Namespace) -> int:
    """``midway analyze perturb``: heatmaps for several source points of one frame pair."""
    import numpy as np

    from midway_plugin.analysis import AnalysisError, perturbation_heatmaps, prepare_pair, render
    from midway_plugin.analysis.frames import (
        normalize_frames,
        parse_point,
        point_to_token,
        read_images,
        read_video,
        resize_frames,
        token_center,
    )

    _check_out(args)
    model, device, size, block = _load(args)
    h_px, w_px = size
    patch = int(model.encoder.patch_size)
    try:
        if args.video is not None:
            raw, indices = read_video(args.video, args.frame_index, args.gap, 2)
            source_name = f"{args.video}"
        else:
            raw, indices = read_images(args.frames), [0, 1]
            source_name = f"{args.frames[0]} -> {args.frames[1]}"
        every_token = args.points == ["all"]
        if every_token:
            texts = [
                f"{(c + 0.5) * patch:g},{(r + 0.5) * patch:g}"
                for r in range(h_px // patch)
                for c in range(w_px // patch)
            ]
        else:
            texts = args.points or [
                f"{w_px * fx:g},{h_px * fy:g}" for fy in (0.25, 0.5, 0.75) for fx in (0.25, 0.5, 0.75)
            ]
        points = [parse_point(t) for t in texts]
        tokens = [point_to_token(p, size, patch) for p in points]
    except AnalysisError as err:
        raise CommandError(str(err)) from None

    frames = resize_frames(raw, size)
    x = normalize_frames(frames, device)
    grid = (h_px // patch, w_px // patch)
    flat = [r * grid[1] + c for r, c in tokens]
    try:
        pair = prepare_pair(model, x[0:1], x[1:2], block)
        heat, gains = perturbation_heatmaps(
            model,
            pair,
            flat,
            repeats=args.repeats,
            generator=_generator(args.seed),
            chunk_size=args.chunk_size,
            return_gains=True,
        )
    except AnalysisError as err:
        raise CommandError(str(err)) from None
    heat, gains = heat.float().cpu().numpy(), gains.float().cpu().numpy()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "heatmaps.npy", heat)
    np.save(out / "gains.npy", gains)
    scale = render.display_scale(size)
    src_img, tgt_img = render.upscale(frames[0], scale), render.upscale(frames[1], scale)
    shown = [(px * scale, py * scale) for px, py in (token_center(r, c, patch) for r, c in tokens)]
    labels = None if every_token else [str(k) for k in range(len(points))]
    render.save_png(render.draw_points(src_img, shown, labels=labels), out / "source.png")

    rows: list[Any] = []
    records: list[dict[str, Any]] = []
    for k, ((r, c), hm) in enumerate(zip(tokens, heat, strict=True)):
        peak_r, peak_c = np.unravel_index(int(np.argmax(hm)), hm.shape)
        peak_xy = token_center(int(peak_r), int(peak_c), patch)
        records.append(
            {
                "point": list(points[k]),
                "token": [r, c],
                "peak_token": [int(peak_r), int(peak_c)],
                "peak_point": list(peak_xy),
                "peak_value": float(hm.max()),
                "min_value": float(hm.min()),
            }
        )
        if every_token:
            continue
        color = [render.TRACK_COLORS[k % len(render.TRACK_COLORS)]]
        left = render.draw_points(src_img, [shown[k]], colors=color)
        right = render.overlay_heatmap(tgt_img, hm)
        right = render.draw_points(right, [(peak_xy[0] * scale, peak_xy[1] * scale)], colors=[(255, 255, 255)])
        panel = render.hstack(
            [
                render.labelled(left, f"{k}: source ({points[k][0]:g},{points[k][1]:g})"),
                render.labelled(right, f"peak ({peak_xy[0]:g},{peak_xy[1]:g}) cos {hm.max():.3f}"),
            ]
        )
        render.save_png(panel, out / f"point{k}.png")
        rows.append(panel)
    if rows:
        render.save_png(render.vstack(rows), out / "grid.png")
    peaks = [(rec["peak_point"][0] * scale, rec["peak_point"][1] * scale) for rec in records]
    arrows = render.draw_arrows(src_img, shown, peaks)
    render.save_png(render.labelled(arrows, "source token -> heatmap peak in the target"), out / "peaks.png")
    summary = {
        "weights": str(args.weights),
        "input": source_name,
        "frame_indices": indices,
        "img_size": [h_px, w_px],
        "patch_size": patch,
        "grid": list(grid),
        "level": pair.level_block,
        "level_index": pair.level_index,
        "repeats": args.repeats,
        "seed": args.seed,
        "points": records,
        "heatmaps": "heatmaps.npy: (P, h, w) float32, mean cosine(r, output tangent) per target token",
        "gains": "gains.npy: (P, h, w) float32, mean ||output tangent|| / ||r|| per target token",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(points)} heatmap(s) at level {pair.level_block} to {out}")
    return 0


def run_track(args: argparse.Namespace) -> int:
    """``midway analyze track``: perturbation tracking (and the feature-similarity baseline) through a clip."""
    import numpy as np

    from midway_plugin.analysis import AnalysisError, render
    from midway_plugin.analysis.frames import normalize_frames, parse_point, point_to_token, read_video, resize_frames
    from midway_plugin.analysis.tracking import track_feature_similarity, track_perturbation, write_tracks

    if args.frames < 2:
        raise CommandError(f"--frames must be >= 2 to track, got {args.frames}")
    if args.top_k < 1:
        raise CommandError(f"--top-k must be >= 1, got {args.top_k}")
    _check_out(args)
    model, device, size, block = _load(args)
    patch = int(model.encoder.patch_size)
    try:
        start = point_to_token(parse_point(args.start), size, patch)
        raw, indices = read_video(args.video, args.frame_index, args.gap, args.frames)
    except AnalysisError as err:
        raise CommandError(str(err)) from None
    frames = resize_frames(raw, size)
    x = normalize_frames(frames, device)
    try:
        tracks = [
            track_perturbation(
                model,
                x,
                start,
                block,
                repeats=args.repeats,
                top_k=args.top_k,
                generator=_generator(args.seed),
                frame_indices=indices,
            )
        ]
        if args.baseline:
            tracks.append(track_feature_similarity(model, x, start, block, frame_indices=indices))
    except AnalysisError as err:
        raise CommandError(str(err)) from None

    out = Path(args.out)
    write_tracks(
        tracks,
        out,
        metadata={
            "weights": str(args.weights),
            "video": str(args.video),
            "start": list(parse_point(args.start)),
            "img_size": list(size),
            "level": block,
            "repeats": args.repeats,
            "top_k": args.top_k,
            "seed": args.seed,
            "colors": {tr.method: list(render.TRACK_COLORS[k]) for k, tr in enumerate(tracks)},
        },
    )
    scale = render.display_scale(size)
    big = [render.upscale(f, scale) for f in frames]
    paths = [[(px * scale, py * scale) for px, py in tr.points] for tr in tracks]
    drawn = render.draw_tracks(np.stack(big), paths)
    captions = [f"frame {i}" for i in indices]
    legend = ", ".join(f"{tr.method}={_COLOR_NAMES[k]}" for k, tr in enumerate(tracks))
    strip = render.hstack([render.labelled(f, c) for f, c in zip(drawn, captions, strict=True)])
    render.save_png(render.labelled(strip, legend), out / "track_strip.png")
    render.save_gif(drawn, out / "track.gif")
    print(f"tracked {len(indices)} frames at level {block} ({legend}) to {out}")
    return 0
