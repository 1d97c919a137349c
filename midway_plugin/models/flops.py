"""Training cost per example, measured with PyTorch's own FLOP counter (``torch.utils.flop_counter``).

Models are built on the ``meta`` device: shapes are propagated and FLOPs counted without computing anything,
so even ViT-B is measured in seconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.midway import MidwayNetwork


@dataclass
class TrainingCost:
    """FLOPs of one training example (one frame pair), split into forward and backward passes.

    ``FlopCounterMode`` counts a multiply-add as 2 FLOPs; ``*_gmacs`` halve that (fvcore's convention, which
    the paper's Table 9 appears to follow — an inference: its DINO figure matches forward MACs of the
    paired-frame crops).
    """

    forward_flops: int
    backward_flops: int

    @property
    def forward_gmacs(self) -> float:
        return self.forward_flops / 2e9

    @property
    def total_gflops(self) -> float:
        return (self.forward_flops + self.backward_flops) / 1e9


def measure_training_cost(
    cfg: MidwayConfig,
    head_factory: Callable[[int], nn.Module] | None = None,
    *,
    num_global: int = 2,
    num_local: int = 8,
    local_size: int = 96,
) -> TrainingCost:
    """Count the FLOPs of one training example of Midway (or of the DINO base with ``latent_dynamics=False``).

    One example = one frame pair: the dynamics loss on the two motion crops (both orderings when
    ``cfg.symmetric``), plus the paired-frame DINO crops: the student sees ``num_global`` global and
    ``num_local`` local crops of each frame, the EMA teacher the globals (docs/paper.md §1.7, §2.3).

    Args:
        cfg: the model configuration.
        head_factory: builds a DINO projection head from the encoder width (None = no head).
        num_global: global crops per frame.
        num_local: local crops per frame.
        local_size: local crop side.
    """
    with torch.device("meta"):
        model = MidwayNetwork(cfg, with_teacher=True)
        heads = (head_factory(model.encoder.embed_dim), head_factory(model.encoder.embed_dim)) if head_factory else None
        size = cfg.img_size
        motion = torch.empty(1, 3, size, size), torch.empty(1, 3, size, size)
        globals_ = torch.empty(2 * num_global, 3, size, size)
        locals_ = torch.empty(2 * num_local, 3, local_size, local_size) if num_local else None
    with FlopCounterMode(display=False) as forward_counter:
        loss = model(*motion).loss
        student = [model.encoder.forward_cls(globals_)]
        if locals_ is not None:
            student.append(model.encoder.forward_cls(locals_))
        with torch.no_grad():
            teacher = model.teacher_encoder.forward_cls(globals_)
        if heads is not None:
            student = [heads[0](s) for s in student]
            with torch.no_grad():
                heads[1](teacher)
        total = loss + sum(s.float().sum() for s in student)
    with FlopCounterMode(display=False) as backward_counter:
        total.backward()
    return TrainingCost(forward_counter.get_total_flops(), backward_counter.get_total_flops())
