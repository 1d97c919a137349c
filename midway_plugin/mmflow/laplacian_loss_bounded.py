"""CroCo-Flow's bounded Laplacian loss, as an MMFlow loss module.

Reference:
    Weinzaepfel et al., "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching and
    Optical Flow", ICCV 2023, §4 (Laplacian loss with a bounded scale); naver/croco
    ``stereoflow/criterion.py`` (``LaplacianLossBounded``, the criterion of every CroCo-Flow training
    command, with its defaults ``a=0.25, b=4, max_gtnorm=1e4``). Midway finetunes for flow with
    CroCo's protocol (docs/paper.md §3.2).

For a predicted flow ``f``, a raw confidence channel ``x`` and the ground truth ``g``::

    s    = (b - a) * sigmoid(x) + a                      # the Laplacian scale, bounded to [a, b]
    loss = mean over valid pixels of  sum_c |g_c - f_c| / s + log(s)

i.e. the negative log-likelihood of a Laplace distribution up to the constant ``log 2``. Pixels are valid
when the ground truth is finite, its norm is below ``max_gtnorm`` and the dataset's valid mask (MMFlow's
``gt_valid_fw``, e.g. from ``Validation(max_flow=...)`` or sparse KITTI flow) is set.
"""

from __future__ import annotations

import torch
from mmflow.registry import MODELS
from torch import Tensor, nn


def bounded_scale(conf_logits: Tensor, a: float, b: float) -> Tensor:
    """Maps a raw confidence channel to the Laplacian scale in ``[a, b]`` (CroCo's parametrisation)."""
    return (b - a) * torch.sigmoid(conf_logits) + a


@MODELS.register_module()
class LaplacianLossBounded(nn.Module):
    """Laplacian negative log-likelihood with a sigmoid-bounded scale (CroCo-Flow's criterion).

    Args:
        a: Lower bound of the scale (CroCo: 0.25).
        b: Upper bound of the scale (CroCo: 4.0; the paper's equation has ``a = 1/b``).
        max_gtnorm: Pixels whose ground-truth flow norm is not below this are ignored (CroCo: 1e4).
        loss_weight: Multiplier of the loss (MMFlow convention).

    Reference:
        naver/croco ``stereoflow/criterion.py`` ``LaplacianLossBounded``; CroCo v2 (ICCV 2023).
    """

    def __init__(
        self, a: float = 0.25, b: float = 4.0, max_gtnorm: float | None = 1e4, loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        if not 0 < a < b:
            raise ValueError(f"LaplacianLossBounded needs 0 < a < b, got a={a}, b={b}")
        self.a, self.b = float(a), float(b)
        self.max_gtnorm = max_gtnorm
        self.loss_weight = loss_weight

    def valid_mask(self, gt: Tensor, valid: Tensor | None = None) -> Tensor:
        """Boolean ``(B, H, W)`` mask of the pixels that enter the loss."""
        mask = torch.isfinite(gt).all(dim=1)
        if self.max_gtnorm is not None:
            norm = torch.nan_to_num(gt, nan=0.0, posinf=0.0, neginf=0.0).norm(dim=1)
            mask &= norm < self.max_gtnorm
        if valid is not None:
            if valid.dim() == 4:
                valid = valid[:, 0]
            mask &= valid >= 0.5
        return mask

    def forward(self, flow: Tensor, conf_logits: Tensor, gt: Tensor, valid: Tensor | None = None) -> Tensor:
        """Computes the loss.

        Args:
            flow: Predicted flow ``(B, 2, H, W)``.
            conf_logits: Raw confidence ``(B, 1, H, W)`` or ``(B, H, W)``.
            gt: Ground-truth flow ``(B, 2, H, W)`` (non-finite values mark invalid pixels).
            valid: Optional valid mask ``(B, H, W)`` or ``(B, 1, H, W)``; pixels ``>= 0.5`` count.

        Returns:
            A 0-dim tensor. Zero (with a graph) when no pixel is valid, so a batch of fully invalid
            crops does not produce NaN.
        """
        if flow.shape != gt.shape:
            raise ValueError(
                f"LaplacianLossBounded: prediction shape {tuple(flow.shape)} != ground-truth shape {tuple(gt.shape)}"
            )
        if conf_logits.dim() == 4:
            conf_logits = conf_logits[:, 0]
        mask = self.valid_mask(gt, valid)
        scale = bounded_scale(conf_logits, self.a, self.b)
        gt = torch.where(mask[:, None], gt, torch.zeros_like(gt))
        nll = (gt - flow).abs().sum(dim=1) / scale + torch.log(scale)
        if not bool(mask.any()):
            return nll.sum() * 0.0
        return self.loss_weight * nll[mask].mean()
