"""One writer per output: a second `midway pretrain`, `export`, `make-video` or `bench` into an output that another
run holds is refused (exit 2, naming the holder) before it writes anything, and a killed holder leaves no stale
lock behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from midway_plugin.cli import main
from midway_plugin.output_lock import OutputLock, OutputLockError, is_launching_process, lock_path
from tests.reliability.midway_process import midway_command, midway_env, tiny_pretrain_args

_HOLD = (
    "import sys, time\n"
    "from midway_plugin.output_lock import OutputLock\n"
    "lock = OutputLock(sys.argv[1], 'x', folder=sys.argv[2] == 'folder', command='the holder').acquire()\n"
    "import os\n"
    "if len(sys.argv) > 3 and os.fork() == 0:  # a forked worker that outlives its killed parent\n"
    "    time.sleep(60)\n"
    "    os._exit(0)\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


def _holder(target: Path, folder: bool = True, fork: bool = False) -> subprocess.Popen:
    extra = ["fork"] if fork else []
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(target), "folder" if folder else "file", *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=midway_env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """An output folder that another process holds."""
    proc = _holder(tmp_path / "out")
    yield tmp_path / "out", proc
    proc.kill()
    proc.wait()


def _refused(err: str, target: Path, pid: int) -> None:
    message = err.strip().splitlines()[-1]
    assert f"{str(target)!r} is in use by another run" in message, message
    assert f"pid {pid}" in message and "the holder" in message, message
    assert "Traceback" not in err


def test_pretrain_into_a_held_output_dir_is_refused_before_writing(held, videos, capsys):
    out, proc = held
    assert main(tiny_pretrain_args(videos, out, 2)) == 2
    _refused(capsys.readouterr().err, out, proc.pid)
    assert sorted(p.name for p in out.iterdir()) == [".midway.lock"]  # no checkpoint, no log of this run


def test_make_video_and_bench_into_a_held_folder_are_refused(held, capsys):
    out, proc = held
    assert main(["make-video", "--out", str(out), "--num-videos", "2", "--frames", "4", "--size", "16x16"]) == 2
    _refused(capsys.readouterr().err, out, proc.pid)
    assert main(["bench", "quality", "--out", str(out), "--quick"]) == 2
    _refused(capsys.readouterr().err, out, proc.pid)
    assert sorted(p.name for p in out.iterdir()) == [".midway.lock"]


def test_export_to_a_held_file_is_refused(trained_run, tmp_path, capsys):
    target = tmp_path / "midway.safetensors"
    proc = _holder(target, folder=False)
    try:
        assert main(["export", str(trained_run / "checkpoints" / "last.ckpt"), str(target)]) == 2
        _refused(capsys.readouterr().err, target, proc.pid)
        assert not target.exists()
    finally:
        proc.kill()
        proc.wait()
    assert main(["export", str(trained_run / "checkpoints" / "last.ckpt"), str(target)]) == 0  # free again
    assert target.is_file() and not lock_path(target, folder=False).exists()


@pytest.mark.parametrize("fork", [False, True], ids=["alone", "with a forked worker"])
def test_a_killed_holder_leaves_no_stale_lock(tmp_path, fork):
    """kill -9: the kernel drops the flock; the lock file left behind holds nothing. A process forked from the
    holder (a data-loader worker, still alive) does not keep it."""
    out = tmp_path / "out"
    proc = _holder(out, fork=fork)
    with pytest.raises(OutputLockError, match=f"pid {proc.pid}"):
        OutputLock(out, "output_dir").acquire()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_path(out).exists()  # left behind by the crash ...
    with OutputLock(out, "output_dir", command="the next run") as lock:  # ... and taken over at once
        assert lock.held and f'"pid": {os.getpid()}' in lock_path(out).read_text()
    assert not lock_path(out).exists()  # a clean release removes it


def test_a_released_lock_can_be_taken_again_in_the_same_process(tmp_path):
    first = OutputLock(tmp_path, "output_dir").acquire()
    with pytest.raises(OutputLockError, match="in use by another run"):
        OutputLock(tmp_path, "output_dir").acquire()  # flock is per open file: the same process is refused too
    first.release()
    with OutputLock(tmp_path, "output_dir"):
        pass


@pytest.mark.parametrize(
    "variables, launching",
    [
        ({}, True),
        ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, True),
        ({"LOCAL_RANK": "1"}, False),
        ({"RANK": "3"}, False),
        ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, False),
        ({"SLURM_PROCID": "2"}, False),
    ],
)
def test_only_the_launching_process_holds_the_output(monkeypatch, variables, launching):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert is_launching_process() is launching


def test_a_ddp_worker_does_not_take_the_lock_its_launcher_holds(held, monkeypatch):
    """Lightning starts the other ranks with LOCAL_RANK set; they must not be refused by rank 0's lock."""
    from midway_plugin.lightly import pretrain
    from midway_plugin.lightly.pretrain_config import load_config

    out, _ = held
    monkeypatch.setattr(pretrain, "_run", lambda config, **kwargs: {"ran": True})
    config = load_config(None, {"output_dir": str(out)})
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert pretrain.run_pretraining(config) == {"ran": True}
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="in use by another run"):
        pretrain.run_pretraining(config)


@pytest.mark.slow
def test_two_pretraining_runs_started_together_one_is_refused(videos, tmp_path):
    """The issue's case: two runs started 0.5 s apart into one folder; exactly one of them trains."""
    out = tmp_path / "out"
    procs = []
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                midway_command(*tiny_pretrain_args(videos, out, 4)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=midway_env(),
            )
        )
        time.sleep(0.5)
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, _, err in results if code == 2)
    assert "is in use by another run" in refused and "Traceback" not in refused
    assert len(list((out / "tensorboard").iterdir())) == 1  # one run, one log version
