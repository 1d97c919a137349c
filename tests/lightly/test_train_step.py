"""The fast training-step parts give the same results as the straightforward ones they replace."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from midway_plugin.data.views import MidwayTransform
from midway_plugin.data.views.device_augment import DeviceAugment, collate_decoded
from midway_plugin.lightly.midway import Midway, unpack_batch
from midway_plugin.lightly.train_step import (
    CompileFallbackWarning,
    clip_grad_per_parameter_,
    compile_guarded,
    make_adamw,
    student_head_outputs,
)


def _tiny_midway(**kwargs) -> Midway:
    return Midway(
        batch_size_per_device=2,
        model={"preset": "tiny"},
        head_output_dim=64,
        head_hidden_dim=32,
        head_bottleneck_dim=16,
        **kwargs,
    )


def test_foreach_clipping_equals_per_parameter_clip_grad_norm() -> None:
    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(*shape)) for shape in [(5, 7), (3,), (128,), (2, 2, 2)]]
    scales = [0.01, 10.0, 1.0, 100.0]  # some below the threshold, some far above
    for p, scale in zip(params, scales):
        p.grad = torch.randn_like(p) * scale
    reference = [p.grad.clone() for p in params]
    for grad in reference:
        torch.nn.utils.clip_grad_norm_([nn.Parameter(torch.zeros_like(grad))], 3.0)  # warm the API, no effect
    expected = []
    for grad in reference:
        holder = nn.Parameter(torch.zeros_like(grad))
        holder.grad = grad.clone()
        torch.nn.utils.clip_grad_norm_([holder], 3.0)
        expected.append(holder.grad)
    clip_grad_per_parameter_(params, 3.0)
    for p, want in zip(params, expected):
        torch.testing.assert_close(p.grad, want)
    assert params[0].grad.norm() < 3.0 and params[3].grad.norm() == pytest.approx(3.0, rel=1e-5)


def test_one_head_call_gives_the_outputs_of_one_call_per_resolution() -> None:
    model = _tiny_midway().eval()
    torch.manual_seed(1)
    globals_ = [torch.randn(3, 3, 32, 32) for _ in range(4)]
    locals_ = [torch.randn(3, 3, 16, 16) for _ in range(4)]
    encode, head = model.network.encoder.forward_cls, model.student_head
    with torch.no_grad():
        fused = student_head_outputs(encode, head, [globals_, locals_])
        separate = [*head(encode(torch.cat(globals_))).chunk(4), *head(encode(torch.cat(locals_))).chunk(4)]
    assert len(fused) == 8
    for ours, theirs in zip(fused, separate):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert student_head_outputs(encode, head, [[], []]) == []


def test_fused_adamw_on_cpu_takes_the_same_step() -> None:
    torch.manual_seed(2)
    weights = torch.randn(10, 10)
    results = {}
    for fused in (True, False):
        param = nn.Parameter(weights.clone())
        optimizer, kind = make_adamw(
            [{"params": [param], "weight_decay": 0.04}], lr=1e-2, betas=(0.9, 0.999), fused=fused
        )
        for _ in range(3):
            param.grad = torch.sin(param.detach() * 3)
            optimizer.step()
        results[kind] = param.detach()
    assert set(results) == {"fused", "foreach"}
    torch.testing.assert_close(results["fused"], results["foreach"], rtol=1e-5, atol=1e-6)


def test_fused_true_where_unsupported_names_the_option() -> None:
    param = nn.Parameter(torch.zeros(3, device="meta"))
    with pytest.raises(ValueError, match="optim.fused"):
        make_adamw([{"params": [param]}], lr=1e-3, betas=(0.9, 0.999), fused=True)
    _, kind = make_adamw([{"params": [param]}], lr=1e-3, betas=(0.9, 0.999), fused=None)
    assert kind == "foreach"


def _failing_backend(graph_module, example_inputs):
    raise RuntimeError("this backend cannot compile anything")


def test_compile_falls_back_to_eager_with_the_reason() -> None:
    torch.manual_seed(3)
    module = nn.Sequential(nn.Linear(4, 4), nn.GELU())
    keys = list(module.state_dict())
    x = torch.randn(2, 4)
    want = module(x)
    guards = compile_guarded({"block": module}, backend=_failing_backend)
    with pytest.warns(CompileFallbackWarning, match="block.forward.*cannot compile anything"):
        got = module(x)
    torch.testing.assert_close(got, want)
    assert guards["block.forward"].status.startswith("failed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(module(x), want)  # eager from now on, no second warning
    assert list(module.state_dict()) == keys


def test_compile_with_a_working_backend_keeps_outputs_and_gradients() -> None:
    torch.manual_seed(4)
    model = _tiny_midway()
    x = torch.randn(2, 3, 32, 32)
    want = model.network.encoder.forward_cls(x)
    guards = compile_guarded({"encoder": model.network.encoder}, methods=("forward_cls",), backend="eager")
    got = model.network.encoder.forward_cls(x)
    torch.testing.assert_close(got, want)
    got.sum().backward()
    assert model.network.encoder.vit.cls_token.grad is not None
    assert guards["encoder.forward_cls"].status == "compiled"


def test_decoded_batches_are_rendered_after_transfer_and_train() -> None:
    transform = MidwayTransform.small(n_local_views=2)
    model = _tiny_midway()
    frames = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    augment = DeviceAugment(transform)
    worker = augment.worker_transform()
    batch = collate_decoded(
        [{"views": {k: v.unsqueeze(0) for k, v in worker(frames, frames).items()}} for _ in range(2)]
    )
    with pytest.raises(ValueError, match="no augmenter"):
        unpack_batch(batch)
    model.batch_augment = augment
    rendered = model.render_batch(batch)
    views = unpack_batch(rendered)
    assert views.motion[0].shape == (2, 3, 32, 32) and len(views.globals_) == 4 and len(views.locals_) == 4
    assert views.locals_[0].shape == (2, 3, 16, 16)
