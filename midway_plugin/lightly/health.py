"""Learning-health telemetry of a pretraining run: collapse and identity-dynamics episodes, warnings, the summary.

:class:`~midway_plugin.lightly.Midway` computes the statistics of :mod:`midway_plugin.models.health` every
``health_every`` steps and logs them (``dino_*``, ``loss_copy_<level>``, ``loss_motion_use_<level>``,
``gate_<level>``); :class:`HealthMonitor` turns them into episodes (a condition that holds at ``HEALTH_PATIENCE``
consecutive checks), warns once per episode (:class:`DinoCollapseWarning`, :class:`DynamicsIdentityWarning`) and
keeps what the end-of-run summary needs. :func:`write_health_report` writes ``health.json`` and ``health.png``
(the loss curves of ``metrics.csv`` beside the health curves) into the run's output folder.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Per-sample teacher entropy / ln K at or above which the teacher output is "uniform": a fresh DINO head at
#: teacher_temp 0.04 starts near 0.9 (its logits' spread of ≈ 1.5 removes ≈ 1.1 of ln 65536 ≈ 11.1 nats) and a
#: learning teacher sharpens from there; ≥ 0.98 means centring has flattened the sharpened logits of every image.
UNIFORM_ENTROPY_MIN = 0.98
#: Entropy / ln K of the batch-mean teacher distribution below which the batch sits on one prototype ("one-hot"):
#: N images on N distinct prototypes give ln N / ln K ≥ 0.0625 for N ≥ 2 and K ≤ 65536, so < 0.05 means fewer than
#: K^0.05 (≈ 1.7 at K = 65536) prototypes in effective use for the whole batch.
ONE_HOT_BATCH_ENTROPY_MAX = 0.05
#: Relative margin by which the predictor's loss must beat the copy loss (pred < (1 − margin) · copy) and differ from
#: the motion-use loss (|pred − motion_use| ≥ margin · pred): a few per cent is above the step-to-step noise of
#: these means over ≥ 10^3 tokens, and far below the gap of a predictor that reads the motion latents.
DYNAMICS_MARGIN = 0.02
#: Consecutive health checks a condition must hold before it is an episode (and warned about): one noisy batch is
#: not a collapse.
HEALTH_PATIENCE = 3

DINO_KEYS = ("dino_teacher_entropy", "dino_batch_entropy", "dino_prototypes_used", "dino_cross_image_cos")
SUMMARY_NAME = "health.json"
PLOT_NAME = "health.png"


class LearningHealthWarning(UserWarning):
    """A pretraining run shows a known failure mode (base class of the health warnings)."""


class DinoCollapseWarning(LearningHealthWarning):
    """The DINO teacher collapsed: uniform (every image gets the flat distribution) or one-hot (one prototype)."""


class DynamicsIdentityWarning(LearningHealthWarning):
    """A level's forward predictor does not beat copying the source, or does not use the target frame."""


_FIXES = {
    "dino_uniform": "usual fixes: a lower teacher temperature (method.teacher_temp), weaker photometric views "
    "(colour jitter, grayscale, blur in data.dino) on data where colour is the signal, fewer "
    "prototypes (method.head_output_dim)",
    "dino_one_hot": "usual fixes: a lower centre momentum so centring reacts faster (method.center_momentum), a "
    "higher teacher temperature (method.teacher_temp), a lower learning rate (optim.base_lr)",
    "dynamics_identity": "the predictions do not use the target frame: the motion latents carry nothing the "
    "predictor reads (check delta_t gives visible motion, the dynamics loss weight and lr)",
}


@dataclass
class Episode:
    """A condition that held at consecutive health checks.

    Attributes:
        kind: ``"dino_uniform"``, ``"dino_one_hot"`` or ``"dynamics_identity"``.
        level: the level key for dynamics episodes, else None.
        start_step: the first step it held at.
        end_step: the last step it held at (so far).
        checks: health checks it held at.
        warned: whether it was warned about (it reached ``patience`` checks).
        message: the warning text (empty until warned).
    """

    kind: str
    level: str | None
    start_step: int
    end_step: int
    checks: int = 1
    warned: bool = False
    message: str = ""

    @property
    def steps(self) -> int:
        """Steps it has lasted, from its first to its last check."""
        return self.end_step - self.start_step


