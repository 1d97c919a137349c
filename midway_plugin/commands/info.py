"""``midway info``: parameter counts and training FLOPs beside the paper's Table 9."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# Modules of the package are imported inside the functions that use them where they load torch or Lightning
# (seconds), which `midway --help` and argument errors must not pay for.

# Paper Table 9 (parameters in M; training cost in GFLOPs per example).
PAPER_TABLE9 = {
    "vit_small_patch16_224": {"encoder": 21.7, "dynamics": 36.6, "midway_gflops": 90.8, "dino_gflops": 50.4},
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "info",
        help="parameter counts and training FLOPs per example (vs paper Table 9)",
        description=(
            "Print parameter counts (encoder / dynamics networks / DINO heads) and the training cost of one "
            "example (a frame pair: dynamics loss on the motion crops + paired-frame DINO crops), counted with "
            "torch.utils.flop_counter on the meta device, beside the paper's Table 9. Table 9 appears to count "
            "forward multiply-adds (GMACs), so both that and the full forward+backward GFLOPs are printed."
        ),
    )
    parser.add_argument(
        "--config",
        default="vit-s16",
        help="a preset (vit-s16, vit-b16, tiny), a `midway export` file (its config) or a pretraining YAML (its "
        "model/method/data sections are read)",
    )
    parser.add_argument("--no-flops", action="store_true", help="only count parameters")
    parser.set_defaults(func=run)


def _load(config: str) -> tuple[Any, Any, Any]:
    from midway_plugin.commands.errors import CommandError
    from midway_plugin.models import resolve_config

    head = {"output_dim": 65536, "hidden_dim": 2048, "bottleneck_dim": 256}
    crops = {"num_global": 2, "num_local": 8, "local_size": 96}
    if config.endswith((".yaml", ".yml")):
        import yaml

        path = Path(config)
        if not path.is_file():
            raise CommandError(f"{path}: no such config file")
        data = yaml.safe_load(path.read_text()) or {}
        model = {"preset": "vit-s16", **(data.get("model") or {})}
        try:
            cfg = resolve_config(model, where=f"{path}: ", name="model")
        except ValueError as err:
            raise CommandError(str(err)) from err
        method = data.get("method") or {}
        head = {
            "output_dim": method.get("head_output_dim", head["output_dim"]),
            "hidden_dim": method.get("head_hidden_dim", head["hidden_dim"]),
            "bottleneck_dim": method.get("head_bottleneck_dim", head["bottleneck_dim"]),
        }
        dino = (data.get("data") or {}).get("dino") or {}
        crops["num_local"] = dino.get("num_local", dino.get("n_local_views", crops["num_local"]))
        crops["local_size"] = dino.get("local_size", dino.get("local_crop_size", crops["local_size"]))
        return cfg, head, crops
    try:
        return resolve_config(config, name="--config"), head, crops
    except ValueError as err:
        raise CommandError(str(err)) from err


def run(args: argparse.Namespace) -> int:
    import warnings

    from lightly.models.modules import DINOProjectionHead

    from midway_plugin.models import MidwayNetwork
    from midway_plugin.models.flops import measure_training_cost

    cfg, head_cfg, crops = _load(args.config)

    def head_factory(dim: int) -> Any:
        with warnings.catch_warnings():  # lightly's head uses the deprecated torch weight_norm
            warnings.simplefilter("ignore", FutureWarning)
            return DINOProjectionHead(dim, head_cfg["hidden_dim"], head_cfg["bottleneck_dim"], head_cfg["output_dim"])

    import torch

    with torch.device("meta"):
        model = MidwayNetwork(cfg, with_teacher=False)
        head = head_factory(model.encoder.embed_dim)
    encoder = sum(p.numel() for p in model.encoder.parameters())
    dynamics = sum(p.numel() for p in model.dynamics_parameters())
    heads = sum(p.numel() for p in head.parameters())
    paper = PAPER_TABLE9.get(cfg.encoder) if not cfg.encoder_kwargs else None

    def row(name: str, value: str, ref: str = "") -> None:
        print(f"  {name:<46} {value:>14}   {ref}".rstrip())

    print(f"Midway ({cfg.encoder}{' ' + str(cfg.encoder_kwargs) if cfg.encoder_kwargs else ''}, {cfg.img_size} px)")
    print("Parameters")
    row("encoder", f"{encoder / 1e6:.2f} M", f"paper {paper['encoder']} M" if paper else "")
    row("dynamics networks", f"{dynamics / 1e6:.2f} M", f"paper {paper['dynamics']} M" if paper else "")
    for name, module in model.dynamics_modules().items():
        row(f"  {name}", f"{sum(p.numel() for p in module.parameters()) / 1e6:.2f} M")
    row("DINO head (student; teacher same)", f"{heads / 1e6:.2f} M")
    if args.no_flops:
        return 0
    print(
        f"Training cost per example (a frame pair: motion crops + {crops['num_global']}x{cfg.img_size}px global "
        f"and {crops['num_local']}x{crops['local_size']}px local DINO crops per frame)"
    )
    for name, variant, ref in (
        ("Midway", cfg, "midway_gflops"),
        ("DINO base (no latent dynamics)", cfg.replace(latent_dynamics=False), "dino_gflops"),
    ):
        cost = measure_training_cost(variant, head_factory, **crops)
        row(f"{name}: forward", f"{cost.forward_gmacs:.1f} GMACs", f"paper {paper[ref]} GFLOPs" if paper else "")
        row(f"{name}: forward+backward", f"{cost.total_gflops:.1f} GFLOPs", "(multiply-add = 2 FLOPs)")
    return 0
