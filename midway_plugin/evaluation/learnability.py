"""Can the dynamics networks learn to use the target frame? A learnability probe on known global translations.

The dynamics networks alone (backward layers, midway path, forward predictors; the encoder is not used) are trained
with the dense forward-prediction loss (paper Eq. 1) on synthetic encoder features whose target is the source
translated by a known whole number of tokens. The features are what a trained ViT's carry, reduced to two parts:
a per-token content vector (i.i.d. normal) and a 2-D sine-cosine position code, layer-normed, with a zero CLS token;
the target's content is the source's content rolled (circularly) by the shift, its position code is its own.
Without the target, the best prediction is a motion-independent average over the possible shifts; with it, a
predictor that moves content by the shift can do much better. Three runs, each on the same data and budget:

* ``inferred``: the network as configured; the midway path infers the motion latents from source and target.
* ``oracle`` (positive control): the midway path's output replaced by a learned embedding of the true shift. It
  shows whether the forward predictor can read motion latents and move content at this size and budget.
* ``midway_supervised``: the midway path alone, its pooled motion latents classified into the shift by a linear
  layer (cross-entropy). It shows whether the midway path can infer the motion when told directly.

Scored on held-out pairs per objective level: ``copy`` (the source features as prediction), ``pred`` (the
predictor), ``motion_use`` (the predictor with the target replaced by the source, as in the pretraining
telemetry) and ``target_gain = motion_use − pred``: what seeing the target buys. A network "uses the target" when
``target_gain`` exceeds :data:`USE_MARGIN` at every level.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), §3 (midway path, forward predictor, Eq. 1, 2).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers.pos_embed_sincos import build_sincos2d_pos_embed
from torch import nn

from midway_plugin.models import MidwayConfig, MidwayNetwork
from midway_plugin.models.loss import forward_prediction_loss

#: Loss units (2 − 2·cos) by which the true target must beat the source-as-target at every level to count as use.
USE_MARGIN = 0.02
MODES = ("inferred", "oracle")


@dataclass
class ProbeSettings:
    """What a probe run depends on (recorded with its results).

    Attributes:
        grid: token grid side of the synthetic features.
        max_shift: shifts are drawn uniformly from ``[-max_shift, max_shift]`` tokens on each axis.
        steps: optimizer steps per run.
        batch_size: pairs per step.
        lr: AdamW learning rate (weight decay 0.01, the dynamics networks' default).
        val_pairs: held-out pairs for the scores.
        pos_scale: weight of the position code relative to the unit-variance content.
        seed: seeds the network, the data and the held-out pairs (held-out: ``seed + 10_000``).
    """

    grid: int = 8
    max_shift: int = 1
    steps: int = 500
    batch_size: int = 16
    lr: float = 3e-3
    val_pairs: int = 64
    pos_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("grid", "max_shift", "steps", "batch_size", "val_pairs"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProbeSettings.{name} must be >= 1, got {getattr(self, name)}")
        if 2 * self.max_shift + 1 > self.grid:
            raise ValueError(
                f"ProbeSettings.max_shift={self.max_shift} needs a grid of at least "
                f"{2 * self.max_shift + 1} tokens, got {self.grid}"
            )
        if not self.lr > 0:
            raise ValueError(f"ProbeSettings.lr must be > 0, got {self.lr}")

    @property
    def num_shifts(self) -> int:
        return (2 * self.max_shift + 1) ** 2


@dataclass
class LevelScores:
    """Held-out losses of one objective level (2 − 2·cos, lower is better)."""

    copy: float
    pred: float
    motion_use: float

    @property
    def target_gain(self) -> float:
        return self.motion_use - self.pred


@dataclass
class ProbeResult:
    """One run: per level scores, the verdict, the loss curve and the time it took."""

    mode: str
    levels: dict[str, LevelScores]
    curve: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def uses_target(self) -> bool:
        return all(s.target_gain > USE_MARGIN for s in self.levels.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "uses_target": self.uses_target,
            "seconds": round(self.seconds, 2),
            "curve": self.curve,
            "levels": {k: {**asdict(v), "target_gain": v.target_gain} for k, v in self.levels.items()},
        }


def shifted_feature_pairs(
    n: int, grid: int, dim: int, max_shift: int, pos_scale: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic source and target token features whose content moved by a whole-token shift.

    Returns:
        ``(source, target, shifts)``: ``(n, 1 + grid², dim)`` layer-normed tokens (CLS first, zero before the norm)
        and ``(n, 2)`` integer shifts (rows, columns) in ``[-max_shift, max_shift]``.
    """
    content = torch.randn(n, dim, grid, grid, generator=generator)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    moved = torch.stack(
        [torch.roll(c, (int(dy), int(dx)), dims=(1, 2)) for c, (dy, dx) in zip(content, shifts, strict=True)]
    )
    position = build_sincos2d_pos_embed([grid, grid], dim=dim, temperature=10000.0) * pos_scale

    def tokens(x: torch.Tensor) -> torch.Tensor:
        spatial = x.flatten(2).transpose(1, 2) + position
        return F.layer_norm(torch.cat([x.new_zeros(n, 1, dim), spatial], dim=1), (dim,))

    return tokens(content), tokens(moved), shifts


class ShiftEmbedding(nn.Module):
    """The oracle's motion latents: a learned ``(K, d)`` embedding per shift class."""

    def __init__(self, max_shift: int, num_tokens: int, dim: int) -> None:
        super().__init__()
        self.max_shift, self.num_tokens, self.dim = max_shift, num_tokens, dim
        side = 2 * max_shift + 1
        self.table = nn.Embedding(side * side, num_tokens * dim)

    def forward(self, shifts: torch.Tensor) -> torch.Tensor:
        side = 2 * self.max_shift + 1
        ids = (shifts[:, 0] + self.max_shift) * side + shifts[:, 1] + self.max_shift
        rows: torch.Tensor = self.table(ids)
        return rows.view(len(shifts), self.num_tokens, self.dim)


def _network(cfg: MidwayConfig, seed: int) -> MidwayNetwork:
    torch.manual_seed(seed)
    return MidwayNetwork(cfg, with_teacher=True)


def probe_dynamics(
    cfg: MidwayConfig, settings: ProbeSettings, mode: str = "inferred", log: Callable[[str], None] | None = None
) -> ProbeResult:
    """Train a fresh network's dynamics networks on shifted features and score them on held-out pairs.

    Args:
        cfg: the network configuration (its encoder width is the feature width; the encoder itself is unused).
        settings: data, budget and seed.
        mode: ``"inferred"`` (the midway path infers the motion) or ``"oracle"`` (the true shift, embedded).
        log: called with a progress line every 100 steps.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not cfg.latent_dynamics:
        raise ValueError("probe_dynamics needs a configuration with latent_dynamics=True")
    net = _network(cfg, settings.seed)
    dim, levels = net.encoder.embed_dim, len(cfg.feature_levels)
    oracle = ShiftEmbedding(settings.max_shift, cfg.num_motion_tokens, cfg.midway_dim) if mode == "oracle" else None
    params = [p for m in net.dynamics_modules().values() for p in m.parameters()]
    if oracle is not None:
        params += list(oracle.parameters())
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.01)
    grid = (settings.grid, settings.grid)
    data = torch.Generator().manual_seed(settings.seed)

    def motion(shifts: torch.Tensor) -> dict[int, torch.Tensor] | None:
        return None if oracle is None else {i: oracle(shifts) for i in net.objective_indices}

    def losses(
        src: torch.Tensor, tgt: torch.Tensor, shifts: torch.Tensor, seen: torch.Tensor
    ) -> dict[int, torch.Tensor]:
        # `seen` is what the midway path gets as the target frame (the target itself, or the source for motion use)
        dyn = net.run_dynamics([src] * levels, [seen] * levels, grid=grid, motion=motion(shifts))
        return {i: forward_prediction_loss(dyn.predictions[i], tgt) for i in net.objective_indices}

    start, curve = time.perf_counter(), []
    for step in range(settings.steps):
        src, tgt, shifts = shifted_feature_pairs(
            settings.batch_size, settings.grid, dim, settings.max_shift, settings.pos_scale, data
        )
        loss = torch.stack(list(losses(src, tgt, shifts, tgt).values())).sum()
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        net.update_teacher(0.99)  # the midway path projects the target with the EMA copy of its projector
        if (step + 1) % 100 == 0 or step + 1 == settings.steps:
            curve.append((step + 1, round(loss.item(), 4)))
            if log:
                log(f"{mode}: step {step + 1}/{settings.steps} loss {loss.item():.4f}")

    val = shifted_feature_pairs(
        settings.val_pairs,
        settings.grid,
        dim,
        settings.max_shift,
        settings.pos_scale,
        torch.Generator().manual_seed(settings.seed + 10_000),
    )
    src, tgt, shifts = val
    with torch.no_grad():
        real = losses(src, tgt, shifts, tgt)
        # Motion use: the midway path sees the source as target; the oracle is told "no motion".
        still = losses(src, tgt, torch.zeros_like(shifts), src)
        copy = forward_prediction_loss(src, tgt).item()
    scores = {
        net.level_key(i): LevelScores(copy=copy, pred=real[i].item(), motion_use=still[i].item())
        for i in net.objective_indices
    }
    return ProbeResult(mode=mode, levels=scores, curve=curve, seconds=time.perf_counter() - start)


def probe_midway_supervised(cfg: MidwayConfig, settings: ProbeSettings) -> dict[str, Any]:
    """Train the top objective level's midway path, supervised, to classify the shift from its motion latents.

    Returns:
        ``{"accuracy", "chance", "loss", "chance_loss" (ln of the number of shifts), "seconds"}`` on held-out pairs.
    """
    net = _network(cfg, settings.seed)
    dim, midway = net.encoder.embed_dim, net.midway
    key = net.level_key(net.objective_indices[-1])
    head = nn.Linear(cfg.midway_dim, settings.num_shifts)
    optimizer = torch.optim.AdamW(
        list(midway.parameters()) + list(head.parameters()), lr=settings.lr, weight_decay=0.01
    )
    side, grid = 2 * settings.max_shift + 1, (settings.grid, settings.grid)
    data = torch.Generator().manual_seed(settings.seed)

    def logits_and_labels(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        src, tgt, shifts = shifted_feature_pairs(
            n, settings.grid, dim, settings.max_shift, settings.pos_scale, generator
        )
        latents, _ = midway(key, midway.initial_motion(n), src, midway.src_embed(tgt).detach(), grid)
        labels = (shifts[:, 0] + settings.max_shift) * side + shifts[:, 1] + settings.max_shift
        return head(latents.mean(dim=1)), labels

    start = time.perf_counter()
    for _ in range(settings.steps):
        logits, labels = logits_and_labels(settings.batch_size, data)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
    with torch.no_grad():
        logits, labels = logits_and_labels(settings.val_pairs, torch.Generator().manual_seed(settings.seed + 10_000))
        return {
            "accuracy": (logits.argmax(1) == labels).float().mean().item(),
            "chance": 1 / settings.num_shifts,
            "loss": F.cross_entropy(logits, labels).item(),
            "chance_loss": math.log(settings.num_shifts),
            "seconds": round(time.perf_counter() - start, 2),
        }


@torch.no_grad()
def init_sensitivity(cfg: MidwayConfig, settings: ProbeSettings) -> dict[str, float]:
    """At initialisation: relative change of the motion latents and of the predictions when the target is
    replaced by the source (top objective level), i.e. how strongly the target can reach the loss at all."""
    net = _network(cfg, settings.seed).eval()
    dim, levels = net.encoder.embed_dim, len(cfg.feature_levels)
    src, tgt, _ = shifted_feature_pairs(
        settings.val_pairs,
        settings.grid,
        dim,
        settings.max_shift,
        settings.pos_scale,
        torch.Generator().manual_seed(settings.seed + 10_000),
    )
    grid = (settings.grid, settings.grid)
    real = net.run_dynamics([src] * levels, [tgt] * levels, grid=grid)
    still = net.run_dynamics([src] * levels, [src] * levels, grid=grid)
    i = net.objective_indices[-1]

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / a.norm().clamp_min(1e-12))

    return {
        "motion_change": rel(real.motion[i], still.motion[i]),
        "prediction_change": rel(real.predictions[i], still.predictions[i]),
    }


def run_learnability(cfg: MidwayConfig, settings: ProbeSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """All probes on one configuration: init sensitivity, inferred and oracle runs, the supervised midway path."""
    out: dict[str, Any] = {"settings": asdict(settings), "config": cfg.to_dict(), "use_margin": USE_MARGIN}
    out["init"] = init_sensitivity(cfg, settings)
    for mode in MODES:
        out[mode] = probe_dynamics(cfg, settings, mode, log=log).to_dict()
    out["midway_supervised"] = probe_midway_supervised(cfg, settings)
    return out


def format_table(result: dict[str, Any]) -> str:
    """The printed table of :func:`run_learnability`'s result."""
    lines = ["| run | level | copy | pred | motion use | target gain | uses target |", "|---|---|---|---|---|---|---|"]
    for mode in MODES:
        run = result[mode]
        for level, s in run["levels"].items():
            lines.append(
                f"| {mode} | {level} | {s['copy']:.3f} | {s['pred']:.3f} | {s['motion_use']:.3f} | "
                f"{s['target_gain']:+.3f} | {'yes' if run['uses_target'] else 'no'} |"
            )
    sup, init = result["midway_supervised"], result["init"]
    lines += [
        "",
        f"midway path supervised on the shift: accuracy {sup['accuracy']:.2f} (chance {sup['chance']:.2f}), "
        f"loss {sup['loss']:.3f} (chance {sup['chance_loss']:.3f})",
        f"at initialisation, replacing the target by the source changes the motion latents by "
        f"{init['motion_change']:.2e} and the predictions by {init['prediction_change']:.2e} (relative)",
    ]
    return "\n".join(lines)


__all__ = [
    "MODES",
    "USE_MARGIN",
    "LevelScores",
    "ProbeResult",
    "ProbeSettings",
    "format_table",
    "init_sensitivity",
    "probe_dynamics",
    "probe_midway_supervised",
    "run_learnability",
    "shifted_feature_pairs",
]
