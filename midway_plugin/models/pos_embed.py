"""Resampling a ViT's learned position embedding to another patch grid: timm's way or DINO's way.

Pretraining lays the position embedding on a 14 x 14 grid (224 px); segmentation runs at 512 px (32 x 32) and optical
flow at 320 x 384 (20 x 24), so the grid is interpolated. Two interpolations are in use:

* ``"timm"``: timm's ``resample_abs_pos_embed``: antialiased bicubic to the target *size*: output token ``i`` is
  sampled at source position ``(i + 0.5) * old / new - 0.5`` with PIL's cubic kernel (coefficient -0.5).
* ``"dino"``: what DINO's ViT class (the official Midway code's) computes on the fly: plain bicubic with a *scale
  factor* of ``(new + 0.1) / old`` per axis (the ``+0.1`` guards the output size against floating-point error):
  sampled at ``(i + 0.5) * old / (new + 0.1) - 0.5`` with PyTorch's cubic kernel (coefficient -0.75).

Both give the same grid size; the values differ by a few percent of the embedding's variation.

The prefix (CLS) token's embedding is never interpolated. ``"dino"`` interpolates in the embedding's dtype (float32 or
float64; half precision in float32); timm's function always interpolates in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import torch
import torch.nn.functional as F
from timm.layers.pos_embed import resample_abs_pos_embed

from midway_plugin.models.config import PosEmbedInterp

POS_EMBED_INTERPS: tuple[str, ...] = get_args(PosEmbedInterp)


def resample_pos_embed(
    pos_embed: torch.Tensor,
    new_grid: Sequence[int],
    old_grid: Sequence[int],
    num_prefix_tokens: int = 1,
    mode: PosEmbedInterp = "timm",
) -> torch.Tensor:
    """Resamples ``(1, prefix + old_h * old_w, D)`` position embeddings to ``(1, prefix + new_h * new_w, D)``.

    Args:
        pos_embed: The embeddings, prefix tokens first.
        new_grid: Target ``(h, w)`` in patches.
        old_grid: Grid ``(h, w)`` of ``pos_embed``.
        num_prefix_tokens: Leading tokens left as they are (1: the CLS token).
        mode: ``"timm"`` or ``"dino"`` (see the module docstring).

    Raises:
        ValueError: Unknown mode, or ``pos_embed`` does not hold ``old_grid``.
    """
    if mode not in POS_EMBED_INTERPS:
        raise ValueError(f"pos_embed interpolation {mode!r}; expected one of {POS_EMBED_INTERPS}")
    new_h, new_w = (int(v) for v in new_grid)
    old_h, old_w = (int(v) for v in old_grid)
    if pos_embed.ndim != 3 or pos_embed.shape[1] != num_prefix_tokens + old_h * old_w:
        raise ValueError(
            f"position embedding of shape {tuple(pos_embed.shape)} does not hold {num_prefix_tokens} prefix "
            f"token(s) + a {old_h}x{old_w} grid"
        )
    if (new_h, new_w) == (old_h, old_w):
        return pos_embed
    if mode == "timm":
        resampled: torch.Tensor = resample_abs_pos_embed(
            pos_embed, new_size=[new_h, new_w], old_size=[old_h, old_w], num_prefix_tokens=num_prefix_tokens
        )
        return resampled
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid.shape[-1]
    # float64 stays float64 (parity checks); half precision is interpolated in float32, as timm does.
    work = pos_embed.dtype if pos_embed.dtype in (torch.float32, torch.float64) else torch.float32
    grid = grid.reshape(1, old_h, old_w, dim).permute(0, 3, 1, 2).to(work)
    grid = F.interpolate(
        grid, scale_factor=((new_h + 0.1) / old_h, (new_w + 0.1) / old_w), mode="bicubic", align_corners=False
    )
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_h * new_w, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=1)
