"""``midway export CKPT OUT``: a ``midway pretrain`` Lightning checkpoint → a Midway export (safetensors)."""

from __future__ import annotations

import argparse
from typing import Any

from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import held_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="turn a pretraining checkpoint into a Midway export (timm / mmseg / mmflow weights)",
        description=(
            "Write the weights of a `midway pretrain` checkpoint as a tensors-only safetensors file: the encoder "
            "under timm's key names (a plain timm ViT loads it) and the dynamics networks under dynamics.*, with the "
            "config needed to rebuild them in the metadata. The checkpoint is read with "
            "torch.load(weights_only=True)."
        ),
    )
    parser.add_argument("checkpoint", help="Lightning checkpoint, e.g. runs/NAME/checkpoints/last.ckpt")
    parser.add_argument("output", help="export file to write, e.g. midway.safetensors")
    parser.add_argument(
        "--student",
        action="store_true",
        help="export the student encoder/backward layers instead of the EMA teacher (default: teacher)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from midway_plugin.lightly.checkpoint import CheckpointError, export_checkpoint

    with held_output(args.output, "export file", folder=False):  # one writer per export file
        try:
            written, info = export_checkpoint(args.checkpoint, args.output, use_teacher=not args.student)
        except CheckpointError as err:
            raise CommandError(str(err)) from err
    print(f"Exported {args.checkpoint} (global step {info['global_step']}, {info['weights']} weights) -> {written}")
    print("  load it with midway_plugin.models.build_from_export / load_timm_vit, or in the mmseg/mmflow configs")
    return 0
