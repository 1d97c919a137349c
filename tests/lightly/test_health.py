"""Learning-health telemetry of pretraining (midway_plugin/lightly/health.py and Midway's health steps): collapse
and identity-dynamics warnings once per episode, and the health.json / health.png of a `midway pretrain` run."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from midway_plugin.cli import main as cli_main
from midway_plugin.data.synthetic import write_synthetic_dataset
from midway_plugin.lightly.dino_pair_loss import DINOPairLoss
from midway_plugin.lightly.health import (
    HEALTH_PATIENCE,
    DinoCollapseWarning,
    DynamicsIdentityWarning,
    HealthMonitor,
    LearningHealthWarning,
)
from midway_plugin.lightly.midway import Midway
from midway_plugin.models.health import cross_image_cosine, dino_teacher_stats, view_image_ids

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"
K = 64


def dino_metrics(teacher_out: list[torch.Tensor], loss: DINOPairLoss, cls: torch.Tensor) -> dict[str, float]:
    """What Midway logs for DINO, from teacher head outputs and CLS features."""
    stats = dino_teacher_stats(loss.teacher_probabilities(teacher_out))
    ids = view_image_ids(len(teacher_out), teacher_out[0].shape[0])
    return {**{f"dino_{k}": float(v) for k, v in stats.items()}, "dino_cross_image_cos": cross_image_cosine(cls, ids)}


def run_checks(monitor: HealthMonitor, metrics: dict[str, float], steps: range) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in steps:
            monitor.update(step, metrics)
    return [w for w in caught if issubclass(w.category, LearningHealthWarning)]


def test_teacher_probabilities_are_the_losses_own() -> None:
    """The health statistics use the loss's centre (before its update) and teacher temperature."""
    loss = DINOPairLoss(output_dim=K, teacher_temp=0.07)
    loss.center.value.copy_(torch.randn(1, K))
    teacher = [torch.randn(3, K) for _ in range(2)]
    expected = F.softmax((torch.stack(teacher) - loss.center.value) / 0.07, dim=-1)
    assert torch.allclose(loss.teacher_probabilities(teacher), expected)
    before = loss.center.value.clone()
    loss.teacher_probabilities(teacher)
    assert torch.equal(loss.center.value, before)  # observing leaves the centre alone


def test_collapse_warnings_fire_on_collapsed_teachers_and_not_on_a_healthy_one() -> None:
    loss = DINOPairLoss(output_dim=K, teacher_temp=0.04)
    cls = torch.randn(4 * 8, 256)
    # Uniform: every teacher output equals the centre (zero here), so the sharpened distribution is flat.
    uniform = dino_metrics([torch.zeros(8, K) for _ in range(4)], loss, torch.ones(4 * 8, 256))
    assert uniform["dino_teacher_entropy"] == pytest.approx(1.0) and uniform["dino_cross_image_cos"] == pytest.approx(1)
    # One-hot: every image on prototype 3.
    peaked = torch.zeros(8, K)
    peaked[:, 3] = 5.0
    one_hot = dino_metrics([peaked.clone() for _ in range(4)], loss, cls)
    assert one_hot["dino_batch_entropy"] < 0.01 and one_hot["dino_prototypes_used"] == 1
    # Healthy: sharp per image, a different prototype per image.
    healthy_out = [5.0 * F.one_hot(torch.arange(8) * 7 + v, K).float() for v in range(4)]
    healthy = dino_metrics(healthy_out, loss, cls)
    assert healthy["dino_teacher_entropy"] < 0.5 and healthy["dino_batch_entropy"] > 0.3

    caught = run_checks(HealthMonitor(), uniform, range(0, 100, 10))
    assert [w.category for w in caught] == [DinoCollapseWarning]  # once per episode, not every check
    text = str(caught[0].message)
    assert "uniform" in text and f"since step 0 ({10 * (HEALTH_PATIENCE - 1)} steps" in text
    assert "teacher temperature" in text and "colour jitter" in text

    caught = run_checks(HealthMonitor(), one_hot, range(5))
    assert [w.category for w in caught] == [DinoCollapseWarning]
    assert "one-hot" in str(caught[0].message) and "centre momentum" in str(caught[0].message)

    assert run_checks(HealthMonitor(), healthy, range(20)) == []
    assert run_checks(HealthMonitor(), uniform, range(HEALTH_PATIENCE - 1)) == []  # too short to be an episode


def test_a_new_episode_warns_again_and_the_summary_lists_both() -> None:
    loss = DINOPairLoss(output_dim=K)
    uniform = dino_metrics([torch.zeros(4, K)] * 2, loss, torch.randn(8, 16))
    healthy = dino_metrics(
        [5.0 * F.one_hot(torch.arange(4) + 4 * v, K).float() for v in range(2)], loss, torch.randn(8, 16)
    )
    monitor = HealthMonitor()
    caught = run_checks(monitor, uniform, range(0, 4))
    caught += run_checks(monitor, healthy, range(4, 6))
    caught += run_checks(monitor, uniform, range(6, 10))
    assert len(caught) == 2
    summary = monitor.summary()
    assert summary["status"] == "warnings" and summary["checks"] == 10
    assert [(e["kind"], e["start_step"], e["end_step"], e["ongoing"]) for e in summary["episodes"]] == [
        ("dino_uniform", 0, 3, False),
        ("dino_uniform", 6, 9, True),
    ]


def dynamics_metrics(predictor: float, copy: float, motion_use: float) -> dict[str, float]:
    return {
        "loss_dynamics_level3": predictor,
        "loss_copy_level3": copy,
        "loss_motion_use_level3": motion_use,
        "gate_level3": 0.9,
    }


