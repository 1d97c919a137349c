"""Benchmark: the training step, today's implementation vs the fast one, and Midway vs DINO-only, in one run.

Parts (each timed in interleaved rounds, median reported):

* ``optimizer``: one AdamW step over the Midway module's trainable parameters: the default implementation (today)
  vs ``fused=True`` (new, :func:`~midway_plugin.lightly.train_step.make_adamw`);
* ``clip``: per-parameter clipping of the encoder + DINO head gradients: a Python loop of ``clip_grad_norm_``
  (today) vs :func:`~midway_plugin.lightly.train_step.clip_grad_per_parameter_` (new);
* ``head``: the student DINO head on the global and local CLS features: two calls (today) vs one (new);
* ``step``: a whole step (EMA update, forward, DINO + dynamics losses, backward, clip, AdamW) of Midway and of the
  DINO-only base on the same paired crops, today's vs the new implementation, against the FLOPs ratio that
  ``midway info`` counts; peak memory on CUDA.

    .venv/bin/python benchmarks/step.py --threads 1 --batch 1 --rounds 2 --json runs/benchmarks/step.json
    .venv/bin/python benchmarks/step.py --device cuda --batch 64 --amp bf16        # on a GPU (benchmarks/gpu.sh)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone

import torch
from bench_output import finish  # benchmarks/ is on sys.path when a script here runs
from lightly.models.modules import DINOProjectionHead
from torch import nn

from midway_plugin.lightly.midway import Midway
from midway_plugin.lightly.train_step import (
    clip_grad_per_parameter_,
    compile_guarded,
    compile_report,
    make_adamw,
    student_head_outputs,
)
from midway_plugin.models.flops import measure_training_cost


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _module(preset: str, dynamics: bool, device: str) -> Midway:
    model = Midway(batch_size_per_device=1, model={"preset": preset, "latent_dynamics": dynamics})
    return model.to(device).train()


def _views(model: Midway, batch: int, device: str, local_size: int, n_local: int) -> dict[str, list[torch.Tensor]]:
    size = model.cfg.img_size
    rand = lambda s: torch.randn(batch, 3, s, s, device=device)  # noqa: E731
    return {
        "motion": [rand(size), rand(size)],
        "globals": [rand(size) for _ in range(4)],
        "locals": [rand(local_size) for _ in range(2 * n_local)],
    }


def make_step(model: Midway, views: dict, fast: bool, amp: str | None, device: str) -> Callable[[], None]:
    """One training step of the module's losses, with today's (fast=False) or the new implementation."""
    params = [g for g in model.parameter_groups()]
    optimizer, _ = make_adamw(params, lr=1e-4, betas=(0.9, 0.999), fused=None if fast else False)
    clipped = list(model.network.encoder.parameters()) + list(model.student_head.parameters())
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "", None)

    def student(globals_: list, locals_: list) -> list:
        encode = model.network.encoder.forward_cls
        if fast:
            return student_head_outputs(encode, model.student_head, [globals_, locals_])
        return [
            *model.student_head(encode(torch.cat(globals_))).chunk(len(globals_)),
            *model.student_head(encode(torch.cat(locals_))).chunk(len(locals_)),
        ]

    def step() -> None:
        model.network.update_teacher(0.996)
        with torch.autocast(device_type=device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None):
            with torch.no_grad():
                teacher = model.teacher_head(model.network.teacher_encoder.forward_cls(torch.cat(views["globals"])))
            loss = model.criterion(list(teacher.chunk(4)), student(views["globals"], views["locals"]))
            if model.use_dynamics:
                loss = loss + model.network(*views["motion"]).loss
        loss.backward()
        if fast:
            clip_grad_per_parameter_(clipped, 3.0)
        else:
            for p in clipped:
                if p.grad is not None:
                    nn.utils.clip_grad_norm_([p], 3.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def micro_parts(model: Midway, views: dict, device: str) -> dict[str, dict[str, Callable[[], object]]]:
    """today/new callables of the optimizer step, the clipping and the head call."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.grad = torch.randn_like(p) * 0.01
    opt_today, _ = make_adamw([{"params": trainable}], lr=1e-4, betas=(0.9, 0.999), fused=False)
    opt_new, kind = make_adamw([{"params": trainable}], lr=1e-4, betas=(0.9, 0.999), fused=None)
    clipped = list(model.network.encoder.parameters()) + list(model.student_head.parameters())
    with torch.no_grad():
        cls_g = model.network.encoder.forward_cls(torch.cat(views["globals"]))
        cls_l = model.network.encoder.forward_cls(torch.cat(views["locals"]))

    def clip_loop() -> None:
        for p in clipped:
            nn.utils.clip_grad_norm_([p], 3.0)

    def head_two() -> None:
        with torch.no_grad():
            model.student_head(cls_g), model.student_head(cls_l)

    def head_one() -> None:
        with torch.no_grad():
            model.student_head(torch.cat([cls_g, cls_l]))

    return {
        f"optimizer ({len(trainable)} tensors, {sum(p.numel() for p in trainable) / 1e6:.1f} M params)": {
            "today": opt_today.step,
            "new": opt_new.step,
        },
        "clip (per parameter, encoder + head)": {
            "today": clip_loop,
            "new": lambda: clip_grad_per_parameter_(clipped, 3.0),
        },
        "student head (globals + locals)": {"today": head_two, "new": head_one},
    }


