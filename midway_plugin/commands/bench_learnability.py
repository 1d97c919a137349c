"""``midway bench learnability``: can the dynamics networks learn to use the target frame (known translations)?"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from midway_plugin.commands.errors import CommandError
from midway_plugin.commands.outputs import check_output

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.

_EPILOG = """\
examples:
  midway bench learnability                                   # the tiny preset at 8x8 tokens (~5 min on 2 cores)
  midway bench learnability --set motion_token_init=random --json out/learn.json
  midway bench learnability --preset tiny --set midway_dim=96 --set midway_depth=4 --steps 1500
what it prints: per level the copy loss, the predictor's loss, its loss with the target replaced by the source
(motion use) and their difference, for the midway path as configured and for oracle motion latents (the positive
control); the midway path's accuracy when supervised on the shift; how strongly the target reaches the predictions
at initialisation. docs/results.md, "Do the dynamics use the target?"
"""


def add_parser(sub: Any) -> None:
    """Add ``midway bench learnability`` to the ``bench`` sub-parsers."""
    p = sub.add_parser(
        "learnability",
        help="train the dynamics networks alone on features with a known translation: do they use the target?",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", default="tiny", help="model preset (default tiny; its encoder width is used)")
    p.add_argument(
        "--patch-size",
        type=int,
        default=4,
        help="patch size of the preset's encoder (default 4: 8x8 tokens at the tiny preset's 32 px)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a MidwayConfig field (YAML value), e.g. motion_token_init=random; repeatable",
    )
    p.add_argument("--grid", type=int, default=8, help="token grid side of the synthetic features (default 8)")
    p.add_argument("--max-shift", type=int, default=1, help="largest shift in tokens per axis (default 1)")
    p.add_argument("--steps", type=int, default=500, help="optimizer steps per run (default 500)")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per step (default 16)")
    p.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate (default 3e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the networks and data (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every number to FILE")
    p.set_defaults(func=run)


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from midway_plugin.evaluation.learnability import ProbeSettings, format_table, run_learnability
    from midway_plugin.models import resolve_config

    torch.set_num_threads(max(1, args.threads))
    try:
        cfg = resolve_config(args.preset, name="--preset")
        encoder_kwargs = {**cfg.encoder_kwargs, "patch_size": args.patch_size}
        cfg = resolve_config(
            cfg,
            overrides={"encoder_kwargs": encoder_kwargs, **_overrides(args.set)},
            where="--set: ",
            name="MidwayConfig field",
        )
        settings = ProbeSettings(
            grid=args.grid,
            max_shift=args.max_shift,
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
        )
    except (ValueError, TypeError, KeyError) as err:
        raise CommandError(str(err)) from None
    if args.json:
        check_output(args.json, "--json", folder=False)  # before the probe trains, not after
    result = run_learnability(cfg, settings, log=print)
    print(format_table(result))
    if args.json:
        try:
            args.json.write_text(json.dumps(result, indent=2))
        except OSError as err:
            raise CommandError(f"--json {str(args.json)!r} cannot be written: {err.strerror or err}") from None
        print(f"wrote {args.json}")
    return 0
