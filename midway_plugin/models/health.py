"""Learning-health statistics of a pretraining step: DINO collapse and dynamics beyond the identity (torch only).

Everything here observes: it runs under ``torch.no_grad`` on tensors the training step already has (detached), and
the only extra compute is one dynamics pass for :func:`motion_use_losses`.

* DINO (:func:`dino_teacher_stats`, :func:`cross_image_cosine`): the entropy of the teacher's centred, sharpened
  distribution relative to ln K (≈ 1: uniform collapse), the entropy of its batch mean and the number of distinct
  argmax prototypes (≈ 0 and 1: one-hot collapse, every image on one prototype), and the mean cosine similarity of
  teacher CLS features across different images (→ 1: every image has the same feature).
* Dynamics (:func:`copy_losses`, :func:`motion_use_losses`, :func:`gate_means`): per level, the loss of copying the
  source features (the identity predictor), the predictor's loss when the target frame is replaced by the source
  frame (what the predictor achieves without seeing where things moved), and the mean spatial gate.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), §3 (Eq. 1, 2) and the DINO objective (§3, App. B).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from midway_plugin.models.loss import forward_prediction_loss
from midway_plugin.models.midway import DynamicsOutput, MidwayNetwork, MidwayOutput


@torch.no_grad()
def relative_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of each distribution over the last dimension divided by ln K (1 = uniform, 0 = one-hot).

    Args:
        probs: probabilities ``(..., K)``, summing to 1 over the last dimension (K ≥ 2).

    Returns:
        ``(...)`` float32 tensor in [0, 1].
    """
    k = probs.shape[-1]
    if k < 2:
        raise ValueError(f"need at least 2 prototypes, got {k}")
    p = probs.float()
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(dim=-1)
    return entropy / math.log(k)


@torch.no_grad()
def dino_teacher_stats(probs: torch.Tensor) -> dict[str, float]:
    """Collapse statistics of the DINO teacher's distributions (after centring and sharpening).

    Args:
        probs: the teacher's probabilities ``(..., K)`` as the DINO loss computes them (for Midway:
            ``DINOPairLoss.teacher_probabilities``: ``softmax((teacher_out − centre) / teacher_temp)``); all leading
            dimensions (views, batch) are samples.

    Returns:
        ``{"teacher_entropy": mean over samples of H(p) / ln K, "batch_entropy": H(mean of p) / ln K,
        "prototypes_used": distinct argmax prototypes over the samples}``. Uniform collapse: ``teacher_entropy``
        ≈ 1. One-hot collapse: ``batch_entropy`` ≈ 0 (then ``teacher_entropy`` ≈ 0 too) and one prototype.
    """
    flat = probs.detach().float().reshape(-1, probs.shape[-1])
    return {
        "teacher_entropy": float(relative_entropy(flat).mean()),
        "batch_entropy": float(relative_entropy(flat.mean(dim=0))),
        "prototypes_used": int(torch.unique(flat.argmax(dim=-1)).numel()),
    }


@torch.no_grad()
def cross_image_cosine(features: torch.Tensor, image_ids: torch.Tensor) -> float:
    """Mean cosine similarity of features over all pairs of rows showing *different* images.

    Args:
        features: ``(N, D)`` features (e.g. teacher CLS features of all views, concatenated).
        image_ids: ``(N,)`` integer id of the image each row shows; pairs with equal ids (views of the same image,
            and each row with itself) are left out.

    Returns:
        The mean cosine in [-1, 1]; NaN when no pair of different images exists.
    """
    if features.ndim != 2 or image_ids.shape != features.shape[:1]:
        raise ValueError(
            f"features (N, D) and image_ids (N,) expected, got {tuple(features.shape)} and {tuple(image_ids.shape)}"
        )
    f = F.normalize(features.detach().float(), dim=-1)
    ids = image_ids.to(f.device)
    different = ids[:, None] != ids[None, :]
    if not bool(different.any()):
        return float("nan")
    return float((f @ f.T)[different].mean())


