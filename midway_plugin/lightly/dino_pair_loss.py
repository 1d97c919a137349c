"""The paired-frame DINO loss of Midway Network.

DINO's cross-entropy between centred, sharpened teacher outputs and student outputs, computed
between crops of *two frames* of a video. Lightly's :class:`~lightly.loss.DINOLoss` only skips the
pairs where student and teacher see the same view; Midway also skips the pair formed by a global
crop and the same global crop location in the other frame, so the pairing lives here, on top of
Lightly's :class:`~lightly.models.modules.center.Center`.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent
    Dynamics", ICLR 2026, §3 (invariance objective) and App. B; docs/paper.md §1.7. DINO: Caron et
    al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from lightly.models.modules.center import Center
from torch import Tensor, nn


def dino_pair_mask(num_teacher_views: int, num_student_views: int) -> Tensor:
    """Which (teacher view, student view) pairs enter the paired-frame DINO loss.

    Views are ordered ``[g1_x, ..., gG_x, g1_y, ..., gG_y, locals...]``: the first
    ``num_teacher_views = 2 G`` student views are the teacher's global views, in the same order.
    A pair is excluded when both sides are the same view (``v == iq``) or when they are the same
    global crop location in the other frame (``|v - iq| == G`` among the globals).

    Args:
        num_teacher_views: Number of teacher (global) views, ``2 G`` (4 in the paper).
        num_student_views: Number of student views: the globals first, then the local crops.

    Returns:
        A boolean ``(num_teacher_views, num_student_views)`` tensor, True where the pair is used.
        With 4 globals and 8 + 8 locals it has 72 True entries (docs/paper.md §1.7).

    Raises:
        ValueError: If the view counts are inconsistent.
    """
    if num_teacher_views < 2 or num_teacher_views % 2:
        raise ValueError(
            f"num_teacher_views must be an even number >= 2 (G globals per frame), got {num_teacher_views}"
        )
    if num_student_views < num_teacher_views:
        raise ValueError(f"num_student_views ({num_student_views}) must include the {num_teacher_views} teacher views")
    globals_per_frame = num_teacher_views // 2
    iq = torch.arange(num_teacher_views).unsqueeze(1)
    v = torch.arange(num_student_views).unsqueeze(0)
    same_view = v == iq
    same_crop_other_frame = (v < num_teacher_views) & ((v - iq).abs() == globals_per_frame)
    return ~(same_view | same_crop_other_frame)


class DINOPairLoss(nn.Module):
    """Paired-frame DINO loss: cross-frame pairs, centring via Lightly's ``Center``.

    Teacher outputs are centred (the centre *before* this batch's update), sharpened with
    ``teacher_temp`` and compared to the student's log-softmax at ``student_temp``. The loss is the
    mean over all used (teacher, student) pairs of the batch-mean cross-entropy; afterwards the
    centre is updated with the teacher outputs of this batch (momentum ``center_momentum``,
    all-reduced over processes by ``Center``).

    Reference:
        Midway Network, docs/paper.md §1.7 (temperatures 0.04 / 0.1, centre momentum 0.9, 72 terms).

    Args:
        output_dim: Projection-head output dimension (the number of prototypes).
        teacher_temp: Teacher temperature (the released configs use a constant 0.04).
        student_temp: Student temperature.
        center_momentum: Momentum of the centre's EMA.
    """

    def __init__(
        self,
        output_dim: int = 65536,
        teacher_temp: float = 0.04,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
    ) -> None:
        super().__init__()
        if teacher_temp <= 0 or student_temp <= 0:
            raise ValueError(f"temperatures must be > 0, got teacher {teacher_temp}, student {student_temp}")
        self.output_dim = output_dim
        self.teacher_temp = teacher_temp
        self.student_temp = student_temp
        self.center = Center(size=(1, output_dim), mode="mean", momentum=center_momentum)

    @torch.no_grad()
    def teacher_probabilities(self, teacher: Tensor | Sequence[Tensor]) -> Tensor:
        """The teacher's centred, sharpened distributions: ``softmax((teacher − centre) / teacher_temp)``.

        The centre is the current one (before this batch's update in :meth:`forward`); the training-health
        statistics call this before the loss so that they see what the loss sees.

        Args:
            teacher: ``(..., output_dim)`` teacher head outputs, or the list of ``(B, output_dim)`` views.

        Returns:
            Probabilities of the same shape (views stacked first for a list), float32 (float64 for a float64
            module or outputs).
        """
        if not isinstance(teacher, Tensor):
            teacher = torch.stack(list(teacher))
        dtype = self._dtype(teacher)
        return F.softmax((teacher.to(dtype) - self.center.value.to(dtype)) / self.teacher_temp, dim=-1)

    def _dtype(self, *tensors: Tensor) -> torch.dtype:
        """float32 for half/bfloat16 outputs (as before), float64 when the outputs or the module are float64."""
        dtype = self.center.value.dtype
        for t in tensors:
            dtype = torch.promote_types(dtype, t.dtype)
        return torch.promote_types(dtype, torch.float32)

    def forward(self, teacher_out: Sequence[Tensor], student_out: Sequence[Tensor]) -> Tensor:
        """Computes the loss and updates the centre.

        Args:
            teacher_out: ``2 G`` tensors ``(B, output_dim)``: teacher head outputs of the global
                views ``[g1_x, ..., gG_x, g1_y, ..., gG_y]``.
            student_out: Student head outputs ``(B, output_dim)``: the same ``2 G`` global views in
                the same order, then the local views (of both frames).

        Returns:
            The 0-dim loss (float32; float64 for a float64 module or outputs).
        """
        if len(teacher_out) == 0 or len(student_out) == 0:
            raise ValueError("teacher_out and student_out must not be empty")
        mask = dino_pair_mask(len(teacher_out), len(student_out)).to(teacher_out[0].device)
        dtype = self._dtype(teacher_out[0], student_out[0])
        teacher = torch.stack(list(teacher_out)).to(dtype)  # (T, B, K)
        student = torch.stack(list(student_out)).to(dtype)  # (V, B, K)
        if teacher.shape[1:] != student.shape[1:] or teacher.shape[-1] != self.output_dim:
            raise ValueError(
                f"teacher views {tuple(teacher.shape[1:])} and student views {tuple(student.shape[1:])} must "
                f"both be (batch, {self.output_dim})"
            )
        teacher_probs = self.teacher_probabilities(teacher)
        student_logp = F.log_softmax(student / self.student_temp, dim=-1)
        # cross_entropy[t, v] = mean over the batch of -sum_k p_t log q_v
        cross_entropy = -torch.einsum("tbk,vbk->tv", teacher_probs, student_logp) / teacher.shape[1]
        loss = cross_entropy[mask].mean()
        self.center.update(teacher.detach().flatten(0, 1))
        return loss