@dataclass
class HealthMonitor:
    """Tracks the health statistics of a run: episodes, once-per-episode warnings, first/last values.

    Args:
        warmup_steps: Dynamics episodes are looked for from this step on (the predictor first has to learn);
            DINO collapse from step 0 (only ``patience`` checks in a row count).
        patience: Consecutive checks before a condition is an episode and warned about.
        margin: :data:`DYNAMICS_MARGIN`.
        emit: Whether to issue Python warnings (False on DDP ranks other than 0; episodes are still tracked).
    """

    warmup_steps: int = 0
    patience: int = HEALTH_PATIENCE
    margin: float = DYNAMICS_MARGIN
    emit: bool = True
    checks: int = 0
    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    first_step: int | None = None
    last_step: int | None = None
    episodes: list[Episode] = field(default_factory=list)
    _open: dict[tuple[str, str | None], Episode] = field(default_factory=dict)

    def conditions(self, step: int, metrics: Mapping[str, float]) -> dict[tuple[str, str | None], str]:
        """The failure conditions that hold in one check: ``(kind, level) → what was seen``."""
        found: dict[tuple[str, str | None], str] = {}
        entropy, batch = metrics.get("dino_teacher_entropy"), metrics.get("dino_batch_entropy")
        if entropy is not None and batch is not None:
            used, cos = metrics.get("dino_prototypes_used", float("nan")), metrics.get("dino_cross_image_cos")
            detail = (
                f"per-sample teacher entropy {entropy:.3f} x ln K, batch-mean entropy {batch:.3f} x ln K, "
                f"{used:.0f} prototype(s) used" + (f", cross-image CLS cosine {cos:.2f}" if cos is not None else "")
            )
            if entropy >= UNIFORM_ENTROPY_MIN:
                found[("dino_uniform", None)] = detail
            elif batch < ONE_HOT_BATCH_ENTROPY_MAX:
                found[("dino_one_hot", None)] = detail
        if step >= self.warmup_steps:
            for level in _levels(metrics):
                pred, copy = metrics[f"loss_dynamics_{level}"], metrics[f"loss_copy_{level}"]
                still = metrics[f"loss_motion_use_{level}"]
                no_gain = pred >= (1 - self.margin) * copy
                no_use = abs(pred - still) < self.margin * max(pred, 1e-12)
                if no_gain or no_use:
                    why = [
                        w
                        for w, bad in (
                            ("does not beat copying the source", no_gain),
                            ("is the same without the target frame", no_use),
                        )
                        if bad
                    ]
                    found[("dynamics_identity", level)] = (
                        f"predictor loss {pred:.4f} {' and '.join(why)} (copy loss {copy:.4f}, motion-use loss "
                        f"{still:.4f}, margin {self.margin:g})"
                    )
        return found

    def update(self, step: int, metrics: Mapping[str, float]) -> list[Episode]:
        """Records one health check; returns the episodes warned about now (each once).

        Args:
            step: The global step of the check.
            metrics: The logged health values and ``loss_dynamics_<level>`` (floats).
        """
        values = {k: float(v) for k, v in metrics.items()}
        self.checks += 1
        self.first_step = step if self.first_step is None else self.first_step
        self.last_step = step
        for name, value in values.items():
            self.first.setdefault(name, value)
            self.last[name] = value
        now = self.conditions(step, values)
        for key in list(self._open):
            if key not in now:
                self._open.pop(key)
        warned: list[Episode] = []
        for key, detail in now.items():
            episode = self._open.get(key)
            if episode is None:
                episode = self._open[key] = Episode(kind=key[0], level=key[1], start_step=step, end_step=step)
            else:
                episode.end_step, episode.checks = step, episode.checks + 1
            if episode.checks >= self.patience and not episode.warned:
                episode.warned, episode.message = True, _message(episode, detail)
                self.episodes.append(episode)
                warned.append(episode)
                if self.emit:
                    category = DynamicsIdentityWarning if episode.kind == "dynamics_identity" else DinoCollapseWarning
                    warnings.warn(episode.message, category, stacklevel=2)
        return warned

    def ongoing(self, episode: Episode) -> bool:
        """Whether an episode still held at the last check."""
        return self._open.get((episode.kind, episode.level)) is episode

    def summary(self) -> dict[str, Any]:
        """The end-of-run summary (what ``health.json`` holds, less the file paths)."""
        dino = {k: {"first": self.first[k], "last": self.last[k]} for k in DINO_KEYS if k in self.last}
        dynamics: dict[str, dict[str, Any]] = {}
        for level in _levels(self.last):
            row = {
                name: self.last[f"{prefix}{level}"]
                for name, prefix in (
                    ("predictor", "loss_dynamics_"),
                    ("copy", "loss_copy_"),
                    ("motion_use", "loss_motion_use_"),
                    ("gate", "gate_"),
                )
                if f"{prefix}{level}" in self.last
            }
            row["beats_copy"] = row["predictor"] < (1 - self.margin) * row["copy"]
            row["uses_target"] = abs(row["predictor"] - row["motion_use"]) >= self.margin * max(row["predictor"], 1e-12)
            dynamics[level] = row
        episodes = [
            {**{k: v for k, v in asdict(e).items() if k != "warned"}, "steps": e.steps, "ongoing": self.ongoing(e)}
            for e in self.episodes
        ]
        return {
            "status": "warnings" if episodes else ("healthy" if self.checks else "not checked"),
            "checks": self.checks,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "warmup_steps": self.warmup_steps,
            "thresholds": {
                "uniform_entropy_min": UNIFORM_ENTROPY_MIN,
                "one_hot_batch_entropy_max": ONE_HOT_BATCH_ENTROPY_MAX,
                "dynamics_margin": self.margin,
                "patience": self.patience,
            },
            "dino": dino,
            "dynamics": dynamics,
            "episodes": episodes,
        }


