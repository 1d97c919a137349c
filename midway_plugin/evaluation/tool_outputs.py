"""Reading the numbers the tools wrote: mmengine's test metrics and checkpoints, Lightning's CSV log and checkpoints.

Nothing is recomputed here: mIoU comes from mmseg's ``IoUMetric`` and EPE from mmflow's ``EndPointError`` as
``mim test`` logged them (mmengine's ``LoggerHook`` dumps the test metrics to
``WORK_DIR/<timestamp>/<timestamp>.json``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any


def mim_test_metrics(work_dir: Path) -> dict[str, float]:
    """The metrics of the newest ``mim test`` run under ``work_dir``.

    Raises:
        ValueError: no metrics file, or no numeric metric in it (the message names the folder).
    """
    files = sorted(Path(work_dir).glob("*/[0-9]*_[0-9]*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise ValueError(f"{work_dir}: no test metrics (<timestamp>/<timestamp>.json) written by mim test")
    metrics: dict[str, float] = {}
    for line in files[-1].read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            metrics.update({k: float(v) for k, v in record.items() if isinstance(v, (int, float))})
    metrics = {k: v for k, v in metrics.items() if k not in ("step", "iter", "epoch", "time", "data_time")}
    if not metrics:
        raise ValueError(f"{files[-1]}: no numeric metrics")
    return metrics


def pick_metric(metrics: dict[str, float], name: str) -> float:
    """The value of ``name`` (exact, else the one key ending in ``/name``).

    Raises:
        ValueError: the metric is absent or ambiguous (the message lists the keys found).
    """
    if name in metrics:
        return metrics[name]
    hits = [k for k in metrics if k.endswith(f"/{name}")]
    if len(hits) != 1:
        raise ValueError(f"expected one {name!r} metric, found keys {sorted(metrics)}")
    return metrics[hits[0]]


def mim_checkpoint(work_dir: Path) -> Path:
    """The checkpoint ``mim train`` wrote last (its ``last_checkpoint`` file, else the highest ``iter_*.pth``).

    Raises:
        ValueError: no checkpoint in ``work_dir``.
    """
    pointer = Path(work_dir) / "last_checkpoint"
    if pointer.is_file():
        path = Path(pointer.read_text().strip())
        if path.is_file():
            return path
    found = sorted(Path(work_dir).glob("iter_*.pth"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    if not found:
        raise ValueError(f"{work_dir}: mim train wrote no checkpoint")
    return found[-1]


def mim_train_losses(work_dir: Path, key: str = "loss") -> list[tuple[int, float]]:
    """``(iteration, loss)`` of ``mim train``'s scalar log (``<timestamp>/vis_data/scalars.json``), if any."""
    files = sorted(Path(work_dir).glob("*/vis_data/scalars.json"), key=lambda p: p.stat().st_mtime)
    out = []
    for line in files[-1].read_text().splitlines() if files else []:
        record = json.loads(line) if line.strip() else {}
        if key in record and "step" in record:
            out.append((int(record["step"]), float(record[key])))
    return out


def pretrain_curve(output_dir: Path) -> dict[str, list[float]]:
    """Step and losses of a ``midway pretrain`` run's CSV log (``csv/version_*/metrics.csv``, newest).

    Raises:
        ValueError: no CSV log or no logged loss.
    """
    logs = sorted(Path(output_dir).glob("csv/version_*/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not logs:
        raise ValueError(f"{output_dir}: no csv/version_*/metrics.csv written by midway pretrain")
    curve: dict[str, list[float]] = {"step": [], "train_loss": [], "loss_dino": [], "loss_dynamics": []}
    with logs[-1].open() as fh:
        for row in csv.DictReader(fh):
            if not row.get("train_loss"):
                continue
            curve["step"].append(float(row["step"]))
            for k in ("train_loss", "loss_dino", "loss_dynamics"):
                curve[k].append(float(row[k]) if row.get(k) else math.nan)
    if not curve["step"]:
        raise ValueError(f"{logs[-1]}: no train_loss logged (run shorter than trainer.log_every_n_steps?)")
    if all(math.isnan(v) for v in curve["loss_dynamics"]):
        del curve["loss_dynamics"]
    return curve


def seconds_per_step(checkpoint_dir: Path) -> float:
    """Pretraining seconds per optimizer step between the first and the last step checkpoint (file times).

    Start-up (imports, data indexing) falls before the first checkpoint and is excluded.

    Raises:
        ValueError: fewer than two step checkpoints.
    """
    ckpts = []
    for p in Path(checkpoint_dir).glob("step-*.ckpt"):
        match = re.fullmatch(r"step-(\d+)", p.stem)
        if match:
            ckpts.append((int(match.group(1)), p.stat().st_mtime))
    ckpts.sort()
    if len(ckpts) < 2 or ckpts[-1][0] == ckpts[0][0]:
        raise ValueError(f"{checkpoint_dir}: need two step checkpoints to time a step, found {len(ckpts)}")
    return (ckpts[-1][1] - ckpts[0][1]) / (ckpts[-1][0] - ckpts[0][0])


def read_zeroshot(path: Path) -> dict[str, Any]:
    """The JSON written by ``python -m midway_plugin.evaluation.zeroshot`` (methods, data, settings).

    Raises:
        ValueError: unreadable, or without methods.
    """
    try:
        result: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err
    if not result.get("methods"):
        raise ValueError(f"{path}: no zero-shot methods evaluated")
    return result


def finite_numbers(value: Any, path: str = "") -> list[str]:
    """Paths of every non-finite float inside a JSON-like value (empty = all finite)."""
    bad: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            bad += finite_numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad += finite_numbers(v, f"{path}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        bad.append(path)
    return bad
