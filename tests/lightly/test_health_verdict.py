"""The learning-health verdict `make demo` prints from a run's health.json (lightly/health.py: health_verdict)."""

from __future__ import annotations

import copy
from typing import Any

from midway_plugin.lightly.health import HealthMonitor, health_verdict


def summary(
    levels: dict[str, tuple[float, float, float]], episodes: list[dict[str, Any]] | None = None, entropy: float = 0.83
) -> dict[str, Any]:
    """A health.json of a run whose last check had these (predictor, copy, motion-use) losses per level."""
    monitor = HealthMonitor()
    metrics = {
        "dino_teacher_entropy": entropy,
        "dino_batch_entropy": 0.4,
        "dino_prototypes_used": 4.0,
        "dino_cross_image_cos": 0.8,
    }
    for level, (pred, copy_, still) in levels.items():
        metrics |= {f"loss_dynamics_{level}": pred, f"loss_copy_{level}": copy_, f"loss_motion_use_{level}": still}
    monitor.update(149, metrics)
    out = monitor.summary()
    out["episodes"] = episodes or []
    out["status"] = "warnings" if episodes else "healthy"
    return out


def test_dynamics_that_ignore_the_target_are_a_plain_no() -> None:
    lines = health_verdict(summary({"level1": (1.0812, 1.2650, 1.0815), "level2": (1.10, 1.28, 1.10)}))
    assert lines[-1].startswith("dynamics use the target: no (at every level")
    assert (
        "level1: predictor 1.0812, copy source 1.2650, target = source 1.0815: beats copy yes, uses the target "
        "no" in lines
    )
    assert (
        lines[1] == "DINO collapse: no (teacher entropy 0.830 x ln K, batch-mean 0.400 x ln K, 4 prototypes "
        "used at the last check)"
    )


def test_dynamics_that_use_the_target_everywhere_are_a_yes_and_mixed_levels_partly() -> None:
    assert health_verdict(summary({"level1": (0.8, 1.2, 1.1), "level2": (0.7, 1.2, 1.0)}))[-1].startswith(
        "dynamics use the target: yes"
    )
    mixed = health_verdict(summary({"level1": (0.8, 1.2, 1.1), "level2": (1.1, 1.2, 1.1)}))[-1]
    assert mixed.startswith("dynamics use the target: partly (at level1; at level2 the predictor's loss is the same")
    no_gain = health_verdict(summary({"level1": (1.3, 1.2, 1.0)}))
    assert "beats copy no, uses the target yes" in no_gain[2]


def test_dino_collapse_ongoing_ended_and_unchecked() -> None:
    uniform = {
        "kind": "dino_uniform",
        "level": None,
        "start_step": 19,
        "end_step": 149,
        "checks": 14,
        "message": "m",
        "steps": 130,
        "ongoing": True,
    }
    lines = health_verdict(summary({"level1": (0.8, 1.2, 1.1)}, [uniform], entropy=0.99))
    assert (
        lines[1] == "DINO collapse: yes, uniform since step 19 and still at the last check (teacher entropy "
        "0.990 x ln K)"
    )
    ended = dict(copy.deepcopy(uniform), kind="dino_one_hot", end_step=59, ongoing=False)
    lines = health_verdict(summary({"level1": (0.8, 1.2, 1.1)}, [ended]))
    assert lines[1].startswith("DINO collapse: no (") and "earlier: one-hot at steps 19-59, ended" in lines[1]
    empty = HealthMonitor().summary()
    assert health_verdict(empty)[1:] == [
        "DINO collapse: not measured (no health check ran)",
        "dynamics use the target: not measured (no health check ran)",
    ]
