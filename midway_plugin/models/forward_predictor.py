"""Forward dynamics model: predicts ẑ_{t+1}^l from v_t^l and the motion latents (paper §3, Eq. 2)."""

from __future__ import annotations

from typing import Literal, overload

import torch
from timm.layers.attention import Attention
from timm.layers.mlp import Mlp
from torch import nn

from midway_plugin.models.layers import GatingMlp


class GatedBlock(nn.Module):
    """Pre-norm transformer block whose residual stream can be gated: ``x ← g·x + Attn(LN(x))``, then MLP.

    As released, the gate multiplies the residual before the attention output is added, and the attention
    sees the ungated ``x`` (docs/paper.md §1.4). The gate itself is computed by :class:`ForwardPredictor`.
    No qkv bias and LayerNorm eps 1e-5, as the released dynamics modules.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
        y = self.attn(self.norm1(x))
        x = x * gate + y if gate is not None else x + y
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class ForwardPredictor(nn.Module):
    """One level's forward predictor: self-attention over ``[motion tokens, v_t^l]``, output the spatial part.

    Gating (paper §3 "gating units"): blocks 2..depth gate the residual of the spatial tokens vector-wise;
    motion tokens always get gate 1. ``gate_input="previous"`` computes block b's gate from block b-1's input
    (the released loop), ``"own"`` from block b's own input (Eq. 2); docs/paper.md §1.10.2.

    Args:
        dim: encoder width.
        depth: number of blocks (paper: 4; Table 5 ablates 1 and 2).
        num_heads: attention heads.
        gating: use gating units (Table 3).
        gate_input: "previous" or "own".
        gating_bias: sigmoid offset (+4).
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        gating: bool = True,
        gate_input: str = "previous",
        gating_bias: float = 4.0,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(GatedBlock(dim, num_heads) for _ in range(depth))
        self.gates = nn.ModuleList(GatingMlp(dim, gating_bias) for _ in range(depth - 1)) if gating else None
        self.gate_input = gate_input

    @overload
    def forward(self, motion: torch.Tensor, v: torch.Tensor, return_gates: Literal[False] = False) -> torch.Tensor: ...

    @overload
    def forward(
        self, motion: torch.Tensor, v: torch.Tensor, return_gates: Literal[True]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def forward(
        self, motion: torch.Tensor, v: torch.Tensor, return_gates: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Predict target tokens.

        Args:
            motion: projected motion latents ``(B, K, D)``.
            v: source-side features ``(B, N, D)``.
            return_gates: also return the list of spatial gates ``(B, N, D)`` of blocks 2..depth.

        Returns:
            ``(B, N, D)`` predictions (and the gates if asked).
        """
        k = motion.shape[1]
        x = torch.cat([motion, v], dim=1)
        previous_input = x
        gates: list[torch.Tensor] = []
        for b, block in enumerate(self.blocks):
            gate = None
            if self.gates is not None and b > 0:
                source = previous_input if self.gate_input == "previous" else x
                spatial = self.gates[b - 1](source[:, k:])
                gates.append(spatial)
                gate = torch.cat([torch.ones_like(x[:, :k]), spatial], dim=1)
            previous_input = x
            x = block(x, gate)
        out = x[:, k:]
        return (out, gates) if return_gates else out
