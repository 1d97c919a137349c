"""Backward (top-down) layers: v_t^l = backward(z_t^l, v_t^{l+1}) (paper §3, following Ladder Networks/PooDLe)."""

from __future__ import annotations

import torch
from timm.layers.attention import Attention
from timm.layers.mlp import Mlp
from torch import nn

from midway_plugin.models.layers import CrossAttention


class CrossBlock(nn.Module):
    """One backward layer: self-attention, cross-attention to the higher level, MLP (pre-norm, residual).

    The lateral feature z^l is the query; the higher level's backward feature v^{l+1} gives keys and values.

    Reference:
        Hoang & Ren, "Midway Network", ICLR 2026, §3 and App. B.1; Lin et al., "CAT: Cross Attention in
        Vision Transformer", 2022.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.norm_memory = nn.LayerNorm(dim)
        self.cross_attn = CrossAttention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        x = x + self.cross_attn(self.norm2(x), self.norm_memory(memory))
        out: torch.Tensor = x + self.mlp(self.norm3(x))
        return out


def top_down(levels: list[torch.Tensor], blocks: nn.ModuleDict, keys: dict[int, str]) -> dict[int, torch.Tensor]:
    """The top-down pass: v^L = z^L at the top, then v^l = backward_l(z^l, v^{l+1}) for each level index in ``keys``.

    Args:
        levels: encoder feature levels, low to high.
        blocks: backward layers by key.
        keys: level index -> key of its backward layer (contiguous indices below the top).

    Returns:
        Level index -> backward feature, for the top level and every index in ``keys``.
    """
    top = len(levels) - 1
    out = {top: levels[top]}
    for i in sorted(keys, reverse=True):
        out[i] = blocks[keys[i]](levels[i], out[i + 1])
    return out
