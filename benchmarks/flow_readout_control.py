"""Positive control of the mmflow readout: can the MidwayFlow head learn flow at all on generated data?

Trains, in one process on the CPU, either ``MidwayFlow`` (the tiny Midway network, random or from an export,
finetuned or frozen, + the DPT head of the tiny synthetic configs) or a reference CNN on the raw concatenated frames
(5 convolutions, no Midway parts: what "learnable" means for this data) on the train pairs of a
``midway make-video`` folder, then reports the EPE on its val pairs next to the zero-flow and train-mean-flow
guesses (:mod:`midway_plugin.evaluation.flow_references`). The same loop as ``mim train mmflow`` with the tiny configs
(AdamW betas (0.9, 0.95), wd 0.05, linear warm-up x cosine decay, batch 8, random horizontal flips) without the
runner's start-up cost, so that several settings fit in minutes; docs/mmflow.md "Does the readout learn? The
positive control" records the runs.

    .venv/bin/python benchmarks/flow_readout_control.py --data DIR --model midwayflow --loss l1 --lr 1e-3 \
        --iters 400 [--frozen] [--export FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn

LOSSES = {
    "l1": dict(type="SequenceLoss"),
    "epe": dict(type="MultiLevelEPE", p=2, flow_div=1.0, weights=dict(flow=1.0), reduction="mean"),
    "laplacian": dict(type="LaplacianLossBounded"),
}
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _tensors(root: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from midway_plugin.evaluation.motion_probe import load_pairs

    first, second, flows = load_pairs(root, split)
    x = torch.cat([torch.from_numpy(first), torch.from_numpy(second)], -1).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(MEAN * 2).view(1, 6, 1, 1)) / torch.tensor(STD * 2).view(1, 6, 1, 1)
    return x, torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).float()


class ReferenceCNN(nn.Module):
    """Five convolutions on the concatenated frames, flow at 1/4 resolution upsampled bilinearly."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        c = width
        self.net = nn.Sequential(
            nn.Conv2d(6, c, 5, padding=2),
            nn.ReLU(),
            nn.Conv2d(c, c, 5, padding=2, stride=2),
            nn.ReLU(),
            nn.Conv2d(c, c, 5, padding=2, stride=2),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2, 3, padding=1),
            nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
        )

    def flow_and_confidence(self, img1: torch.Tensor, img2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flow = self.net(torch.cat([img1, img2], dim=1))
        return flow, flow[:, :1] * 0


def build(args: argparse.Namespace) -> tuple[nn.Module, nn.Module]:
    """``(model, loss)``."""
    from mmengine.registry import init_default_scope
    from mmflow.registry import MODELS

    import midway_plugin.mmflow  # noqa: F401  (registers MidwayFlow and the losses)

    init_default_scope("mmflow")
    loss = MODELS.build(dict(LOSSES[args.loss]))
    if args.model == "cnn":
        return ReferenceCNN(), loss
    model = MODELS.build(
        dict(
            type="MidwayFlow",
            export=args.export,
            arch="tiny",
            frozen=args.frozen,
            head=dict(features=64, reassemble_channels=(32, 64, 128, 128), readout="project"),
            flow_loss=LOSSES[args.loss],
        )
    )
    model.init_weights()
    return model, model.flow_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a `midway make-video --out` folder")
    parser.add_argument("--model", choices=("midwayflow", "cnn"), default="midwayflow")
    parser.add_argument("--export", help="a `midway export` file (default: random tiny weights)")
    parser.add_argument("--frozen", action="store_true", help="train only the DPT head")
    parser.add_argument("--loss", choices=sorted(LOSSES), default="l1")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--evals", type=int, default=4, help="val EPE this many times during the run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    from midway_plugin.evaluation.flow_references import constant_flow_references
    from midway_plugin.mmflow.flow_losses import flow_loss_value

    x, y = _tensors(args.data, "train")
    xv, yv = _tensors(args.data, "val")
    model, loss = build(args)
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda i: min(1.0, (i + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * i / args.iters))
    )
    flip = torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1)

    def val_epe() -> float:
        model.eval()
        with torch.no_grad():
            pred = torch.cat(
                [model.flow_and_confidence(xv[i : i + 64, :3], xv[i : i + 64, 3:])[0] for i in range(0, len(xv), 64)]
            )
        model.train()
        return float((pred - yv).norm(dim=1).mean())

    record = {"settings": vars(args), "references": constant_flow_references(args.data), "val_epe": {}}
    record["val_epe"][0] = val_epe()
    start = time.perf_counter()
    model.train()
    for it in range(args.iters):
        idx = torch.randint(0, len(x), (args.batch,))
        xb, yb = x[idx], y[idx]
        if bool(torch.rand(()) < 0.5):
            xb, yb = xb.flip(-1), yb.flip(-1) * flip
        flow, conf = model.flow_and_confidence(xb[:, :3], xb[:, 3:])
        value = flow_loss_value(loss, flow, conf, yb, None)
        optim.zero_grad()
        value.backward()
        optim.step()
        sched.step()
        if (it + 1) % max(1, args.iters // args.evals) == 0 or it + 1 == args.iters:
            record["val_epe"][it + 1] = val_epe()
            print(
                f"iter {it + 1}: loss {float(value):.3f}, val EPE {record['val_epe'][it + 1]:.3f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    record["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
