"""Optimisation details of the Midway LightningModule (docs/paper.md §1.10.7-8, §2.4) without a full training run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from midway_plugin.lightly.midway import Midway, unpack_batch


@pytest.fixture(scope="module")
def model() -> Midway:
    return Midway(
        batch_size_per_device=20,
        model={"preset": "tiny"},
        head_output_dim=64,
        head_hidden_dim=32,
        head_bottleneck_dim=16,
        repeat_sample=5,
    )


def test_parameter_groups(model):
    groups = {g["name"]: g for g in model.parameter_groups()}
    assert set(groups) == {"encoder_head", "dynamics", "no_weight_decay"}
    ids = {name: {id(p) for p in g["params"]} for name, g in groups.items()}
    vit = model.network.encoder.vit
    assert id(vit.cls_token) in ids["encoder_head"] and id(vit.blocks[0].attn.qkv.weight) in ids["encoder_head"]
    assert id(vit.blocks[0].attn.qkv.bias) in ids["no_weight_decay"] and id(vit.norm.weight) in ids["no_weight_decay"]
    assert id(model.network.midway.src_embed.weight) in ids["dynamics"]
    assert groups["dynamics"]["weight_decay"] == 0.01 and groups["encoder_head"]["weight_decay"] == 0.04
    # Every trainable parameter in exactly one group; the EMA teacher in none.
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(len(v) for v in ids.values()) == len(trainable) == len(set().union(*ids.values()))
    teacher = {id(p) for p in model.network.teacher_encoder.parameters()}
    teacher |= {id(p) for p in model.teacher_head.parameters()}
    assert not teacher & set().union(*ids.values())


def test_teacher_head_starts_as_student_head(model):
    for (n, s), (_, t) in zip(model.student_head.state_dict().items(), model.teacher_head.state_dict().items()):
        assert torch.equal(s, t), n
    assert not any(p.requires_grad for p in model.teacher_head.parameters())


def test_linear_lr_scaling_counts_pairs(model):
    model._trainer = SimpleNamespace(world_size=2)
    try:
        assert model.peak_lr() == pytest.approx(5e-4 * (20 * 5 * 2) / 256)  # 200 pairs -> 3.9e-4 (§1.10.7)
    finally:
        model._trainer = None


def test_per_parameter_clipping_spares_the_dynamics(model):
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0) if p.requires_grad else None
    model.configure_gradient_clipping(optimizer=None, gradient_clip_val=3.0)
    for p in list(model.network.encoder.parameters()) + list(model.student_head.parameters()):
        assert p.grad.norm() <= 3.0 + 1e-4
    # Dynamics gradients are not clipped (the released code clips the encoder and DINO head only).
    assert all(torch.all(p.grad == 10.0) for p in model.network.dynamics_parameters())
    model.zero_grad(set_to_none=True)


def test_unpack_batch_errors_name_the_problem():
    with pytest.raises(ValueError, match="'views'"):
        unpack_batch({"frames": torch.zeros(1)})
    with pytest.raises(ValueError, match="2 crops"):
        unpack_batch({"views": {"motion": [torch.zeros(1, 3, 8, 8)] * 3}})
    with pytest.raises(ValueError, match="unsupported batch"):
        unpack_batch(torch.zeros(2, 3, 8, 8))


def test_bad_arguments():
    with pytest.raises(ValueError, match="clip_mode"):
        Midway(batch_size_per_device=1, model={"preset": "tiny"}, clip_mode="sometimes")
    with pytest.raises(ValueError, match="nothing to train"):
        Midway(batch_size_per_device=1, model={"preset": "tiny", "latent_dynamics": False}, dino_weight=0.0)
