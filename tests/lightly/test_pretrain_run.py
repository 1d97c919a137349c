"""End-to-end pretraining on generated video: logged losses, checkpoints, --resume, export, NaN handling."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback

from midway_plugin.cli import main as cli_main
from midway_plugin.data.synthetic import write_synthetic_dataset
from midway_plugin.lightly.checkpoint import load_lightning_checkpoint, network_from_checkpoint
from midway_plugin.lightly.midway import NonFiniteLossError
from midway_plugin.lightly.pretrain import run_pretraining
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config
from midway_plugin.models import build_from_export, load_timm_vit

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"
LOSS_COLUMNS = (
    "train_loss",
    "loss_dino",
    "loss_dynamics",
    "loss_dynamics_level1",
    "loss_dynamics_level2",
    "loss_dynamics_level3",
    "lr",
    "weight_decay",
    "ema_momentum",
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video")
    write_synthetic_dataset(out, num_videos=4, num_frames=16, size=(64, 64), seed=0, num_objects=2, val_videos=0)
    return out / "videos"


def tiny_config(videos: Path, out: Path, **overrides) -> dict:
    base = {
        "data.root": str(videos),
        "output_dir": str(out),
        "data.batch_size_per_device": 2,
        "data.repeat": 1,
        "trainer.max_steps": 3,
        "trainer.checkpoint_every_n_steps": 2,
        "trainer.log_every_n_steps": 1,
        "trainer.progress_bar": False,
        "method.head_output_dim": 64,
        "method.head_hidden_dim": 32,
        "method.head_bottleneck_dim": 16,
    }
    base.update(overrides)
    return load_config(DEMO, base)


@pytest.fixture(scope="module")
def trained(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_pretraining(tiny_config(videos, out))
    return out, result


def test_steps_are_logged_and_checkpointed(trained):
    out, result = trained
    assert result["global_step"] == 3
    with open(result["csv_log"]) as f:
        rows = [r for r in csv.DictReader(f) if r.get("train_loss")]
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    for row in rows:
        for column in LOSS_COLUMNS:
            assert math.isfinite(float(row[column])), (column, row)
    assert float(rows[0]["ema_momentum"]) == pytest.approx(0.996)
    # Schedules over the 3 steps: wd cosine 0.04 -> 0.4, lr from the peak (demo: base lr, no scaling) down.
    assert float(rows[0]["weight_decay"]) == pytest.approx(0.04)
    assert float(rows[-1]["weight_decay"]) == pytest.approx(0.4)
    assert float(rows[0]["lr"]) == pytest.approx(5e-4) and float(rows[-1]["lr"]) < float(rows[0]["lr"])
    assert any(result["tensorboard_dir"].glob("events.out.tfevents.*"))
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("*.ckpt"))
    assert ckpts == ["last.ckpt", "step-00000002.ckpt", "step-00000003.ckpt"]
    assert load_lightning_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 3


class _CaptureFirstStep(Callback):
    def __init__(self) -> None:
        self.seen: dict = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.seen:
            self.seen = {
                "global_step": trainer.global_step,
                "optimizer": copy.deepcopy(trainer.optimizers[0].state_dict()),
                "state": {k: v.detach().clone() for k, v in pl_module.state_dict().items()},
                "lr": trainer.optimizers[0].param_groups[0]["lr"],
            }


def test_resume_continues_with_identical_optimizer_and_ema_state(trained, videos, tmp_path):
    out, _ = trained
    ckpt_path = out / "checkpoints" / "step-00000002.ckpt"
    saved = load_lightning_checkpoint(ckpt_path)
    capture = _CaptureFirstStep()
    result = run_pretraining(tiny_config(videos, tmp_path / "resumed"), resume=ckpt_path, callbacks=[capture])

    assert capture.seen["global_step"] == 2 and result["global_step"] == 3
    # EMA teacher (encoder, backward layers, projector, DINO head), student and DINO centre: as saved.
    for key, value in saved["state_dict"].items():
        assert torch.equal(capture.seen["state"][key], value), key
    assert any(k.startswith("network.teacher_encoder.") for k in saved["state_dict"])
    # AdamW moments and step counts, param-group hyperparameters: as saved.
    opt, saved_opt = capture.seen["optimizer"], saved["optimizer_states"][0]
    assert opt["state"].keys() == saved_opt["state"].keys()
    for index, entry in saved_opt["state"].items():
        for name, value in entry.items():
            assert torch.equal(torch.as_tensor(opt["state"][index][name]), torch.as_tensor(value)), (index, name)
    assert [g["weight_decay"] for g in opt["param_groups"]] == [g["weight_decay"] for g in saved_opt["param_groups"]]
    assert capture.seen["lr"] == pytest.approx(saved_opt["param_groups"][0]["lr"])


def test_export_reloads_with_identical_encoder_outputs(trained, tmp_path, capsys):
    out, _ = trained
    ckpt = out / "checkpoints" / "last.ckpt"
    export = tmp_path / "midway.safetensors"
    assert cli_main(["export", str(ckpt), str(export)]) == 0
    assert "global step 3" in capsys.readouterr().out

    network, _ = network_from_checkpoint(ckpt)
    network.eval()
    rebuilt = build_from_export(export).eval()
    vit = load_timm_vit(export).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = network.teacher_encoder(x)
        for a, b in zip(reference, rebuilt.encoder(x)):
            assert torch.equal(a, b)
        assert torch.equal(vit.forward_features(x)[:, 0], network.teacher_encoder.forward_cls(x))
    exported, original = rebuilt.export_state_dict(), network.export_state_dict(use_teacher=True)
    assert exported.keys() == original.keys()
    assert all(torch.equal(exported[k], original[k]) for k in original)


class _PoisonDynamics(Callback):
    """Makes the dynamics loss NaN from global step 1 on."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 1:
            with torch.no_grad():
                pl_module.network.midway.motion_proj.weight.fill_(float("nan"))


