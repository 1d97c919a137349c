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
    done = subprocess.run(midway_command(*args), capture_output=True, text=True, env=midway_env(),
                          timeout=timeout, cwd=ROOT)
    return done.returncode, done.stdout, done.stderr
