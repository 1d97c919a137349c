"""Fixtures shared by every test area."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MimRunner = Callable[..., subprocess.CompletedProcess]


def _run_mim(args: list[str], cwd: Path, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Runs the venv's ``mim <args>`` in ``cwd`` (a tmp dir, so nothing lands in the repository).

    With ``check`` a non-zero exit fails the test, showing the end of the output (stdout and stderr together).
    """
    bindir = Path(sys.executable).parent
    mim = bindir / "mim"
    cmd = [str(mim), *args] if mim.is_file() else [sys.executable, "-m", "mim", *args]
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"  # mim starts `python tools/train.py`
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"mim {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-6000:]}")
    return proc


@pytest.fixture
def mim() -> MimRunner:
    """``mim(args, cwd, check=True)`` -> CompletedProcess with stdout+stderr in ``.stdout``."""
    return _run_mim


@pytest.fixture
def one_torch_thread():
    """Tiny models: one intra-op thread is faster than several (much faster on a busy CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