def _levels(metrics: Mapping[str, Any]) -> list[str]:
    """Level keys with all three dynamics losses present."""
    prefix = "loss_copy_"
    return [
        k[len(prefix) :]
        for k in sorted(metrics)
        if k.startswith(prefix)
        and f"loss_dynamics_{k[len(prefix) :]}" in metrics
        and f"loss_motion_use_{k[len(prefix) :]}" in metrics
    ]


def _message(episode: Episode, detail: str) -> str:
    lasted = f"since step {episode.start_step} ({episode.steps} steps, {episode.checks} checks)"
    if episode.kind == "dynamics_identity":
        return (
            f"dynamics at {episode.level} learn nothing beyond the identity {lasted}: {detail}; {_FIXES[episode.kind]}"
        )
    name = "uniform" if episode.kind == "dino_uniform" else "one-hot, a single prototype"
    return f"DINO collapse ({name}) {lasted}: {detail}; {_FIXES[episode.kind]}"


# ------------------------------------------------------------------------------------------ end-of-run report
def read_metrics_csv(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning's ``metrics.csv`` as column → [(step, value)] for the rows where the column has a number."""
    columns: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                step = int(float(row.get("step") or ""))
            except ValueError:
                continue
            for key, text in row.items():
                if key in ("step", "epoch") or not text:
                    continue
                try:
                    columns.setdefault(key, []).append((step, float(text)))
                except ValueError:
                    continue
    return columns


def plot_health(columns: Mapping[str, list[tuple[int, float]]], path: str | Path) -> Path:
    """Draws the loss curves beside the health curves (matplotlib, Agg) into a PNG.

    Panels: the losses (``train_loss``, ``loss_dino``, ``loss_dynamics``); per level the predictor's, copy and
    motion-use losses; the DINO teacher entropies / ln K with the collapse thresholds and the cross-image cosine;
    the mean gates. Panels without data say so.
    """
    import matplotlib  # here: loads in a second and is needed only for the report at the end of a run

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (losses, levels), (dino, gates) = axes

    def draw(ax: Any, key: str, **kwargs: Any) -> bool:
        points = columns.get(key)
        if not points:
            return False
        ax.plot([s for s, _ in points], [v for _, v in points], label=kwargs.pop("label", key), **kwargs)
        return True

    drawn = [draw(losses, k) for k in ("train_loss", "loss_dino", "loss_dynamics")]
    _finish(losses, "losses", any(drawn))
    level_keys = sorted(k[len("loss_copy_") :] for k in columns if k.startswith("loss_copy_"))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, level in enumerate(level_keys):
        c = colours[n % len(colours)]
        draw(levels, f"loss_dynamics_{level}", color=c, label=f"{level} predictor")
        draw(levels, f"loss_copy_{level}", color=c, linestyle="--", label=f"{level} copy source")
        draw(levels, f"loss_motion_use_{level}", color=c, linestyle=":", label=f"{level} target = source")
    _finish(levels, "dynamics: predictor vs copy vs no target", bool(level_keys))
    drawn = [
        draw(dino, k, label=label)
        for k, label in (
            ("dino_teacher_entropy", "teacher entropy / ln K"),
            ("dino_batch_entropy", "batch-mean entropy / ln K"),
            ("dino_cross_image_cos", "cross-image CLS cosine"),
        )
    ]
    if any(drawn):
        dino.axhline(UNIFORM_ENTROPY_MIN, color="grey", linestyle="--", linewidth=0.8)
        dino.axhline(ONE_HOT_BATCH_ENTROPY_MAX, color="grey", linestyle=":", linewidth=0.8)
    _finish(dino, "DINO teacher (dashed: uniform, dotted: one-hot threshold)", any(drawn))
    drawn = [draw(gates, k) for k in sorted(columns) if k.startswith("gate_")]
    _finish(gates, "mean spatial gate per level", any(drawn))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _finish(ax: Any, title: str, has_data: bool) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    if has_data:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)


