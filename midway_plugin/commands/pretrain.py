"""``midway pretrain --config CONFIG.yaml [--section.key VALUE ...]``: Midway pretraining on video with Lightning."""

from __future__ import annotations

import argparse
from typing import Any

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.

_EPILOG = """\
overrides: any config key as --section.key VALUE (YAML value), e.g.
  midway pretrain --config configs/pretrain/demo.yaml --trainer.max_steps 50 --data.root my_videos/
every key with its value: --print_config (the printed YAML is a valid --config)
multi-GPU / multi-node (Lightning DDP):
  midway pretrain --config configs/pretrain/midway_vit-s16_bdd100k.yaml --devices 2 --strategy ddp
  (multi-node: run the same command on every node with --num-nodes N and the MASTER_ADDR, MASTER_PORT,
   NODE_RANK environment variables, or under SLURM/torchrun, which Lightning detects)
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain Midway Network on a folder of videos (Lightning)",
        description=(
            "Pretrain Midway Network (dense forward prediction + paired-frame DINO) from a YAML config "
            "(configs/pretrain/*.yaml). Writes TensorBoard and CSV logs and checkpoints under the config's "
            "output_dir; `midway export` turns a checkpoint into weights for timm, mmseg and mmflow."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/pretrain/demo.yaml")
    parser.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue at its global step from a checkpoint file, a run directory, or 'last' (this output_dir): "
        "a directory resumes from its newest checkpoint that loads",
    )
    parser.add_argument(
        "--resume-official",
        metavar="CKPT",
        help="start from a checkpoint of the official Midway code (e.g. midway-bdd-vit-s-ep300.pth): student, EMA "
        "teacher, DINO heads and centre; fresh optimizer and schedules",
    )
    parser.add_argument("--output-dir", help="override output_dir")
    parser.add_argument("--accelerator", help="Lightning accelerator: cpu, gpu, auto (trainer.accelerator)")
    parser.add_argument("--devices", help="devices per node, e.g. 2 or auto (trainer.devices)")
    parser.add_argument("--num-nodes", type=int, help="number of nodes (trainer.num_nodes)")
    parser.add_argument("--strategy", help="Lightning strategy, e.g. ddp (trainer.strategy)")
    parser.add_argument(
        "--precision", help="auto, bf16-mixed, 16-mixed (fp16 + GradScaler), 32-true (trainer.precision)"
    )
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (trainer.max_steps)")
    parser.add_argument(
        "--print_config",
        "--print-config",
        dest="print_config",
        action="store_true",
        help="print the resolved config (YAML that --config reads back) and exit without training",
    )
    # Tokens the parser does not know (``--section.key VALUE``) reach `run` as `args.overrides` (see cli.main).
    parser.set_defaults(func=run, accepts_overrides=True)


def _shortcuts(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    pairs = {
        "output_dir": args.output_dir,
        "trainer.accelerator": args.accelerator,
        "trainer.devices": yaml.safe_load(args.devices) if args.devices is not None else None,
        "trainer.num_nodes": args.num_nodes,
        "trainer.strategy": args.strategy,
        "trainer.precision": args.precision,
        "trainer.max_steps": args.max_steps,
    }
    return {k: v for k, v in pairs.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from midway_plugin.commands.errors import CommandError
    from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config, parse_overrides, to_yaml

    try:
        overrides = parse_overrides(list(getattr(args, "overrides", None) or []))
        overrides.update(_shortcuts(args))
        config = load_config(args.config, overrides)
    except PretrainConfigError as err:
        raise CommandError(str(err)) from err
    if args.print_config:
        print(to_yaml(config), end="")
        return 0

    from midway_plugin.data.video.info import NoUsableVideoError
    from midway_plugin.lightly.atomic_checkpoint import CheckpointSaveError
    from midway_plugin.lightly.midway import NonFiniteLossError
    from midway_plugin.lightly.pretrain import run_pretraining

    try:
        result = run_pretraining(config, resume=args.resume, resume_official=args.resume_official)
    except (PretrainConfigError, NoUsableVideoError, FileNotFoundError, NonFiniteLossError, CheckpointSaveError) as err:
        raise CommandError(str(err)) from err
    if result["resumed_from"] is not None:
        print(f"Resumed from {result['resumed_from']}.")
    if result["interrupted_by"]:
        print(f"Interrupted by {result['interrupted_by']}: stopped at global step {result['global_step']}.")
    else:
        print(f"Pretraining finished at global step {result['global_step']}.")
    written, last = result["checkpoints_written"], result["last_checkpoint"]
    if written:
        print(f"  checkpoints written by this run ({result['checkpoint_dir']}): {', '.join(p.name for p in written)}")
    else:
        print("  this run wrote no checkpoint")
    if result["csv_log"].is_file():
        print(
            f"  logs: {result['csv_log']} and {result['tensorboard_dir']} (tensorboard --logdir {result['output_dir']})"
        )
    else:  # e.g. resuming a finished run: no step trained, Lightning wrote no log of this run
        print(
            f"  logs: this run logged no step (earlier runs' logs: {result['output_dir']}/csv, "
            f"tensorboard --logdir {result['output_dir']})"
        )
    if result["interrupted_by"]:
        print(f"  continue: midway pretrain --config {args.config} --output-dir {result['output_dir']} --resume last")
    if last is not None:
        print(f"  export: midway export {last} {result['output_dir']}/midway.safetensors")
    if result.get("health") is not None:
        from midway_plugin.lightly.health import format_summary

        print(format_summary(result["health"]))
    if result["interrupted_by"]:
        import signal

        return 128 + int(signal.Signals[result["interrupted_by"]])  # the shell's convention for "killed by"
    return 0