def view_image_ids(num_views: int, batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Image ids of ``num_views`` views of one batch concatenated view after view: ``[0..B-1] * num_views``."""
    return torch.arange(batch_size, device=device).repeat(num_views)


@torch.no_grad()
def copy_losses(network: MidwayNetwork, output: MidwayOutput) -> dict[str, torch.Tensor]:
    """The identity predictor's loss per level: ``forward_prediction_loss(source features, target features)``.

    The source features are the student's raw encoder features of the source frame at that level (what the
    predictor could copy); the targets are the step's teacher targets.

    Args:
        network: the network that produced ``output``.
        output: :meth:`MidwayNetwork.forward` with ``return_features=True``.

    Returns:
        Level key (``"level3"``) → 0-dim loss.
    """
    src, tgt = _features(output)
    return {network.level_key(i): forward_prediction_loss(src[i].detach(), tgt[i]) for i in network.objective_indices}


def source_frame_features(network: MidwayNetwork, output: MidwayOutput) -> list[torch.Tensor]:
    """Features of the *source* frame, in place of the target frame's, for the motion-use pass.

    With ``cfg.symmetric`` the teacher encoded ``cat([x_tgt, x_src])`` and the student ``cat([x_src, x_tgt])``, so
    the teacher's features of each row's source frame are the target features with the two batch halves swapped
    (no extra encoder pass). Without it the teacher never saw the source frames, and the detached student source
    features stand in.
    """
    src, tgt = _features(output)
    if not network.cfg.symmetric:
        return [s.detach() for s in src]
    half = tgt[0].shape[0] // 2
    return [torch.cat([t[half:], t[:half]]).detach() for t in tgt]


@torch.no_grad()
def motion_use_losses(
    network: MidwayNetwork, output: MidwayOutput, source_features: list[torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The predictor's loss per level when the target frame is replaced by the source frame.

    The same top-down pass (:meth:`MidwayNetwork.run_dynamics`, teacher projections) on the same student source
    features, but the midway path sees the source frame's features (:func:`source_frame_features`) as its target,
    so the motion latents can say nothing about where things moved; the predictions are scored against the real
    targets. A predictor that uses the motion latents does clearly worse here than in the real pass.

    Args:
        network: the network that produced ``output``.
        output: :meth:`MidwayNetwork.forward` with ``return_features=True``.
        source_features: the source frame's features standing in for the target's (low → high, CLS first);
            None = :func:`source_frame_features` (the layout of a pretraining batch). An evaluation of single
            pairs (``midway_plugin.evaluation.zeroshot``) passes the source features it encoded.

    Returns:
        Level key → 0-dim loss.
    """
    src, tgt = _features(output)
    still = source_frame_features(network, output) if source_features is None else source_features
    dyn = network.run_dynamics([s.detach() for s in src], still, teacher=True, grid=output.grid)
    return {
        network.level_key(i): forward_prediction_loss(dyn.predictions[i], tgt[i]) for i in network.objective_indices
    }


@torch.no_grad()
def gate_means(network: MidwayNetwork, dynamics: DynamicsOutput) -> dict[str, torch.Tensor]:
    """Mean spatial gate per level (over blocks, batch, tokens and channels); empty without gating or gates.

    Args:
        network: the network that ran the pass.
        dynamics: a pass run with ``return_gates=True``.
    """
    return {
        network.level_key(i): torch.stack([g.detach().float().mean() for g in gates]).mean()
        for i, gates in sorted(dynamics.gates.items())
        if gates
    }


@torch.no_grad()
def dynamics_health(
    network: MidwayNetwork, output: MidwayOutput, source_features: list[torch.Tensor] | None = None
) -> dict[str, dict[str, float]]:
    """Per level: the predictor's loss, the copy loss, the motion-use loss and the mean gate.

    Args:
        network: the network that produced ``output``.
        output: :meth:`MidwayNetwork.forward` with ``return_features=True`` (and ``return_gates=True`` for gates).
        source_features: passed to :func:`motion_use_losses`.

    Returns:
        Level key → ``{"predictor", "copy", "motion_use"[, "gate"]}`` floats.
    """
    copy, still = copy_losses(network, output), motion_use_losses(network, output, source_features)
    gates = gate_means(network, output.dynamics) if output.dynamics is not None else {}
    out: dict[str, dict[str, float]] = {}
    for key, loss in output.level_losses.items():
        out[key] = {"predictor": float(loss.detach()), "copy": float(copy[key]), "motion_use": float(still[key])}
        if key in gates:
            out[key]["gate"] = float(gates[key])
    return out


def _features(output: MidwayOutput) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if output.src_levels is None or output.tgt_levels is None:
        raise ValueError("the health statistics need MidwayNetwork.forward(..., return_features=True)")
    return output.src_levels, output.tgt_levels


__all__ = [
    "copy_losses",
    "cross_image_cosine",
    "dino_teacher_stats",
    "dynamics_health",
    "gate_means",
    "motion_use_losses",
    "relative_entropy",
    "source_frame_features",
    "view_image_ids",
]
