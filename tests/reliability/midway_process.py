"""Running `midway` in a subprocess, as a user would (this checkout first on the path, one thread)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "pretrain" / "demo.yaml"


def midway_env() -> dict[str, str]:
    """The environment of a `midway` subprocess: this checkout first on the path, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    return env


def midway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "midway_plugin.cli", *args]


def run_midway(*args: str, timeout: float = 300) -> tuple[int, str, str]:
    """Runs ``midway ARGS`` to completion: ``(returncode, stdout, stderr)``."""
    done = subprocess.run(
        midway_command(*args), capture_output=True, text=True, env=midway_env(), timeout=timeout, cwd=ROOT
    )
    return done.returncode, done.stdout, done.stderr


def tiny_pretrain_args(videos: Path, out: Path, steps: int, *extra: str) -> list[str]:
    """``midway pretrain`` arguments: the demo config shrunk to seconds per run (2 videos a step, a tiny head)."""
    return [
        "pretrain",
        "--config",
        str(DEMO),
        "--output-dir",
        str(out),
        "--max-steps",
        str(steps),
        "--data.root",
        str(videos),
        "--data.batch_size_per_device",
        "2",
        "--data.repeat",
        "1",
        "--trainer.checkpoint_every_n_steps",
        "2",
        "--trainer.log_every_n_steps",
        "1",
        "--trainer.progress_bar",
        "false",
        "--method.head_output_dim",
        "64",
        "--method.head_hidden_dim",
        "32",
        "--method.head_bottleneck_dim",
        "16",
        *extra,
    ]
