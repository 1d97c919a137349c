"""MidwayFlow's loss options: MMFlow's flow-only losses (plain L1, EPE) beside the paper's bounded Laplacian,
the Laplacian's scale bounds, and training with the L1 loss."""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("mmflow")

from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmflow.registry import MODELS  # noqa: E402

import midway_plugin.mmflow  # noqa: E402,F401  (registers the modules)
from midway_plugin.mmflow.flow_losses import check_flow_loss, flow_loss_value  # noqa: E402
from midway_plugin.mmflow.laplacian_loss_bounded import LaplacianLossBounded  # noqa: E402

from .test_mmflow_midway_flow import batch, build  # noqa: E402

init_default_scope("mmflow")

EPE_LOSS = dict(type="MultiLevelEPE", p=2, flow_div=1.0, weights=dict(flow=1.0), reduction="mean")


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    pred, gt = torch.randn(2, 2, 5, 6), torch.randn(2, 2, 5, 6) * 3
    gt[0, :, 0, 0] = float("nan")
    valid = torch.ones(2, 5, 6)
    valid[1, 2, :] = 0
    return pred, torch.randn(2, 1, 5, 6), gt, valid


def test_l1_and_epe_losses_are_the_plain_formulas_over_valid_pixels() -> None:
    pred, conf, gt, valid = _data()
    mask = torch.isfinite(gt).all(1) & (valid > 0.5)
    gt0 = torch.nan_to_num(gt)
    l1 = flow_loss_value(MODELS.build(dict(type="SequenceLoss")), pred, conf, gt, valid)
    torch.testing.assert_close(l1, ((gt0 - pred).abs() * mask[:, None]).mean())
    epe = flow_loss_value(MODELS.build(EPE_LOSS), pred, conf, gt, valid)
    torch.testing.assert_close(epe, (gt0 - pred).norm(dim=1)[mask].mean(), rtol=1e-5, atol=1e-6)
    # the confidence channel plays no part
    assert flow_loss_value(MODELS.build(EPE_LOSS), pred, conf * 7, gt, valid) == epe
    # SequenceLoss's max_flow excludes large ground truth
    capped = flow_loss_value(MODELS.build(dict(type="SequenceLoss", max_flow=1.0)), pred, conf, gt, valid)
    small = mask & (gt0.norm(dim=1) < 1.0)
    torch.testing.assert_close(capped, ((gt0 - pred).abs() * small[:, None]).mean())


def test_laplacian_scale_stays_within_its_floor_and_ceiling() -> None:
    """``a`` is the floor and ``b`` the ceiling of the Laplacian scale: saturated confidences hit them exactly."""
    pred, _, gt, _ = _data()
    gt = torch.nan_to_num(gt)
    residual = (gt - pred).abs().sum(1).mean()
    loss = LaplacianLossBounded(a=0.5, b=2.0)
    sure, unsure = torch.full((2, 1, 5, 6), -100.0), torch.full((2, 1, 5, 6), 100.0)
    torch.testing.assert_close(loss(pred, sure, gt), residual / 0.5 + torch.log(torch.tensor(0.5)))
    torch.testing.assert_close(loss(pred, unsure, gt), residual / 2.0 + torch.log(torch.tensor(2.0)))
    # at zero flow the ceiling is the trivial solution the paper's defaults (a=0.25, b=4) settle in
    zero = torch.zeros_like(gt)
    paper = LaplacianLossBounded()
    torch.testing.assert_close(paper(zero, unsure, gt), gt.abs().sum(1).mean() / 4 + torch.log(torch.tensor(4.0)))


@pytest.mark.parametrize(
    "cfg, key",
    [
        (dict(EPE_LOSS, flow_div=20.0), "model.flow_loss.flow_div"),
        (dict(EPE_LOSS, weights=dict(level2=1.0, level3=0.5)), "model.flow_loss.weights"),
        (dict(EPE_LOSS, reduction="sum"), "model.flow_loss.reduction"),
        (dict(type="MultiLevelBCE"), "model.flow_loss.type 'MultiLevelBCE'"),
    ],
)
def test_unusable_losses_are_refused(cfg: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        check_flow_loss(MODELS.build(cfg))


def test_midwayflow_refuses_an_unusable_loss(flowdata) -> None:
    with pytest.raises(ValueError, match="model.flow_loss.flow_div"):
        build(None, flowdata, flow_loss=dict(EPE_LOSS, flow_div=20.0))


@pytest.mark.parametrize("loss", [dict(type="SequenceLoss"), EPE_LOSS], ids=["l1", "epe"])
def test_flow_only_loss_trains(flowdata, loss: dict) -> None:
    """A few steps on one fixed batch: the loss is finite and goes down, and equals the logged EPE for EPE."""
    torch.manual_seed(0)
    model = build(None, flowdata, flow_loss=loss)
    data = batch(flowdata, 2, 24, 32, 3, -2)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type="AdamW", lr=2e-3)))
    losses = []
    for _ in range(8):
        model.train()
        logs = model.train_step(copy.deepcopy(data), optim)
        losses.append(float(torch.as_tensor(logs["loss_flow"]).detach()))
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert losses[-1] < 0.7 * losses[0], losses
    if loss is EPE_LOSS:
        assert abs(float(logs["loss_flow"]) - float(logs["train_epe"])) < 1e-4
