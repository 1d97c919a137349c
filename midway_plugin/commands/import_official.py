"""``midway import-official CKPT OUT``: an official Midway checkpoint → a Midway export (safetensors)."""

from __future__ import annotations

import argparse
from typing import Any

from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import held_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import-official",
        help="convert a checkpoint of the official Midway code into a Midway export",
        description=(
            "Convert a checkpoint released with the official implementation (keys 'student'/'teacher' with "
            "'module.backbone.*'/'backbone.*' encoder weights in DINO's ViT naming and the DINO head 'dino_head.*', "
            "'motion_loss' with the dynamics module, 'dino_loss', 'optimizer', 'fp16_scaler', 'epoch', 'args') into "
            "the export format of `midway export`: a safetensors file with the encoder under timm's names and the "
            "dynamics networks. What an export does not hold (the other EMA copy, DINO heads and centre, optimizer, "
            "scaler) is listed as skipped; unknown or missing keys are reported by name. To continue pretraining "
            "from such a checkpoint use `midway pretrain --resume-official`. The "
            "architecture is inferred from the tensor shapes; head counts and feature levels come from the released "
            "configs unless given with --set."
        ),
    )
    parser.add_argument("checkpoint", help="official checkpoint (.pth), e.g. midway-bdd-vit-s-ep300.pth")
    parser.add_argument("output", help="export file to write (.safetensors)")
    parser.add_argument(
        "--student",
        action="store_true",
        help="export the student encoder/backward layers instead of the EMA teacher (default: teacher)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override an inferred MidwayConfig field (YAML value), e.g. --set feature_levels=[3,6,9,12]",
    )
    parser.add_argument(
        "--ignore-unknown",
        action="store_true",
        help="write the export even if the checkpoint has tensors this converter does not know (they are listed)",
    )
    parser.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=[1, 2]"]`` → ``{"a": 1, "b": [1, 2]}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise CommandError(f"--set {item!r}: value is not valid YAML ({err})") from err
    return out


def run(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.overrides)
    # One writer per export file; a path that cannot be written fails before the load.
    with held_output(args.output, "export file", folder=False):
        return _convert(args, overrides)


def _convert(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Converts into the held ``args.output``."""
    import dataclasses
    from pathlib import Path

    from midway_plugin.models import MidwayConfig, MidwayExportError, MidwayNetwork, save_export
    from midway_plugin.official.convert import (
        OfficialCheckpointError,
        convert_official_checkpoint,
        load_official_checkpoint,
    )

    known = {f.name for f in dataclasses.fields(MidwayConfig)}
    unknown_fields = sorted(set(overrides) - known)
    if unknown_fields:
        raise CommandError(f"--set: unknown MidwayConfig field(s) {', '.join(unknown_fields)}")
    if "feature_levels" in overrides:
        overrides["feature_levels"] = tuple(overrides["feature_levels"])
    try:
        checkpoint = load_official_checkpoint(args.checkpoint)
        # First pass: infer the config, build the model, then convert against its exact key set.
        probe = convert_official_checkpoint(
            checkpoint, use_teacher=not args.student, source=args.checkpoint, **overrides
        )
        model = MidwayNetwork(probe.config, with_teacher=False)
        expected = {k: tuple(v.shape) for k, v in model.export_state_dict(use_teacher=False).items()}
        conversion = convert_official_checkpoint(
            checkpoint, use_teacher=not args.student, source=args.checkpoint, expected_keys=expected, **overrides
        )
    except OfficialCheckpointError as err:
        raise CommandError(str(err)) from err
    report = conversion.report
    if report.missing or (report.unknown and not args.ignore_unknown):
        raise CommandError(
            f"{args.checkpoint}: does not convert cleanly: {report.problems()}"
            + ("" if report.missing else " (use --ignore-unknown to drop the unknown keys)")
        )
    try:
        model.load_export_state_dict(conversion.state_dict, strict=True, source=args.checkpoint)
    except MidwayExportError as err:
        raise CommandError(str(err)) from err
    try:
        out = save_export(
            model,
            Path(args.output),
            use_teacher=False,
            metadata={
                "source": "official-checkpoint",
                "source_file": Path(args.checkpoint).name,
                "source_weights": report.weights,
                "zero_filled_biases": str(len(report.zero_filled)),
            },
        )
    except (OSError, MidwayExportError) as err:
        raise CommandError(f"cannot write the export {args.output}: {err}") from err
    print(f"Converted {args.checkpoint} ({report.weights} weights, {report.used} tensors) -> {out}")
    cfg = conversion.config
    print(
        f"  config: encoder={cfg.encoder} img_size={cfg.img_size} feature_levels={list(cfg.feature_levels)} "
        f"latent_dynamics={cfg.latent_dynamics}"
    )
    if report.inferred:
        print("  inferred/assumed: " + ", ".join(f"{k}={v}" for k, v in report.inferred.items()))
    if report.zero_filled:
        print(
            f"  {len(report.zero_filled)} bias tensor(s) the official layers lack were set to zero "
            f"(e.g. {report.zero_filled[0]})"
        )
    if report.ignored:
        print("  skipped (not part of an export): " + ", ".join(report.ignored))
    if report.unknown:
        print(f"  WARNING: dropped {len(report.unknown)} unknown key(s): " + ", ".join(report.unknown[:20]))
    return 0
