"""The dynamics networks' building blocks against timm's (``midway_plugin.models.layers``)."""

from __future__ import annotations

import pytest
import torch
from timm.layers import set_fused_attn, use_fused_attn
from timm.models.vision_transformer import Attention

from midway_plugin.models.layers import CrossAttention, unfused_attention


def _pair(seed: int = 0) -> tuple[CrossAttention, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    attn = CrossAttention(dim=48, num_heads=3, qkv_bias=True)
    return attn, torch.randn(2, 7, 48), torch.randn(2, 11, 48)


def test_fused_and_explicit_attention_agree() -> None:
    attn, x, memory = _pair()
    attn.fused_attn = True
    fused = attn(x, memory)
    with unfused_attention(attn):
        assert attn.fused_attn is False
        explicit = attn(x, memory)
    assert attn.fused_attn is True
    torch.testing.assert_close(fused, explicit, atol=1e-6, rtol=0)


@pytest.mark.parametrize("fused", [True, False])
def test_self_attention_case_equals_timm_attention(fused: bool) -> None:
    """With keys/values from the queries' own sequence, CrossAttention is timm's ViT attention."""
    attn, x, _ = _pair(seed=1)
    attn.fused_attn = fused
    timm_attn = Attention(dim=48, num_heads=3, qkv_bias=True).eval()
    with torch.no_grad():
        timm_attn.qkv.weight.copy_(torch.cat([attn.q.weight, attn.kv.weight]))
        timm_attn.qkv.bias.copy_(torch.cat([attn.q.bias, attn.kv.bias]))
        timm_attn.proj.load_state_dict(attn.proj.state_dict())
    torch.testing.assert_close(attn(x, x), timm_attn(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("enable", [False, True])
def test_fused_attn_follows_timms_switch(enable: bool) -> None:
    before = use_fused_attn()
    set_fused_attn(enable)
    try:
        assert CrossAttention(dim=48, num_heads=3).fused_attn is enable
    finally:
        set_fused_attn(before)


def test_unfused_attention_restores_the_flags_after_an_error() -> None:
    attn, _, _ = _pair()
    attn.fused_attn = True
    with pytest.raises(RuntimeError, match="inside"), unfused_attention(attn):
        raise RuntimeError("inside")
    assert attn.fused_attn is True


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="dim 50 is not divisible by num_heads 3"):
        CrossAttention(dim=50, num_heads=3)