def test_nan_loss_raises_a_clear_error_and_saves_nothing_bad(videos, tmp_path):
    out = tmp_path / "nan"
    config = tiny_config(videos, out, **{"trainer.checkpoint_every_n_steps": 1})
    with pytest.raises(NonFiniteLossError, match=r"global step 1 .*dynamics=nan"):
        run_pretraining(config, callbacks=[_PoisonDynamics()])
    names = sorted(p.name for p in (out / "checkpoints").glob("*.ckpt"))
    assert "step-00000002.ckpt" not in names and "step-00000001.ckpt" in names
    for name in names:
        state = load_lightning_checkpoint(out / "checkpoints" / name)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), name


def test_cli_rejects_unknown_keys_and_prints_config(videos, capsys):
    assert cli_main(["pretrain", "--config", str(DEMO), "--trainer.max_stepz", "3"]) == 2
    assert "trainer.max_stepz" in capsys.readouterr().err
    assert (
        cli_main(["pretrain", "--config", str(DEMO), "--data.root", str(videos), "--print-config", "--devices", "1"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"root: {videos}" in printed and "devices: 1" in printed


def test_dino_only_base_trains_without_dynamics(videos, tmp_path):
    """Table 3 row 1: latent_dynamics=False gives no dynamics networks and the DINO loss only."""
    config = tiny_config(videos, tmp_path / "dino", **{"model.latent_dynamics": False, "trainer.max_steps": 1})
    result = run_pretraining(config)
    with open(result["csv_log"]) as f:
        rows = [r for r in csv.DictReader(f) if r.get("train_loss")]
    assert rows and "loss_dynamics" not in rows[0] and math.isfinite(float(rows[0]["loss_dino"]))
    network, _ = network_from_checkpoint(result["last_checkpoint"])
    assert not hasattr(network, "predictor")


def test_resume_with_another_model_is_a_clear_error(trained, videos, tmp_path):
    out, _ = trained
    config = tiny_config(videos, tmp_path / "other", **{"model.midway_depth": 1})
    with pytest.raises(PretrainConfigError, match="does not fit the model of this config"):
        run_pretraining(config, resume=out / "checkpoints" / "last.ckpt")


def test_too_few_videos_for_the_batch_is_a_clear_error(videos, tmp_path):
    config = tiny_config(videos, tmp_path / "few", **{"data.batch_size_per_device": 8})
    with pytest.raises(PretrainConfigError, match=r"batch_size_per_device=8 exceeds the 4 item\(s\)"):
        run_pretraining(config)
