"""The paired-frame DINO loss against an independent plain-loop reference (docs/paper.md §1.7)."""

from __future__ import annotations

import math

import pytest
import torch

from midway_plugin.lightly.dino_pair_loss import DINOPairLoss, dino_pair_mask


def _view_names(num_locals_per_frame: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(crop, frame) identities of the teacher views and the student views."""
    teacher = [("g1", "x"), ("g2", "x"), ("g1", "y"), ("g2", "y")]
    student = teacher + [(f"l{i}", "x") for i in range(num_locals_per_frame)]
    student += [(f"l{i}", "y") for i in range(num_locals_per_frame)]
    return teacher, student


def reference_loss(teacher_out, student_out, center, teacher_temp=0.04, student_temp=0.1, num_locals=8):
    """Loops over named views: skip a pair when it is the same view, or the same global crop in the other frame."""
    teacher_names, student_names = _view_names(num_locals)
    total, terms = 0.0, 0
    for t_name, t in zip(teacher_names, teacher_out):
        for s_name, s in zip(student_names, student_out):
            same_view = t_name == s_name
            same_global_other_frame = t_name[0] == s_name[0] and t_name[0].startswith("g") and t_name[1] != s_name[1]
            if same_view or same_global_other_frame:
                continue
            per_sample = []
            for b in range(t.shape[0]):
                p = torch.softmax((t[b] - center[0]) / teacher_temp, dim=0)
                logq = torch.log_softmax(s[b] / student_temp, dim=0)
                per_sample.append(-(p * logq).sum())
            total += sum(per_sample) / len(per_sample)
            terms += 1
    return total / terms, terms


def test_72_pairs_with_8_locals_per_frame():
    mask = dino_pair_mask(4, 4 + 16)
    assert int(mask.sum()) == 72
    # Teacher g1_x is compared to g2_x and g2_y, never to itself or to g1_y.
    assert mask[0, :4].tolist() == [False, True, False, True]
    assert mask[:, 4:].all()


@pytest.mark.parametrize("num_locals", [8, 2])
def test_matches_reference_and_updates_center(num_locals):
    torch.manual_seed(0)
    batch, dim = 3, 16
    loss_fn = DINOPairLoss(output_dim=dim, center_momentum=0.9)
    loss_fn.center.center.copy_(torch.randn(1, dim) * 0.1)  # a non-trivial centre from "earlier steps"
    center_before = loss_fn.center.value.clone()
    teacher = [torch.randn(batch, dim) for _ in range(4)]
    student = [torch.randn(batch, dim, requires_grad=True) for _ in range(4 + 2 * num_locals)]

    loss = loss_fn(teacher, student)
    expected, terms = reference_loss(teacher, student, center_before, num_locals=num_locals)
    assert terms == 4 * (2 + 2 * num_locals)
    assert torch.allclose(loss, expected, rtol=1e-5, atol=1e-6)

    # Centre: EMA of the mean teacher output over all 4 x B rows, with the centre *before* this batch used above.
    batch_center = torch.cat(teacher).mean(dim=0, keepdim=True)
    assert torch.allclose(loss_fn.center.value, 0.9 * center_before + 0.1 * batch_center, atol=1e-6)

    loss.backward()  # gradients reach every student view, none reach the teacher
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)


def test_uniform_outputs_give_log_k():
    dim = 32
    loss_fn = DINOPairLoss(output_dim=dim)
    views = [torch.zeros(2, dim) for _ in range(4)]
    loss = loss_fn(views, views + [torch.zeros(2, dim)] * 4)
    assert math.isclose(float(loss), math.log(dim), rel_tol=1e-6)


def test_bad_inputs_are_named():
    loss_fn = DINOPairLoss(output_dim=8)
    with pytest.raises(ValueError, match="num_teacher_views"):
        loss_fn([torch.zeros(2, 8)] * 3, [torch.zeros(2, 8)] * 5)
    with pytest.raises(ValueError, match=r"\(batch, 8\)"):
        loss_fn([torch.zeros(2, 4)] * 4, [torch.zeros(2, 4)] * 4)


def test_float64_module_computes_in_float64():
    """A module converted with ``.double()`` (a float64 parity check) runs, in float64, and matches the reference."""
    torch.manual_seed(0)
    batch, dim = 3, 16
    loss_fn = DINOPairLoss(output_dim=dim).double()
    loss_fn.center.center.copy_(torch.randn(1, dim, dtype=torch.float64) * 0.1)
    center_before = loss_fn.center.value.clone()
    teacher = [torch.randn(batch, dim, dtype=torch.float64) for _ in range(4)]
    student = [torch.randn(batch, dim, dtype=torch.float64) for _ in range(4 + 4)]
    loss = loss_fn(teacher, student)
    expected, _ = reference_loss(teacher, student, center_before, num_locals=2)
    assert loss.dtype == torch.float64 and loss_fn.center.value.dtype == torch.float64
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    assert loss_fn.teacher_probabilities(teacher).dtype == torch.float64
    # Low-precision outputs of a float32 module still compute in float32.
    half = DINOPairLoss(output_dim=dim)([t.bfloat16() for t in teacher], [s.bfloat16() for s in student])
    assert half.dtype == torch.float32
