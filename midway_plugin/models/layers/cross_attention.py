"""Multi-head cross-attention (queries from one sequence, keys/values from another)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from timm.layers.config import use_fused_attn
from torch import nn


class CrossAttention(nn.Module):
    """Cross-attention with separate query and key/value projections (CAT, Lin et al. 2022).

    Follows timm's attention switch as timm's own ``Attention`` does: ``fused_attn`` starts as
    :func:`timm.layers.use_fused_attn` (``TIMM_FUSED_ATTN=0`` or timm's exportable mode turn it off), and
    :func:`unfused_attention` turns it off for a while (the fused kernel has no forward-mode AD on CPU).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"CrossAttention: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused_attn = use_fused_attn()
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv(memory).reshape(b, memory.shape[1], 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        if self.fused_attn:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        result: torch.Tensor = self.proj(out.transpose(1, 2).reshape(b, n, c))
        return result


@contextlib.contextmanager
def unfused_attention(module: nn.Module) -> Iterator[None]:
    """Temporarily use the explicit attention math in every submodule that has ``fused_attn``.

    ``torch.func.jvp`` needs it: PyTorch's fused CPU attention kernel has no forward-mode derivative.
    """
    saved: list[tuple[nn.Module, bool]] = [
        (m, bool(m.fused_attn)) for m in module.modules() if hasattr(m, "fused_attn")
    ]
    try:
        for m, _ in saved:
            setattr(m, "fused_attn", False)  # noqa: B010  (an attribute, not a submodule)
        yield
    finally:
        for m, value in saved:
            setattr(m, "fused_attn", value)  # noqa: B010
