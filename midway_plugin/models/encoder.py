"""The Midway encoder: a timm ViT returning the feature levels the dynamics objective uses."""

from __future__ import annotations

import types
from typing import Any, cast

import timm
import torch
from timm.layers.weight_init import trunc_normal_
from torch import nn

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.pos_embed import resample_pos_embed


class MidwayEncoder(nn.Module):
    """A timm ``VisionTransformer`` whose forward returns the configured feature levels.

    Each level is the output of one block passed through the ViT's final norm, CLS token first
    (official code: ``features.append(self.norm(x))``, ``use_cls_token: True``; docs/paper.md §1.1).

    Args:
        cfg: the model configuration (``encoder``, ``encoder_kwargs``, ``img_size``, ``feature_levels``).
        drop_path_rate: overrides ``cfg.drop_path_rate`` (the EMA teacher runs without stochastic depth).
    """

    def __init__(self, cfg: MidwayConfig, drop_path_rate: float | None = None) -> None:
        super().__init__()
        # timm's ViT: its attributes are untyped (nn.Module's __getattr__), so it is held as Any.
        self.vit: Any = cast(
            Any,
            timm.create_model(
                cfg.encoder,
                pretrained=False,
                num_classes=0,
                img_size=cfg.img_size,
                dynamic_img_size=True,
                drop_path_rate=cfg.drop_path_rate if drop_path_rate is None else drop_path_rate,
                **cfg.encoder_kwargs,
            ),
        )
        depth = len(self.vit.blocks)
        if cfg.feature_levels[-1] > depth:
            raise ValueError(f"feature_levels={cfg.feature_levels} exceed the encoder's depth {depth} ({cfg.encoder})")
        self.indices = [level - 1 for level in cfg.feature_levels]
        self.embed_dim: int = self.vit.embed_dim
        self.num_heads: int = self.vit.blocks[0].attn.num_heads
        self.patch_size: int = self.vit.patch_embed.patch_size[0]
        self.num_prefix_tokens: int = self.vit.num_prefix_tokens
        if self.num_prefix_tokens != 1:
            raise ValueError(f"{cfg.encoder}: Midway needs exactly one CLS token, got {self.num_prefix_tokens}")
        if cfg.cls_token_init == "dino":
            trunc_normal_(self.vit.cls_token, std=0.02)  # DINO's ViT; timm draws it with std 1e-6
        if cfg.pos_embed_interp == "dino":
            if getattr(self.vit, "no_embed_class", False):
                raise ValueError(f"{cfg.encoder}: pos_embed_interp='dino' needs a position embedding on the CLS token")
            self.vit._pos_embed = types.MethodType(_dino_pos_embed, self.vit)

    def grid_size(self, x: torch.Tensor) -> tuple[int, int]:
        """Token grid (H/p, W/p) of an image batch; raises ``ValueError`` on sizes not divisible by the patch."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"image size {h}x{w} is not divisible by the patch size {p}")
        return h // p, w // p

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature levels, low to high, each ``(B, 1 + H/p * W/p, D)``."""
        self.grid_size(x)
        levels = self.vit.forward_intermediates(
            x,
            indices=self.indices,
            norm=True,
            output_fmt="NLC",
            intermediates_only=True,
            return_prefix_tokens=True,
        )
        return [torch.cat([prefix, tokens], dim=1) for tokens, prefix in levels]

    def forward_cls(self, x: torch.Tensor) -> torch.Tensor:
        """The final normed CLS token ``(B, D)``, what a DINO head reads (works for small local crops)."""
        self.grid_size(x)
        cls: torch.Tensor = self.vit.forward_features(x)[:, 0]
        return cls


def _dino_pos_embed(vit: Any, x: torch.Tensor) -> torch.Tensor:
    """Replaces a timm ViT's ``_pos_embed`` (CLS token + position embedding on ``(B, H, W, D)`` patch tokens)
    with DINO's on-the-fly interpolation of the position embedding (see :mod:`midway_plugin.models.pos_embed`)."""
    batch, h, w, dim = x.shape
    pos_embed = resample_pos_embed(vit.pos_embed, (h, w), vit.patch_embed.grid_size, num_prefix_tokens=1, mode="dino")
    x = torch.cat([vit.cls_token.expand(batch, -1, -1), x.reshape(batch, h * w, dim)], dim=1)
    out: torch.Tensor = vit.pos_drop(x + pos_embed)
    return out