def run_rounds(cases: dict[str, Callable[[], object]], rounds: int, device: str) -> dict[str, list[float]]:
    """Times every case once per round, cases interleaved, after one untimed warm-up call each."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            times[name].append(_timed(fn, device))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vit-s16")
    parser.add_argument("--batch", type=int, default=1, help="frame pairs per step")
    parser.add_argument("--local-size", type=int, default=96)
    parser.add_argument("--locals", type=int, default=8, help="local crops per frame")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="autocast dtype of the step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-step", action="store_true", help="only the optimizer/clip/head parts")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time 'Midway new + compile' (torch.compile of encoders and dynamics; the first "
        "call's time, which includes compiling, is reported separately)",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="dense bf16 peak of the device, to report MFU (model FLOPs utilisation)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    load = os.getloadavg()
    print(
        f"# step benchmark  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  torch {torch.__version__}  "
        f"device {device}  threads {torch.get_num_threads()}  cpus {os.cpu_count()}  "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    result: dict = {
        "preset": args.preset,
        "batch_pairs": args.batch,
        "device": device,
        "amp": args.amp,
        "threads": torch.get_num_threads(),
        "load_average_before": load,
        "parts": {},
        "steps": {},
    }
    torch.manual_seed(0)
    midway = _module(args.preset, True, device)
    views = _views(midway, args.batch, device, args.local_size, args.locals)
    print(f"\n{'part':<48} {'today ms':>10} {'new ms':>10} {'speed-up':>9}")
    for part, cases in micro_parts(midway, views, device).items():
        times = run_rounds(cases, args.rounds, device)
        today, new = (statistics.median(times[k]) * 1e3 for k in ("today", "new"))
        result["parts"][part] = {"today_ms": today, "new_ms": new}
        print(f"{part:<48} {today:>10.1f} {new:>10.1f} {today / new:>8.2f}x")
    midway.zero_grad(set_to_none=True)
    if not args.skip_step:
        dino = _module(args.preset, False, device)
        cases = {
            "Midway today": make_step(midway, views, False, args.amp, device),
            "Midway new": make_step(midway, views, True, args.amp, device),
            "DINO-only today": make_step(dino, views, False, args.amp, device),
            "DINO-only new": make_step(dino, views, True, args.amp, device),
        }
        if args.compile:
            compiled = _module(args.preset, True, device)
            compiled.load_state_dict(midway.state_dict())
            net = compiled.network
            modules = {"encoder": net.encoder, "teacher_encoder": net.teacher_encoder}
            for name, module in net.dynamics_modules().items():
                children = dict(module.items()) if isinstance(module, nn.ModuleDict) else {"": module}
                modules.update({f"{name}.{key}".rstrip("."): child for key, child in children.items()})
            guards = compile_guarded(modules, methods=("forward", "forward_cls"))
            step = make_step(compiled, views, True, args.amp, device)
            first = _timed(step, device)
            result["compile"] = {"first_step_s": first, "report": compile_report(guards)}
            print(f"\ncompile: first step (compiling) {first:.1f} s\n{compile_report(guards)}")
            cases["Midway new + compile"] = step
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        times = run_rounds(cases, args.rounds, device)
        head = lambda dim: DINOProjectionHead(dim, 2048, 256, 65536, batch_norm=False)  # noqa: E731
        flops = {
            name: measure_training_cost(module.cfg, head, num_local=args.locals, local_size=args.local_size)
            for name, module in (("Midway", midway), ("DINO-only", dino))
        }
        print(f"\n{'step (' + str(args.batch) + ' pairs)':<20} {'ms':>9} {'pairs/s':>8} {'GFLOP/pair':>11}")
        for name, values in times.items():
            ms = statistics.median(values) * 1e3
            gflop = flops[name.split()[0]].total_gflops
            result["steps"][name] = {"ms": ms, "all_ms": [v * 1e3 for v in values], "gflop_per_pair": gflop}
            mfu = ""
            if args.peak_tflops:
                result["steps"][name]["mfu"] = args.batch / ms * 1e3 * gflop / (args.peak_tflops * 1e3)
                mfu = f"  MFU {result['steps'][name]['mfu'] * 100:.1f} %"
            print(f"{name:<20} {ms:>9.1f} {args.batch / ms * 1e3:>8.2f} {gflop:>11.1f}{mfu}")
        steps = result["steps"]
        ratio = {k: steps[f"Midway {k}"]["ms"] / steps[f"DINO-only {k}"]["ms"] for k in ("today", "new")}
        flops_ratio = flops["Midway"].total_gflops / flops["DINO-only"].total_gflops
        per_round = [m / d for m, d in zip(steps["Midway new"]["all_ms"], steps["DINO-only new"]["all_ms"])]
        result.update(step_ratio=ratio, step_ratio_new_rounds=per_round, flops_ratio=flops_ratio)
        print(
            f"Midway / DINO-only step time: today {ratio['today']:.2f}x, new {ratio['new']:.2f}x "
            f"(rounds {', '.join(f'{r:.2f}' for r in per_round)}); FLOPs ratio {flops_ratio:.2f}x "
            f"(goal: step ratio <= FLOPs ratio)"
        )
        if device.startswith("cuda"):
            result["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
            print(f"peak CUDA memory {result['peak_memory_mib']:.0f} MiB")
    finish(result, args.json)


if __name__ == "__main__":
    main()
