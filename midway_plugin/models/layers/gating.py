"""The gating unit of the forward predictor (paper §3, Eq. 2)."""

from __future__ import annotations

import torch
from torch import nn


class GatingMlp(nn.Module):
    """Vector-wise gate g(x) ∈ (0, 1)^D: LayerNorm → Linear → GELU → Linear → +bias → sigmoid.

    The +4 offset makes gates start near sigmoid(4) ≈ 0.982, i.e. close to a plain residual (paper B.1).
    The input LayerNorm is in the released code but not in the paper (docs/paper.md §1.4). Not timm's ``Mlp``: its
    optional norm sits between the activation and ``fc2``, where this one normalises the input.
    """

    def __init__(self, dim: int, bias: float = 4.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(dim, dim)
        self.bias = bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(self.act(self.fc1(self.norm(x)))) + self.bias)
