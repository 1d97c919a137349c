"""How MidwayFlow applies its ``flow_loss``: the bounded Laplacian or one of MMFlow's flow-only losses.

``MidwayFlow`` predicts flow plus a raw confidence. Its default loss, the paper's :class:`LaplacianLossBounded`,
uses both. A flow-only loss ignores the confidence channel (it stays untrained, so use whole-image inference,
``test_cfg=dict(mode='whole')``: CroCo's tiling weights windows by that confidence). MMFlow's own losses are
used unchanged:

* ``dict(type='SequenceLoss')``: RAFT's sequence loss with a single prediction, i.e. the plain L1 loss
  ``mean |g - f|`` over pixels and both channels (``max_flow`` = 400 px by default);
* ``dict(type='MultiLevelEPE', p=2, flow_div=1.0, weights=dict(flow=1.0), reduction='mean')``: the mean
  end-point error ``||g - f||_2`` over valid pixels (one level; ``flow_div`` must be 1 because the head predicts
  pixels, and ``reduction`` must be ``'mean'``).

Why a flow-only loss exists here: on small generated data the bounded Laplacian settles within a few iterations
at zero flow with the largest scale ``b`` (its loss there, ``mean |g|_1 / b + log b``, is the trivial solution;
docs/mmflow.md "Does the readout learn?").
"""

from __future__ import annotations

import torch
from mmflow.models.losses import MultiLevelEPE, SequenceLoss
from torch import Tensor, nn

from .laplacian_loss_bounded import LaplacianLossBounded

#: The loss types ``MidwayFlow`` knows how to call (``model.flow_loss.type``).
SUPPORTED = ("LaplacianLossBounded", "SequenceLoss", "MultiLevelEPE")


def check_flow_loss(loss: nn.Module) -> None:
    """Refuses a loss ``MidwayFlow`` cannot call, or an MMFlow loss configured for another kind of model.

    Raises:
        ValueError: the type is not one of :data:`SUPPORTED`, or a ``MultiLevelEPE`` has more than one level,
            ``flow_div != 1`` or ``reduction != 'mean'`` (the message names the ``model.flow_loss`` key).
    """
    if isinstance(loss, (LaplacianLossBounded, SequenceLoss)):
        return
    if isinstance(loss, MultiLevelEPE):
        if len(loss.weights) != 1:
            raise ValueError(
                "MidwayFlow: model.flow_loss.weights of MultiLevelEPE must name one level (the head "
                f"predicts one flow map), got {dict(loss.weights)}"
            )
        if loss.flow_div != 1:
            raise ValueError(
                "MidwayFlow: model.flow_loss.flow_div of MultiLevelEPE must be 1.0 (the head predicts "
                f"flow in pixels), got {loss.flow_div}"
            )
        if loss.reduction != "mean":
            raise ValueError(
                "MidwayFlow: model.flow_loss.reduction of MultiLevelEPE must be 'mean' (per-pixel EPE), "
                f"got {loss.reduction!r}"
            )
        return
    raise ValueError(
        f"MidwayFlow: model.flow_loss.type {type(loss).__name__!r} is not supported; use one of {list(SUPPORTED)}"
    )


def loss_mask(loss: nn.Module, gt: Tensor, valid: Tensor | None) -> Tensor:
    """Boolean ``(B, H, W)`` mask of the pixels that enter ``loss``: finite ground truth, ``valid >= 0.5``, and
    the loss's own flow-norm limit (``max_gtnorm`` or ``max_flow``)."""
    if isinstance(loss, LaplacianLossBounded):
        return loss.valid_mask(gt, valid)
    mask = torch.isfinite(gt).all(dim=1)
    if valid is not None:
        mask &= (valid[:, 0] if valid.dim() == 4 else valid) >= 0.5
    limit = getattr(loss, "max_flow", None)
    if limit is not None:
        mask &= torch.nan_to_num(gt, nan=0.0, posinf=0.0, neginf=0.0).norm(dim=1) < limit
    return mask


def flow_loss_value(loss: nn.Module, flow: Tensor, conf: Tensor, gt: Tensor, valid: Tensor | None) -> Tensor:
    """The loss of a prediction ``flow (B, 2, H, W)`` with raw confidence ``conf (B, 1, H, W)``.

    Non-finite ground truth is masked out (MMFlow's losses would turn it into NaN).
    """
    if isinstance(loss, LaplacianLossBounded):
        return loss(flow, conf, gt, valid)
    mask = loss_mask(loss, gt, valid)
    gt = torch.where(mask[:, None], gt, torch.zeros_like(gt))
    weight = mask.to(flow.dtype)
    if isinstance(loss, SequenceLoss):
        return loss([flow], gt, weight)
    if isinstance(loss, MultiLevelEPE):
        (level,) = loss.weights
        return loss({level: flow}, gt, weight)
    check_flow_loss(loss)  # raises
    raise AssertionError("unreachable")
