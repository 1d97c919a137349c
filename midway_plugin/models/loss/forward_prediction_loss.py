"""Dense forward-prediction loss (paper Eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def forward_prediction_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance of L2-normalised vectors, ``2 − 2·cos``, averaged over tokens and batch.

    The target is detached (stop-gradient on the EMA teacher's features).

    Args:
        prediction: predicted features ``(B, N, D)``.
        target: target features ``(B, N, D)``.

    Returns:
        A 0-dim tensor.

    Reference:
        Hoang & Ren, "Midway Network", ICLR 2026, Eq. 1 (code: ``2 - 2 * (s1 * s2).sum(-1)``).
    """
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    p = F.normalize(prediction.float(), dim=-1)
    t = F.normalize(target.detach().float(), dim=-1)
    return (2 - 2 * (p * t).sum(dim=-1)).mean()