def write_health_report(monitor: HealthMonitor, out_dir: str | Path, csv_path: str | Path | None) -> dict[str, Any]:
    """Writes ``health.json`` (the summary) and ``health.png`` (curves from ``csv_path``) into ``out_dir``.

    Returns:
        The summary, with ``"files"``: the JSON, the CSV read and the PNG (absent without matplotlib, then
        ``"png_skipped"`` says why).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = monitor.summary()
    files = {"json": str(out / SUMMARY_NAME)}
    if csv_path is not None and Path(csv_path).is_file():
        files["csv"] = str(csv_path)
        try:
            files["png"] = str(plot_health(read_metrics_csv(csv_path), out / PLOT_NAME))
        except ImportError as err:  # matplotlib is not a dependency of the core install
            summary["png_skipped"] = f"matplotlib is not installed ({err})"
    summary["files"] = files
    Path(files["json"]).write_text(json.dumps(_finite(summary), indent=2))
    return summary


def _finite(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def format_summary(summary: Mapping[str, Any]) -> str:
    """The few lines ``midway pretrain`` prints at the end of a run."""
    lines = [
        f"learning health: {summary['status']} ({summary['checks']} checks, steps "
        f"{summary['first_step']}-{summary['last_step']})"
    ]
    dino = summary.get("dino", {})
    if dino:

        def get(key: str) -> Any:
            return dino.get(key, {}).get("last")

        lines.append(
            f"  DINO teacher: entropy {_fmt(get('dino_teacher_entropy'))} x ln K, batch-mean "
            f"{_fmt(get('dino_batch_entropy'))} x ln K, {_fmt(get('dino_prototypes_used'), '.0f')} "
            f"prototypes used, cross-image cosine {_fmt(get('dino_cross_image_cos'))}"
        )
    for level, row in summary.get("dynamics", {}).items():
        gate = f", gate {row['gate']:.3f}" if "gate" in row else ""
        lines.append(
            f"  {level}: predictor {row['predictor']:.4f}, copy {row['copy']:.4f}, target = source "
            f"{row['motion_use']:.4f}{gate}"
        )
    for episode in summary.get("episodes", []):
        state = "ongoing" if episode["ongoing"] else f"ended at step {episode['end_step']}"
        lines.append(f"  warning ({state}): {episode['message']}")
    files = summary.get("files", {})
    if files:
        lines.append(f"  health: {', '.join(str(v) for k, v in files.items() if k != 'csv')}")
    return "\n".join(lines)


def health_verdict(summary: Mapping[str, Any]) -> list[str]:
    """The learning-health verdict of a run's ``health.json``, as the lines ``make demo`` prints.

    Lines: the DINO collapse status (an episode ongoing at the last check is a collapse; one that ended is named as
    such), then per level the last predictor, copy and motion-use losses (the predictor's loss with the target frame
    replaced by the source) with whether the predictor beats copying the source and uses the target, and last the
    one-line verdict ``dynamics use the target: yes | partly | no | not measured``: yes when every level's
    predictor loss changes by at least the margin without the target frame, no when none does.

    Args:
        summary: The parsed ``health.json`` (:meth:`HealthMonitor.summary`).
    """
    status = summary.get("status", "not checked")
    lines = [
        f"learning health: {status} ({summary.get('checks', 0)} checks, steps {summary.get('first_step')}-"
        f"{summary.get('last_step')})"
    ]
    episodes = summary.get("episodes", [])
    dino = summary.get("dino", {})
    collapses = [e for e in episodes if str(e.get("kind", "")).startswith("dino_")]
    names = {"dino_uniform": "uniform", "dino_one_hot": "one-hot"}
    if not dino:
        lines.append("DINO collapse: not measured (no health check ran)")
    elif any(e.get("ongoing") for e in collapses):
        e = next(e for e in collapses if e.get("ongoing"))
        lines.append(
            f"DINO collapse: yes, {names.get(e['kind'], e['kind'])} since step {e['start_step']} and still "
            f"at the last check (teacher entropy {_fmt(dino.get('dino_teacher_entropy', {}).get('last'))} "
            f"x ln K)"
        )
    else:
        ended = "; ".join(
            f"{names.get(e['kind'], e['kind'])} at steps {e['start_step']}-{e['end_step']}, ended" for e in collapses
        )
        lines.append(
            f"DINO collapse: no (teacher entropy {_fmt(dino.get('dino_teacher_entropy', {}).get('last'))} "
            f"x ln K, batch-mean {_fmt(dino.get('dino_batch_entropy', {}).get('last'))} x ln K, "
            f"{_fmt(dino.get('dino_prototypes_used', {}).get('last'), '.0f')} prototypes used at the last "
            f"check{'; earlier: ' + ended if ended else ''})"
        )
    rows = summary.get("dynamics", {})
    for level, row in rows.items():
        lines.append(
            f"{level}: predictor {_fmt(row.get('predictor'), '.4f')}, copy source "
            f"{_fmt(row.get('copy'), '.4f')}, target = source {_fmt(row.get('motion_use'), '.4f')}: "
            f"beats copy {'yes' if row.get('beats_copy') else 'no'}, uses the target "
            f"{'yes' if row.get('uses_target') else 'no'}"
        )
    margin = summary.get("thresholds", {}).get("dynamics_margin", DYNAMICS_MARGIN)
    using = [level for level, row in rows.items() if row.get("uses_target")]
    if not rows:
        why = "no health check ran" if not summary.get("checks") else "the model has no latent dynamics"
        verdict = f"not measured ({why})"
    elif len(using) == len(rows):
        verdict = (
            f"yes (at every level the predictor's loss changes by >= {margin:.0%} when the target frame is "
            "replaced by the source)"
        )
    elif using:
        verdict = (
            f"partly (at {', '.join(using)}; at {', '.join(k for k in rows if k not in using)} the "
            f"predictor's loss is the same within {margin:.0%} without the target frame)"
        )
    else:
        verdict = (
            f"no (at every level the predictor's loss is the same within {margin:.0%} when the target frame "
            "is replaced by the source: the motion latents carry nothing the predictor reads)"
        )
    lines.append(f"dynamics use the target: {verdict}")
    return lines


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


__all__ = [
    "DINO_KEYS",
    "DYNAMICS_MARGIN",
    "DinoCollapseWarning",
    "DynamicsIdentityWarning",
    "Episode",
    "HEALTH_PATIENCE",
    "HealthMonitor",
    "LearningHealthWarning",
    "ONE_HOT_BATCH_ENTROPY_MAX",
    "PLOT_NAME",
    "SUMMARY_NAME",
    "UNIFORM_ENTROPY_MIN",
    "format_summary",
    "health_verdict",
    "plot_health",
    "read_metrics_csv",
    "write_health_report",
]
