"""Two-process DDP pretraining on the CPU (gloo), through the CLI. Slow: run with `make test-slow`."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from midway_plugin.data.synthetic import write_synthetic_dataset
from midway_plugin.lightly.checkpoint import load_lightning_checkpoint

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path):
    write_synthetic_dataset(
        tmp_path / "video", num_videos=4, num_frames=16, size=(64, 64), seed=0, num_objects=2, val_videos=0
    )
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "midway_plugin.cli", "pretrain", "--config", str(DEMO),
        "--data.root", str(tmp_path / "video" / "videos"), "--output-dir", str(out),
        "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--max-steps", "2",
        "--data.batch_size_per_device", "2", "--data.repeat", "1", "--trainer.log_every_n_steps", "1",
        "--trainer.progress_bar", "false", "--method.head_output_dim", "64", "--method.head_hidden_dim", "32",
        "--method.head_bottleneck_dim", "16",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(DEMO.parents[2]), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "global step 2" in proc.stdout
    ckpt = load_lightning_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 2
    # Two processes: each sees half of the 4 videos (DistributedSampler), so one batch per epoch and two completed
    # epochs after two steps (a single process would have finished one epoch of two batches).
    assert ckpt["epoch"] == 2
    logs = list((out / "csv").glob("version_*/metrics.csv"))
    with open(logs[0]) as f:
        rows = [r for r in csv.DictReader(f) if r.get("train_loss")]
    assert len(rows) == 2 and all(math.isfinite(float(r["train_loss"])) for r in rows)
