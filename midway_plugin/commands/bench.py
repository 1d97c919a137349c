"""``midway bench quality``: paper Table 3 at small scale, through ``midway pretrain``/``export`` and ``mim``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from midway_plugin.commands import make_video
from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import held_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.

_EPILOG = """\
examples:
  midway bench quality --out bench_out                 # the default run (~30-60 min on 2 CPU cores)
  midway bench quality --out bench_quick --quick       # every stage once, tiny sizes (< 3 min)
  midway bench quality --out bench_small --recipe small --seeds 3 --variants base,full   # the small-scale recipe
  midway bench quality --out bench_pan --recipe small --variants base,full --pan-only    # + the pan-only control
  midway bench quality --out bench_gpu --accelerator gpu --pretrain-steps 3000 --batch-size 32 \\
      --num-videos 200 --size 128x128 --seg-iters 4000 --flow-iters 4000 --jobs 1
  midway bench quality --out bench_real --pretrain-videos my_videos/   # pretrain on real video
results: OUT/results.json (every number), OUT/results.md (table), OUT/results.png, OUT/logs/ (one log per stage).
"""


def _size(text: str) -> tuple[int, int]:
    return make_video._size(text)


def _range(text: str) -> tuple[float, float]:
    return make_video._range(text)


def _int_range(text: str) -> tuple[int, int]:
    return make_video._int_range(text)


def register(subparsers: Any) -> None:
    """Add ``midway bench quality``."""
    parser = subparsers.add_parser("bench", help="benchmarks of what pretraining learns (Table 3 at small scale)")
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK")
    parser.set_defaults(func=lambda args: parser.print_help() or 0)
    q = sub.add_parser(
        "quality",
        help="pretrain every Table 3 variant, evaluate with mim (mIoU, EPE) and zero-shot tracking",
        description=(
            "For the DINO-only base, full Midway and Table 3's ablations, on the same generated videos and seeds: "
            "midway pretrain -> midway export -> mim train/test mmseg (linear readout, mIoU) -> mim train/test "
            "mmflow (finetune with the pretrained dynamics, and frozen readout; EPE) -> zero-shot token EPE "
            "(perturbation tracking, feature matching; Farneback and zero flow as references) on held-out videos."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    q.add_argument(
        "--recipe",
        default="demo",
        help="named settings, flags on top: demo (default: the pipeline "
        "check, configs/pretrain/demo.yaml) or small (the small-scale recipe, "
        "configs/pretrain/small_synthetic.yaml; docs/bench.md)",
    )
    q.add_argument("--quick", action="store_true", help="tiny sizes, one seed of base and full (the test suite's run)")
    q.add_argument(
        "--variants",
        default="all",
        help="comma-separated: base, full, no-backward, single-level, no-refinement, no-gating, or all (default)",
    )
    q.add_argument("--seeds", type=int, help="seeds of base and full (default 3; --quick 1)")
    q.add_argument("--ablation-seeds", type=int, help="seeds of the other variants (default 1; --quick 0)")
    q.add_argument("--jobs", type=int, default=2, help="stages run side by side, one torch thread each (default 2)")
    g = q.add_argument_group("data (midway make-video)")
    g.add_argument("--num-videos", type=int, help="videos generated, train + val")
    g.add_argument("--val-videos", type=int, help="held-out videos (never pretrained or trained on)")
    g.add_argument("--frames", type=int, help="frames per video")
    g.add_argument("--size", type=_size, help="frame size HxW (default 64x64)")
    g.add_argument("--objects", type=int, help="moving objects per video")
    g.add_argument(
        "--pretrain-videos",
        type=Path,
        metavar="DIR",
        help="pretrain on this folder of real videos instead; evaluation stays on the generated videos",
    )
    g.add_argument("--object-speed", type=_range, metavar="MIN,MAX", help="object speeds, px/frame")
    g.add_argument("--camera-speed", type=_range, metavar="MIN,MAX", help="camera pan speeds, px/frame")
    g.add_argument("--texture-wavelength", type=_range, metavar="MIN,MAX", help="texture wavelengths, px")
    g.add_argument("--frame-gap", type=int, metavar="G", help="frames spanned by a flow pair (default 1)")
    g.add_argument(
        "--pan-only",
        action="store_true",
        help="also a pan-only control set (make-video --pan-only), "
        "pretrained and evaluated as units base@pan and full@pan (seeds: --pan-seeds)",
    )
    g.add_argument(
        "--pan-seeds",
        type=int,
        default=1,
        metavar="N",
        help="seeds of the pan-only control, 0..N-1 (default 1: seed 0 alone, whatever --seeds says)",
    )
    g = q.add_argument_group("pretraining (midway pretrain)")
    g.add_argument("--pretrain-config", type=Path, help="base YAML (default configs/pretrain/demo.yaml)")
    g.add_argument("--preset", help="model preset: tiny (default), vit-s16, vit-b16")
    g.add_argument("--pretrain-steps", type=int, help="optimizer steps per variant")
    g.add_argument("--batch-size", type=int, help="videos per pretraining batch")
    g.add_argument("--accelerator", help="Lightning accelerator (cpu, gpu, auto)")
    g.add_argument("--devices", help="Lightning devices per pretraining run")
    g = q.add_argument_group("pretraining knobs (midway pretrain --section.key overrides; unset: the config's value)")
    g.add_argument("--patch-size", type=int, metavar="PX", help="encoder patch size (model.encoder_kwargs)")
    g.add_argument("--embed-dim", type=int, help="encoder width (model.encoder_kwargs)")
    g.add_argument("--depth", type=int, help="encoder blocks (model.encoder_kwargs; 4 feature levels spread over them)")
    g.add_argument("--heads", type=int, help="attention heads of the encoder, backward layers and predictor")
    g.add_argument("--delta-t", type=_int_range, metavar="MIN,MAX", help="frame gap of the pairs (data.delta_t)")
    g.add_argument("--head-output-dim", type=int, metavar="K", help="DINO prototypes (method.head_output_dim)")
    g.add_argument("--head-hidden-dim", type=int, help="DINO head hidden width (method.head_hidden_dim)")
    g.add_argument("--head-bottleneck-dim", type=int, help="DINO head bottleneck (method.head_bottleneck_dim)")
    g.add_argument("--teacher-temp", type=float, help="DINO teacher temperature (method.teacher_temp)")
    g.add_argument("--student-temp", type=float, help="DINO student temperature (method.student_temp)")
    g.add_argument("--momentum-start", type=float, help="EMA momentum at step 0 (method.momentum_start)")
    g.add_argument(
        "--dino-photometric",
        type=float,
        metavar="S",
        help="in [0, 1]: the DINO views' colour jitter, "
        "grayscale, blur and solarisation probabilities times S (1 = the paper's, 0 = none)",
    )
    g.add_argument("--motion-photometric", type=float, metavar="S", help="the same for the motion crops")
    g = q.add_argument_group("evaluation (mim train / mim test)")
    g.add_argument("--configs-dir", type=Path, help="the repository's configs/ (default: next to the package)")
    g.add_argument("--seg-iters", type=int, help="mmseg linear readout iterations")
    g.add_argument("--flow-iters", type=int, help="mmflow finetune / frozen readout iterations")
    g.add_argument(
        "--flow-loss",
        choices=("laplacian", "l1"),
        help="loss of the mmflow finetune / frozen readouts: laplacian (the paper's bounded Laplacian, "
        "default) or l1 (plain L1; the Laplacian learns no flow on small generated data, "
        "docs/mmflow.md)",
    )
    g.add_argument("--zs-gap", type=int, help="frames between the two frames of a zero-shot pair")
    g.add_argument("--zs-pairs", type=int, help="zero-shot pairs per held-out video")
    g.add_argument("--zs-window", type=int, help="zero-shot local-window matching: half-size k in tokens (default 3)")
    g.add_argument(
        "--zs-offsource-radius",
        type=int,
        help="zero-shot heatmap readouts: exclude target tokens this close to the source (default 1)",
    )
    q.set_defaults(func=run)
    from midway_plugin.commands.bench_learnability import add_parser as add_learnability

    add_learnability(sub)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~midway_plugin.evaluation.quality.Settings` of the command line (``--quick`` first, flags on top)."""
    from midway_plugin.evaluation.quality import QUICK, Settings
    from midway_plugin.evaluation.variants import parse_variants

    try:
        variants = parse_variants(args.variants if not (args.quick and args.variants == "all") else "base,full")
    except ValueError as err:
        raise CommandError(f"--variants: {err}") from None
    from midway_plugin.evaluation.recipes import recipe_settings

    try:
        values: dict[str, Any] = recipe_settings(args.recipe)
    except ValueError as err:
        raise CommandError(f"--recipe: {err}") from None
    if args.quick:
        values.update(QUICK)
    flags = (
        "seeds",
        "ablation_seeds",
        "num_videos",
        "val_videos",
        "frames",
        "size",
        "objects",
        "pretrain_videos",
        "pretrain_config",
        "preset",
        "pretrain_steps",
        "batch_size",
        "accelerator",
        "devices",
        "configs_dir",
        "seg_iters",
        "flow_iters",
        "zs_gap",
        "zs_pairs",
        "object_speed",
        "camera_speed",
        "texture_wavelength",
        "frame_gap",
        "patch_size",
        "embed_dim",
        "depth",
        "heads",
        "delta_t",
        "head_output_dim",
        "head_hidden_dim",
        "head_bottleneck_dim",
        "teacher_temp",
        "student_temp",
        "momentum_start",
        "dino_photometric",
        "motion_photometric",
        "zs_window",
        "zs_offsource_radius",
        "flow_loss",
    )
    values.update({k: getattr(args, k) for k in flags if getattr(args, k) is not None})
    if args.pan_only:
        values.update(pan_only=True, pan_seeds=args.pan_seeds)
    settings = Settings(out=args.out, variants=variants, jobs=args.jobs, recipe=args.recipe, **values)
    _check(settings)
    return settings


