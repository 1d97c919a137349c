"""Checkpoints in the official Midway code's layout (``midway_plugin.official.layout``), for the tests."""

from __future__ import annotations

import argparse

import torch
from omegaconf import OmegaConf

from midway_plugin.official.layout import OfficialLayout, official_checkpoint_shapes

#: Width 192 (DINO's vit_tiny, 3 heads: the converter infers the heads from it), 4 blocks, patch 8 at 32 px,
#: 4 levels, midway width 48 (3 heads) with 2 blocks and 4 tokens, predictor depth 2, a small DINO head.
SMALL = OfficialLayout(
    embed_dim=192,
    depth=4,
    patch_size=8,
    img_size=32,
    head_out_dim=32,
    head_hidden_dim=64,
    head_bottleneck_dim=16,
    motion_dim=48,
    motion_depth=2,
    motion_tokens=4,
    predictor_depth=2,
)
#: The shapes of ``MidwayConfig.tiny()`` (width 48, midway width 32), for resuming with the demo config.
TINY = OfficialLayout(
    embed_dim=48,
    depth=4,
    patch_size=8,
    img_size=32,
    head_out_dim=64,
    head_hidden_dim=32,
    head_bottleneck_dim=16,
    motion_dim=32,
    motion_depth=2,
    motion_tokens=4,
    predictor_depth=2,
)

#: A few of the run's hyperparameters, as the released configs spell them.
RUN_ARGS = {
    "arch": "vit_small",
    "patch_size": 16,
    "out_dim": 65536,
    "momentum_teacher": 0.996,
    "epochs": 300,
    "freeze_last_layer": 1,
    "repeat_sample": 5,
    "motion_feature_levels": [2, 5, 8, 11],
    "midway_model_configs": {"motion_dim": 192, "motion_depth": 4, "gating_type": "pred-vector"},
}


def run_args(kind: str):
    """``args`` as saved: the hydra ``DictConfig`` of the released runs, or an argparse ``Namespace``."""
    if kind == "dictconfig":
        return OmegaConf.create(RUN_ARGS)
    return argparse.Namespace(**RUN_ARGS)


def official_checkpoint(
    layout: OfficialLayout = SMALL, args: str = "dictconfig", seed: int = 0, device: str = "cpu"
) -> dict:
    """Every entry the official training loop saves; tensors random (``meta``: shapes only)."""
    gen = torch.Generator().manual_seed(seed)

    def tensor(shape: tuple[int, ...]) -> torch.Tensor:
        if device == "meta":
            return torch.empty(shape, device="meta")
        return torch.randn(shape, generator=gen)

    ckpt: dict = {
        entry: {k: tensor(s) for k, s in shapes.items()} for entry, shapes in official_checkpoint_shapes(layout).items()
    }
    first = next(iter(ckpt["student"].values()))
    ckpt["optimizer"] = {
        "state": {
            0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(first), "exp_avg_sq": torch.zeros_like(first)}
        },
        "param_groups": [
            {"lr": 3.9e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.04, "amsgrad": False, "params": [0]}
        ],
    }
    ckpt["fp16_scaler"] = {
        "scale": 65536.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 2000,
        "_growth_tracker": 17,
    }
    ckpt["epoch"] = 300
    ckpt["args"] = run_args(args)
    return ckpt