def test_identity_dynamics_warn_after_warmup_only() -> None:
    copying = dynamics_metrics(0.50, 0.50, 0.70)  # no better than copying the source
    blind = dynamics_metrics(0.30, 0.50, 0.301)  # beats copying, but the same without the target frame
    healthy = dynamics_metrics(0.30, 0.50, 0.45)
    for metrics, why in ((copying, "does not beat copying the source"), (blind, "same without the target frame")):
        monitor = HealthMonitor(warmup_steps=10)
        assert run_checks(monitor, metrics, range(10)) == []  # warmup
        caught = run_checks(monitor, metrics, range(10, 20))
        assert [w.category for w in caught] == [DynamicsIdentityWarning]
        text = str(caught[0].message)
        assert "level3" in text and "since step 10" in text and "do not use the target frame" in text
        assert why in text
    assert run_checks(HealthMonitor(), healthy, range(20)) == []
    monitor = HealthMonitor()
    run_checks(monitor, healthy, range(3))
    row = monitor.summary()["dynamics"]["level3"]
    assert row == {
        "predictor": 0.30,
        "copy": 0.50,
        "motion_use": 0.45,
        "gate": 0.9,
        "beats_copy": True,
        "uses_target": True,
    }


def test_health_every_validation_and_schedule() -> None:
    with pytest.raises(ValueError, match="health_every"):
        Midway(batch_size_per_device=1, model={"preset": "tiny"}, head_output_dim=K, health_every=-1)
    model = Midway(batch_size_per_device=1, model={"preset": "tiny"}, head_output_dim=K, health_every=5)
    assert [s for s in range(12) if model.health_step(s)] == [4, 9]  # the steps Lightning logs at every 5
    off = Midway(batch_size_per_device=1, model={"preset": "tiny"}, head_output_dim=K, health_every=0)
    assert not any(off.health_step(s) for s in range(12))


# ------------------------------------------------------------------------------------------ a pretraining run
@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video")
    write_synthetic_dataset(out, num_videos=4, num_frames=16, size=(64, 64), seed=0, num_objects=2, val_videos=0)
    return out / "videos"


def test_pretrain_writes_the_health_summary_and_plot(videos, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = [
        "pretrain",
        "--config",
        str(DEMO),
        "--data.root",
        str(videos),
        "--output-dir",
        str(out),
        "--data.batch_size_per_device",
        "2",
        "--data.repeat",
        "1",
        "--max-steps",
        "4",
        "--trainer.log_every_n_steps",
        "2",
        "--trainer.progress_bar",
        "false",
        "--method.head_output_dim",
        "64",
        "--method.head_hidden_dim",
        "32",
        "--method.head_bottleneck_dim",
        "16",
        "--method.health_warmup_steps",
        "0",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LearningHealthWarning)  # 4 random steps may look like anything
        assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert "learning health:" in printed and "level3: predictor" in printed

    summary = json.loads((out / "health.json").read_text())
    assert {
        "status",
        "checks",
        "first_step",
        "last_step",
        "warmup_steps",
        "thresholds",
        "dino",
        "dynamics",
        "episodes",
        "files",
    } <= set(summary)
    assert summary["checks"] == 2 and (summary["first_step"], summary["last_step"]) == (1, 3)  # every 2nd step
    assert set(summary["dino"]) == {
        "dino_teacher_entropy",
        "dino_batch_entropy",
        "dino_prototypes_used",
        "dino_cross_image_cos",
    }
    assert set(summary["dynamics"]) == {"level1", "level2", "level3"}
    for row in summary["dynamics"].values():
        assert set(row) == {"predictor", "copy", "motion_use", "gate", "beats_copy", "uses_target"}
        assert all(math.isfinite(row[k]) for k in ("predictor", "copy", "motion_use", "gate"))
    assert 0 <= summary["dino"]["dino_teacher_entropy"]["last"] <= 1
    png = out / "health.png"
    assert summary["files"]["png"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(summary["files"]["csv"]) as f:
        rows = [r for r in csv.DictReader(f) if r.get("loss_copy_level3")]
    assert [int(r["step"]) for r in rows] == [1, 3]  # logged beside the losses, on the logged steps
    for column in (
        "loss_dynamics_level3",
        "loss_motion_use_level3",
        "gate_level3",
        "dino_teacher_entropy",
        "dino_batch_entropy",
        "dino_prototypes_used",
        "dino_cross_image_cos",
    ):
        assert all(math.isfinite(float(r[column])) for r in rows), column


def test_telemetry_only_observes(videos, tmp_path) -> None:
    """The same run with a health check at every step and with none ends with identical weights and DINO centre."""
    from midway_plugin.lightly.checkpoint import load_lightning_checkpoint
    from midway_plugin.lightly.pretrain import run_pretraining
    from midway_plugin.lightly.pretrain_config import load_config

    states = {}
    for every in (1, 0):
        config = load_config(
            DEMO,
            {
                "data.root": str(videos),
                "output_dir": str(tmp_path / str(every)),
                "data.batch_size_per_device": 2,
                "data.repeat": 1,
                "trainer.max_steps": 3,
                "trainer.log_every_n_steps": 1,
                "trainer.progress_bar": False,
                "trainer.deterministic": True,
                "method.head_output_dim": 64,
                "method.head_hidden_dim": 32,
                "method.head_bottleneck_dim": 16,
                "method.health_every": every,
            },
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LearningHealthWarning)
            result = run_pretraining(config)
        states[every] = load_lightning_checkpoint(result["last_checkpoint"])["state_dict"]
        assert (result["health"]["checks"], result["health"]["status"] == "not checked") == (
            (3, False) if every else (0, True)
        )
    assert states[1].keys() == states[0].keys()
    for key, value in states[0].items():
        assert torch.equal(states[1][key], value), key
