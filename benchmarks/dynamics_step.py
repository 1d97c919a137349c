"""Benchmark: time and memory of one training step of the core model's dynamics loss.

Prints a table (model, image size, batch, ms/step, pairs/s, peak memory) for the configurations asked for.
CPU by default; on a CUDA machine pass ``--device cuda`` (peak memory is then ``torch.cuda.max_memory_allocated``).

    .venv/bin/python benchmarks/dynamics_step.py                     # tiny + ViT-S, small batches, CPU
    .venv/bin/python benchmarks/dynamics_step.py --device cuda --presets vit-s16 vit-b16 --batch 32 --amp
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from midway_plugin.models import MidwayConfig, MidwayNetwork


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench(preset: str, batch: int, device: str, steps: int, warmup: int, amp: bool) -> dict[str, float]:
    cfg = MidwayConfig.preset(preset)
    model = MidwayNetwork(cfg).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randn(batch, 3, cfg.img_size, cfg.img_size, device=device)
    y = torch.randn_like(x)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
            loss = model(x, y).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        model.update_teacher(0.996)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step = sorted(times)[len(times) // 2]
    return {"ms": step * 1e3, "pairs_s": batch / step, "mem": peak_memory_mb(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "vit-s16"])
    parser.add_argument("--batch", type=int, nargs="+", default=[2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, amp {args.amp}")
    print(f"{'model':<10} {'img':>5} {'batch':>6} {'ms/step':>10} {'pairs/s':>9} {'peak MB':>9}")
    for preset in args.presets:
        for batch in args.batch:
            r = bench(preset, batch, args.device, args.steps, args.warmup, args.amp)
            size = MidwayConfig.preset(preset).img_size
            print(f"{preset:<10} {size:>5} {batch:>6} {r['ms']:>10.1f} {r['pairs_s']:>9.2f} {r['mem']:>9.0f}")


if __name__ == "__main__":
    main()
