"""A real `midway pretrain` killed mid-run (SIGKILL, SIGTERM) and resumed gives the uninterrupted run's losses
and weights exactly (CPU, deterministic mode, a data-loader worker): sampling is a function of (seed, step, sample)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from midway_plugin.lightly.checkpoint import load_lightning_checkpoint
from tests.reliability.midway_process import ROOT, midway_command, midway_env, run_midway, tiny_pretrain_args

STEPS = 10


def pretrain_args(videos: Path, out: Path) -> list[str]:
    return tiny_pretrain_args(videos, out, STEPS, "--data.num_workers", "1", "--trainer.deterministic", "true")


def losses(out: Path) -> dict[int, str]:
    """step -> train_loss (as written, so equality is exact) over every CSV version of a run."""
    found: dict[int, str] = {}
    for metrics in sorted((out / "csv").glob("version_*/metrics.csv")):
        with open(metrics) as f:
            for row in csv.DictReader(f):
                if row.get("train_loss"):
                    step = int(row["step"])
                    # A step the killed process logged and the resumed one repeated: the same loss twice.
                    assert found.setdefault(step, row["train_loss"]) == row["train_loss"], (step, metrics)
    return found


def final_state(out: Path) -> dict[str, torch.Tensor]:
    checkpoint = load_lightning_checkpoint(out / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == STEPS
    return checkpoint["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    code, stdout, stderr = run_midway(*pretrain_args(videos, out))
    assert code == 0, stderr[-3000:]
    return out


def start_and_signal(videos: Path, out: Path, sig: int, after: str) -> subprocess.CompletedProcess:
    """Starts `midway pretrain`, sends ``sig`` to its process group once ``checkpoints/<after>`` exists, waits."""
    process = subprocess.Popen(
        midway_command(*pretrain_args(videos, out)),
        env=midway_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not (out / "checkpoints" / after).exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run never reached the checkpoint"
        time.sleep(0.05)
    os.killpg(process.pid, sig)  # the whole process group, data-loader worker included (a terminal, SLURM)
    stdout, stderr = process.communicate(timeout=240)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def assert_same_run(resumed: Path, reference: Path, resumed_at: int) -> None:
    expected, got = losses(reference), losses(resumed)
    assert sorted(expected) == list(range(STEPS))
    # Every step from the resume on was logged, and every logged step has the reference loss to the last digit
    # (rows the killed process had not flushed to its CSV yet are simply missing).
    assert set(range(resumed_at, STEPS)) <= got.keys()
    assert {step: expected[step] for step in got} == got
    want, have = final_state(reference), final_state(resumed)
    assert want.keys() == have.keys()
    different = [k for k in want if not torch.equal(want[k], have[k])]
    assert not different, different[:10]


def test_sigkill_mid_run_then_resume_last_reproduces_the_uninterrupted_run(videos, tmp_path, uninterrupted):
    out = tmp_path / "killed"
    killed = start_and_signal(videos, out, signal.SIGKILL, after="step-00000004.ckpt")
    assert killed.returncode == -signal.SIGKILL
    code, stdout, stderr = run_midway(*pretrain_args(videos, out), "--resume", "last")
    assert code == 0, stderr[-3000:]
    assert "Resumed from" in stdout and f"global step {STEPS}" in stdout
    resumed_from = Path(stdout.split("Resumed from ", 1)[1].split("\n", 1)[0].rstrip("."))
    assert_same_run(out, uninterrupted, load_lightning_checkpoint(resumed_from)["global_step"])


@pytest.mark.slow  # ~25 s each: more `midway pretrain` processes; the SIGKILL test above runs by default
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_or_sigint_saves_the_current_step_and_resumes_exactly(videos, tmp_path, uninterrupted, sig):
    out = tmp_path / "preempted"
    stopped = start_and_signal(videos, out, sig, after="step-00000002.ckpt")
    assert stopped.returncode == 128 + sig, stopped.stderr[-3000:]
    assert f"Interrupted by {sig.name}" in stopped.stdout and "--resume last" in stopped.stdout
    saved = load_lightning_checkpoint(out / "checkpoints" / "last.ckpt")
    step = saved["global_step"]
    assert 2 <= step < STEPS
    assert (out / "checkpoints" / f"step-{step:08d}.ckpt").is_file()  # the step it stopped at, not only every N
    code, stdout, stderr = run_midway(*pretrain_args(videos, out), "--resume", str(out))
    assert code == 0, stderr[-3000:]
    assert_same_run(out, uninterrupted, step)
