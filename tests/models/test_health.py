"""The learning-health statistics of the core (midway_plugin/models/health.py): DINO collapse and the dynamics'
baselines (copy the source, target replaced by the source), each against an explicit computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from midway_plugin.models import MidwayConfig, MidwayNetwork, forward_prediction_loss
from midway_plugin.models.health import (
    copy_losses,
    cross_image_cosine,
    dino_teacher_stats,
    dynamics_health,
    gate_means,
    motion_use_losses,
    relative_entropy,
    view_image_ids,
)
from midway_plugin.models.midway import MidwayOutput


def tiny(**changes) -> MidwayNetwork:
    torch.manual_seed(0)
    return MidwayNetwork(MidwayConfig.tiny(**changes)).eval()  # eval: no drop path, so passes repeat exactly


def frames(b: int = 2, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 32, 32, generator=g), torch.randn(b, 3, 32, 32, generator=g)


# ---------------------------------------------------------------------------------------------------- DINO
def test_entropy_relative_to_ln_k_is_one_for_uniform_and_zero_for_one_hot() -> None:
    k = 64
    uniform = torch.full((3, 5, k), 1 / k)
    stats = dino_teacher_stats(uniform)
    assert stats["teacher_entropy"] == pytest.approx(1.0, abs=1e-6)
    assert stats["batch_entropy"] == pytest.approx(1.0, abs=1e-6)

    one_prototype = F.one_hot(torch.full((4, 8), 7), k).float()  # every sample on prototype 7: one-hot collapse
    stats = dino_teacher_stats(one_prototype)
    assert stats["teacher_entropy"] == pytest.approx(0.0, abs=1e-6)
    assert stats["batch_entropy"] == pytest.approx(0.0, abs=1e-6)
    assert stats["prototypes_used"] == 1

    distinct = F.one_hot(torch.arange(8), k).float()  # healthy: sharp per sample, spread over the batch
    stats = dino_teacher_stats(distinct)
    assert stats["teacher_entropy"] == pytest.approx(0.0, abs=1e-6)
    assert stats["batch_entropy"] == pytest.approx(math.log(8) / math.log(k), rel=1e-5)
    assert stats["prototypes_used"] == 8
    assert relative_entropy(torch.tensor([0.5, 0.5, 0.0, 0.0])) == pytest.approx(0.5)


def test_cross_image_cosine() -> None:
    same = torch.randn(1, 32).repeat(12, 1)
    assert cross_image_cosine(same, view_image_ids(4, 3)) == pytest.approx(1.0, abs=1e-5)
    random = torch.randn(32, 4096, generator=torch.Generator().manual_seed(0))
    assert abs(cross_image_cosine(random, view_image_ids(2, 16))) < 0.02
    # Views of one image identical, images orthogonal: 0 only if the same-image pairs are left out.
    basis = torch.eye(4)
    views = torch.cat([basis, basis, basis])  # 3 views x 4 images
    ids = view_image_ids(3, 4)
    assert ids.tolist() == [0, 1, 2, 3] * 3
    assert cross_image_cosine(views, ids) == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(cross_image_cosine(views[:1], ids[:1]))


# ------------------------------------------------------------------------------------------------- dynamics
def test_features_and_gates_leave_the_loss_unchanged() -> None:
    model = tiny()
    x, y = frames()
    plain = model(x, y)
    full = model(x, y, return_gates=True, return_features=True)
    assert torch.equal(plain.loss, full.loss)
    assert plain.src_levels is None and full.grid == (4, 4)
    assert len(full.src_levels) == len(full.tgt_levels) == 4 and not full.tgt_levels[0].requires_grad
    gates = gate_means(model, full.dynamics)
    assert set(gates) == {"level1", "level2", "level3"}
    assert all(0 < float(g) < 1 for g in gates.values())
    # The gates are the predictor's own, from the same pass.
    i = model.objective_indices[0]
    _, explicit = model.predictor["level1"](
        model.midway.motion_proj(full.dynamics.motion[i]), full.dynamics.backward[i], return_gates=True
    )
    assert torch.allclose(torch.stack([g.mean() for g in explicit]).mean(), gates["level1"])
    assert gate_means(tiny(gating=False), tiny(gating=False)(x, y, return_gates=True).dynamics) == {}


def test_copy_loss_is_the_loss_of_the_source_features() -> None:
    model = tiny()
    x, y = frames()
    out = model(x, y, return_features=True)
    copy = copy_losses(model, out)
    with torch.no_grad():
        src = model.encoder(torch.cat([x, y]))
        tgt = model.teacher_encoder(torch.cat([y, x]))
    for i in model.objective_indices:
        assert copy[model.level_key(i)] == pytest.approx(float(forward_prediction_loss(src[i], tgt[i])), abs=1e-6)


@pytest.mark.parametrize("symmetric", [True, False])
def test_motion_use_is_a_second_pass_with_the_source_frame_as_target(symmetric: bool) -> None:
    model = tiny(symmetric=symmetric)
    with torch.no_grad():  # at initialisation the predictions hardly depend on the target frame: make them
        for module in model.dynamics_modules().values():
            for param in module.parameters():
                param.add_(torch.randn_like(param) * 0.2)
    x, y = frames()
    out = model(x, y, return_features=True)
    still = motion_use_losses(model, out)
    with torch.no_grad():  # explicit: encode the source frames with the teacher (the half-swap avoids this pass)
        src = model.encoder(torch.cat([x, y]) if symmetric else x)
        replacement = model.teacher_encoder(torch.cat([x, y])) if symmetric else src
        tgt = model.teacher_encoder(torch.cat([y, x]) if symmetric else y)
        dyn = model.run_dynamics(src, replacement, teacher=True, grid=(4, 4))
    for i in model.objective_indices:
        key = model.level_key(i)
        expected = float(forward_prediction_loss(dyn.predictions[i], tgt[i]))
        assert still[key] == pytest.approx(expected, abs=1e-5)
        assert abs(float(still[key]) - float(out.level_losses[key].detach())) > 1e-3  # the target did matter


def test_motion_use_equals_the_predictor_loss_when_the_target_is_the_source() -> None:
    model = tiny()
    x, _ = frames()
    out = model(x, x, return_features=True, return_gates=True)
    rows = dynamics_health(model, out)
    assert set(rows) == {"level1", "level2", "level3"}
    for row in rows.values():
        assert row["motion_use"] == pytest.approx(row["predictor"], abs=1e-5)
        assert set(row) == {"predictor", "copy", "motion_use", "gate"}


def test_health_needs_the_features() -> None:
    model = tiny()
    with pytest.raises(ValueError, match="return_features=True"):
        copy_losses(model, model(*frames()))


def test_motion_use_takes_explicit_source_features() -> None:
    """A single evaluated pair (the zero-shot readouts) passes its own source features, whatever the batch layout."""
    model = tiny()
    x, y = frames()
    with torch.no_grad():
        src, tgt = model.encoder(x), model.encoder(y)
        dyn = model.run_dynamics(src, src, teacher=True, grid=(4, 4))
    out = MidwayOutput(loss=torch.zeros(()), level_losses={}, src_levels=src, tgt_levels=tgt, grid=(4, 4))
    still = motion_use_losses(model, out, source_features=src)
    for i in model.objective_indices:
        expected = float(forward_prediction_loss(dyn.predictions[i], tgt[i]))
        assert float(still[model.level_key(i)]) == pytest.approx(expected, abs=1e-6)