def _check(s: Any) -> None:
    checks = [
        (s.jobs >= 1, f"--jobs must be >= 1, got {s.jobs}"),
        (s.seeds >= 1, f"--seeds must be >= 1, got {s.seeds}"),
        (s.ablation_seeds >= 0, f"--ablation-seeds must be >= 0, got {s.ablation_seeds}"),
        (
            1 <= s.val_videos < s.num_videos,
            f"--val-videos must be in [1, --num-videos - 1], got {s.val_videos} of {s.num_videos}",
        ),
        (s.frames > s.zs_gap, f"--frames ({s.frames}) must exceed --zs-gap ({s.zs_gap})"),
        (
            s.pretrain_steps >= 2,
            f"--pretrain-steps must be >= 2 (s/step is timed between checkpoints), got {s.pretrain_steps}",
        ),
        (s.seg_iters >= 1 and s.flow_iters >= 1, "--seg-iters and --flow-iters must be >= 1"),
        (s.zs_gap >= 1 and s.zs_pairs >= 1, "--zs-gap and --zs-pairs must be >= 1"),
        (s.zs_window >= 1, f"--zs-window must be >= 1 (tokens), got {s.zs_window}"),
        (s.zs_offsource_radius >= 0, f"--zs-offsource-radius must be >= 0 (tokens), got {s.zs_offsource_radius}"),
        (s.pretrain_config.is_file(), f"--pretrain-config {str(s.pretrain_config)!r} does not exist"),
        (s.configs_dir.is_dir(), f"--configs-dir {str(s.configs_dir)!r} is not a directory"),
        (
            s.pretrain_videos is None or s.pretrain_videos.exists(),
            f"--pretrain-videos {str(s.pretrain_videos)!r} does not exist",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise CommandError(message)
    from midway_plugin.evaluation.quality import downstream

    for ds in downstream(s.flow_loss):
        if not (s.configs_dir / ds.toolbox / ds.config).is_file():
            raise CommandError(f"--configs-dir {str(s.configs_dir)!r} has no {ds.toolbox}/{ds.config}")
    if s.pan_only and s.pan_seeds < 1:
        raise CommandError(f"--pan-seeds must be >= 1, got {s.pan_seeds}")
    if s.pan_only and not any(v.name in ("base", "full") for v in s.variants):
        raise CommandError("--pan-only runs base and full: add one of them to --variants")
    from midway_plugin.evaluation.knobs import KnobError, make_video_knob_args
    from midway_plugin.evaluation.quality import resolve_pretraining
    from midway_plugin.lightly.pretrain_config import PretrainConfigError

    try:
        make_video_knob_args(s)
        resolve_pretraining(s)
    except KnobError as err:
        raise CommandError(str(err)) from None
    except (PretrainConfigError, ValueError) as err:
        raise CommandError(
            f"the pretraining config {str(s.pretrain_config)!r} with the bench's overrides: {err}"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark; exit code 1 when a stage failed (the run goes on with the other variants)."""
    from midway_plugin.evaluation.quality import run_quality

    settings = settings_from_args(args)
    with held_output(settings.out, "--out"):  # one benchmark per output folder
        _, code = run_quality(settings)
    return code
