"""Benchmark: the training step with the learning-health telemetry on vs off (``method.health_every``).

A whole step as ``benchmarks/step.py`` times it ("Midway new": EMA update, forward, DINO + dynamics losses, backward,
clip, AdamW), once plain and once with what :class:`~midway_plugin.lightly.Midway` adds on a health step: features
and gates kept from the dynamics pass, the DINO teacher statistics (the loss's centre and temperature), the
cross-image CLS cosine, and per level the copy loss and the motion-use pass (``Midway._dino_health`` /
``Midway._dynamics_health``, the module's own code). Timed in interleaved rounds, median reported; the overhead per
step at ``health_every = N`` is the health step's extra time / N.

    .venv/bin/python benchmarks/health.py --preset tiny --threads 1 --rounds 7 --json runs/benchmarks/health.json
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from datetime import datetime, timezone

import torch
from bench_output import finish  # benchmarks/ is on sys.path when a script here runs
from step import _views, run_rounds

from midway_plugin.lightly.midway import Midway
from midway_plugin.lightly.train_step import clip_grad_per_parameter_, make_adamw, student_head_outputs


def make_step(model: Midway, views: dict, health: bool) -> Callable[[], None]:
    """One training step of the module's losses (fast path), with or without the health telemetry."""
    optimizer, _ = make_adamw(model.parameter_groups(), lr=1e-4, betas=(0.9, 0.999), fused=None)
    clipped = list(model.network.encoder.parameters()) + list(model.student_head.parameters())
    globals_, locals_ = views["globals"], views["locals"]
    batch = globals_[0].shape[0]

    def step() -> None:
        model.network.update_teacher(0.996)
        with torch.no_grad():
            teacher_cls = model.network.teacher_encoder.forward_cls(torch.cat(globals_))
            teacher = list(model.teacher_head(teacher_cls).chunk(len(globals_)))
        student = student_head_outputs(model.network.encoder.forward_cls, model.student_head, [globals_, locals_])
        if health:
            model._dino_health(teacher, teacher_cls, batch)
        loss = model.criterion(teacher, student)
        output = model.network(*views["motion"], return_gates=health, return_features=health)
        loss = loss + output.loss
        if health:
            model._dynamics_health(output)
        del output
        loss.backward()
        clip_grad_per_parameter_(clipped, 3.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=4, help="frame pairs per step")
    parser.add_argument("--local-size", type=int, default=16)
    parser.add_argument("--locals", type=int, default=2, help="local crops per frame")
    parser.add_argument("--head-output-dim", type=int, default=65536, help="DINO prototypes K")
    parser.add_argument(
        "--health-every",
        type=int,
        nargs="+",
        default=[1, 10],
        help="report the per-step overhead at these health_every values",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    load = os.getloadavg()
    print(
        f"# health telemetry benchmark  {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  torch {torch.__version__}"
        f"  device {device}  threads {torch.get_num_threads()}  cpus {os.cpu_count()}  "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    torch.manual_seed(0)
    model = (
        Midway(batch_size_per_device=args.batch, model={"preset": args.preset}, head_output_dim=args.head_output_dim)
        .to(device)
        .train()
    )
    views = _views(model, args.batch, device, args.local_size, args.locals)
    cases = {"telemetry off": make_step(model, views, False), "telemetry on": make_step(model, views, True)}
    times = run_rounds(cases, args.rounds, device)
    off, on = (statistics.median(times[k]) * 1e3 for k in cases)
    result: dict = {
        "preset": args.preset,
        "batch_pairs": args.batch,
        "head_output_dim": args.head_output_dim,
        "device": device,
        "threads": torch.get_num_threads(),
        "load_average_before": load,
        "rounds": args.rounds,
        "steps": {k: {"ms": statistics.median(v) * 1e3, "all_ms": [t * 1e3 for t in v]} for k, v in times.items()},
        "health_step_extra_ms": on - off,
        "overhead": {},
    }
    print(f"\n{'step (' + str(args.batch) + ' pairs, K = ' + str(args.head_output_dim) + ')':<32} {'ms':>9}  rounds")
    for name, values in times.items():
        print(f"{name:<32} {statistics.median(values) * 1e3:>9.1f}  {' '.join(f'{v * 1e3:.0f}' for v in values)}")
    print(f"\n{'health_every':<14} {'extra ms / step':>16} {'overhead':>9}")
    for every in args.health_every:
        extra = (on - off) / every
        result["overhead"][str(every)] = {"extra_ms_per_step": extra, "fraction": extra / off}
        print(f"{every:<14} {extra:>16.2f} {extra / off * 100:>8.1f}%")
    finish(result, args.json)


if __name__ == "__main__":
    main()
