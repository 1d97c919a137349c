"""The Lightly-style examples (``examples/pytorch``, ``examples/pytorch_lightning``,
``examples/pytorch_lightning_distributed``: one ``midway.py`` each) train on a folder of generated video: each runs
as a script for a step or two with tiny sizes and reports finite DINO and dynamics losses."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("pytorch", "pytorch_lightning", "pytorch_lightning_distributed")
TINY = ["--epochs", "1", "--max-steps", "2", "--batch-size", "2", "--num-workers", "0"]


def run_example(
    example: Path, video: Path, cwd: Path, python: str = sys.executable, env: dict[str, str] | None = None
) -> str:
    """Runs one example for 2 steps on ``video``; returns its output (stdout + stderr), failing on a non-zero exit."""
    extra = ["--devices", "1"] if example.parent.name == "pytorch_lightning_distributed" else []
    env = dict(env or os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [python, str(example), "--data", str(video), *TINY, *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{example} exited {proc.returncode}:\n{proc.stdout[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """What `midway make-video --out OUT --num-videos 4 --val-videos 0 --frames 12 --size 64x64` writes."""
    from midway_plugin.data.synthetic import write_synthetic_dataset

    out = tmp_path_factory.mktemp("video")
    write_synthetic_dataset(out, num_videos=4, num_frames=12, size=(64, 64), seed=0, num_objects=2, val_videos=0)
    return out / "videos"


def test_plain_pytorch_example_trains(video: Path, tmp_path: Path) -> None:
    out = run_example(REPO / "examples" / "pytorch" / "midway.py", video, tmp_path)
    losses = re.findall(r"step (\d+): loss ([\d.naninf]+) \(dino ([\d.]+), dynamics ([\d.]+)\)", out)
    assert [int(s) for s, *_ in losses] == [0, 1], out[-3000:]
    assert all(math.isfinite(float(v)) and float(v) > 0 for row in losses for v in row[1:])


@pytest.mark.parametrize("example", EXAMPLES[1:])
def test_lightning_examples_train(example: str, video: Path, tmp_path: Path) -> None:
    out = run_example(REPO / "examples" / example / "midway.py", video, tmp_path)
    assert "`Trainer.fit` stopped: `max_steps=2` reached" in out, out[-3000:]
    if example == "pytorch_lightning_distributed":
        assert "distributed_backend=gloo" in out or "distributed_backend=nccl" in out, out[-3000:]
    assert (tmp_path / "lightning_logs").is_dir()  # Lightning's default logger, in the run's directory
