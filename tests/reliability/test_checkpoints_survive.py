"""Checkpoints that survive: atomic writes, a full disk named with the space needed, `--resume last` / a directory
falling back past a truncated `last.ckpt`, and no checkpoint of diverged weights."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from pytorch_lightning import Callback

from midway_plugin.cli import main
from midway_plugin.lightly import atomic_checkpoint
from midway_plugin.lightly.atomic_checkpoint import CheckpointSaveError, save_atomically
from midway_plugin.lightly.checkpoint import load_lightning_checkpoint
from midway_plugin.lightly.midway import NonFiniteLossError
from midway_plugin.lightly.pretrain import run_pretraining
from midway_plugin.lightly.pretrain_config import load_config
from midway_plugin.lightly.resume import resolve_resume
from tests.reliability.midway_process import DEMO, tiny_pretrain_args


def test_save_is_atomic_and_cleans_up_a_killed_save(tmp_path):
    target = tmp_path / "last.ckpt"
    save_atomically({"step": 1}, target)
    (tmp_path / ".last.ckpt.tmp-99999999").write_bytes(b"half")  # what saves killed mid-write leave
    (tmp_path / ".step-00000004.ckpt.tmp-99999999").write_bytes(b"half")  # (no such process)
    save_atomically({"step": 2, "big": torch.zeros(1000)}, target)
    assert torch.load(target, weights_only=True)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_full_disk_names_the_file_and_the_space_needed_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    save_atomically({"step": 1}, target)
    monkeypatch.setattr(atomic_checkpoint, "_free_bytes", lambda directory: 100)
    with pytest.raises(CheckpointSaveError, match=r"last\.ckpt: it needs 0\.\d MB and the filesystem has 0\.0 MB free"):
        save_atomically({"step": 2, "big": torch.zeros(100_000)}, target)
    assert torch.load(target, weights_only=True)["step"] == 1


def test_a_full_disk_says_what_is_left(tmp_path, monkeypatch):
    """Before any checkpoint exists there is nothing "intact" to resume from; after, the message names the newest."""
    monkeypatch.setattr(atomic_checkpoint, "_free_bytes", lambda directory: 100)
    big = {"big": torch.zeros(100_000)}
    with pytest.raises(CheckpointSaveError, match="no checkpoint had been written yet") as err:
        save_atomically(big, tmp_path / "step-00000002.ckpt")
    assert "intact" not in str(err.value) and "--resume" not in str(err.value)
    monkeypatch.undo()
    save_atomically({"step": 2}, tmp_path / "step-00000002.ckpt")
    monkeypatch.setattr(atomic_checkpoint, "_free_bytes", lambda directory: 100)
    with pytest.raises(CheckpointSaveError, match=r"the 1 checkpoint\(s\) .* are intact \(newest: step-00000002\.ckpt"):
        save_atomically(big, tmp_path / "step-00000004.ckpt")


def test_enospc_during_the_write_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    save_atomically({"step": 1}, target)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_checkpoint.os, "fsync", full)
    with pytest.raises(CheckpointSaveError, match=f"cannot save checkpoint {target}: it needs"):
        save_atomically({"step": 2}, target)
    assert torch.load(target, weights_only=True)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_disk_full_during_training_is_a_clear_cli_error(videos, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(atomic_checkpoint, "_free_bytes", lambda directory: 1000)
    assert main(tiny_pretrain_args(videos, tmp_path / "full", 2)) == 2
    err = capsys.readouterr().err
    assert "step-00000002.ckpt: it needs" in err and "Traceback" not in err


def test_resume_from_a_directory_skips_a_truncated_last_ckpt_and_says_so(trained_run, tmp_path, capsys, videos):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("step-00000002.ckpt", "step-00000004.ckpt", "last.ckpt"):
        data = (trained_run / "checkpoints" / name).read_bytes()
        (run / "checkpoints" / name).write_bytes(data[: len(data) // 2] if name == "last.ckpt" else data)
    os.utime(run / "checkpoints" / "step-00000002.ckpt", (1, 1))  # the oldest
    choice = resolve_resume("last", run)
    assert choice.path.name == "step-00000004.ckpt" and choice.global_step == 4
    assert [(p.name, "truncated" in reason) for p, reason in choice.skipped] == [("last.ckpt", True)]

    assert main(tiny_pretrain_args(videos, run, 5, "--resume", str(run))) == 0
    captured = capsys.readouterr()
    assert f"skipped {run / 'checkpoints' / 'last.ckpt'}: truncated" in captured.err
    assert "Resumed from" in captured.out and "step-00000004.ckpt" in captured.out
    assert "checkpoints written by this run" in captured.out and "step-00000005.ckpt, last.ckpt" in captured.out
    assert load_lightning_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 5
    assert not list((run / "checkpoints").glob("last-v*.ckpt"))


class _BlowUp(Callback):
    """A learning-rate accident: weights at 1e30 after step 2's update, while that step's loss was finite."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == 2:
            with torch.no_grad():
                pl_module.network.encoder.vit.cls_token.fill_(1e30)


def test_diverged_weights_are_never_checkpointed_and_the_message_names_the_good_one(videos, tmp_path):
    out = tmp_path / "diverged"
    config = load_config(
        DEMO,
        {
            "data.root": str(videos),
            "output_dir": str(out),
            "data.batch_size_per_device": 2,
            "data.repeat": 1,
            "trainer.max_steps": 5,
            "trainer.checkpoint_every_n_steps": 1,
            "trainer.progress_bar": False,
            "method.head_output_dim": 64,
            "method.head_hidden_dim": 32,
            "method.head_bottleneck_dim": 16,
        },
    )
    diverged = r"weights diverged at global step 3: network\.encoder\.vit\.cls_token"
    with pytest.raises(NonFiniteLossError, match=diverged) as info:
        run_pretraining(config, callbacks=[_BlowUp()])
    assert f"{out / 'checkpoints' / 'last.ckpt'}, holds finite weights" in str(info.value)
    names = sorted(p.name for p in (out / "checkpoints").glob("*.ckpt"))
    assert names == ["last.ckpt", "step-00000001.ckpt", "step-00000002.ckpt"]
    for name in names:
        state = load_lightning_checkpoint(out / "checkpoints" / name)["state_dict"]
        assert all(v.abs().max() < 1e6 for v in state.values() if v.is_floating_point() and v.numel()), name
