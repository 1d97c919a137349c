"""Midway path: latent inverse dynamics inferring motion latents from a source and a target (paper §3)."""

from __future__ import annotations

import torch
from timm.layers.pos_embed import resample_abs_pos_embed
from timm.layers.weight_init import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn


class MidwayPath(nn.Module):
    """Per level a small self-attention transformer over ``[m, E_s(source), E_t(target)]``.

    Shared across levels (as released): the source projector ``src_embed`` (D → d), a learnable position
    embedding over the 2·(1 + H·W) source and target tokens, the initial motion tokens, and ``motion_proj``
    (d → D) that maps latents into the forward predictor. One block stack per objective level
    (``shared_motion: False``). Motion tokens get no position embedding (docs/paper.md §1.2).

    Args:
        embed_dim: encoder width D.
        dim: midway width d (paper: 192).
        depth: blocks per level (paper: 4).
        num_heads: heads (code: 3).
        num_tokens: motion latent tokens K (paper: 10).
        grid: the pretraining token grid (224/16 = 14); other grids resample the position embedding.
        level_keys: one key per objective level (e.g. ``["level3", "level6", "level9"]``).
        token_init: "zeros" (released) or "random".
    """

    def __init__(
        self,
        embed_dim: int,
        dim: int,
        depth: int,
        num_heads: int,
        num_tokens: int,
        grid: int,
        level_keys: list[str],
        token_init: str = "zeros",
    ) -> None:
        super().__init__()
        self.grid = grid
        self.num_tokens = num_tokens
        self.src_embed = nn.Linear(embed_dim, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 2 * (1 + grid * grid), dim))
        self.motion_tokens = nn.Parameter(torch.zeros(1, num_tokens, dim))
        if token_init == "random":
            trunc_normal_(self.motion_tokens, std=0.02)
        self.motion_proj = nn.Linear(dim, embed_dim)
        self.blocks = nn.ModuleDict(
            {
                key: nn.Sequential(
                    *(Block(dim, num_heads, qkv_bias=False, norm_layer=nn.LayerNorm) for _ in range(depth))
                )
                for key in level_keys
            }
        )

    def position_embedding(self, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Source and target halves of the position embedding for a token grid (resampled if needed)."""
        half = 1 + self.grid * self.grid
        src, tgt = self.pos_embed[:, :half], self.pos_embed[:, half:]
        if grid != (self.grid, self.grid):
            src = resample_abs_pos_embed(src, list(grid), [self.grid, self.grid], num_prefix_tokens=1)
            tgt = resample_abs_pos_embed(tgt, list(grid), [self.grid, self.grid], num_prefix_tokens=1)
        return src, tgt

    def initial_motion(self, batch_size: int) -> torch.Tensor:
        return self.motion_tokens.expand(batch_size, -1, -1)

    def forward(
        self,
        key: str,
        motion: torch.Tensor,
        source: torch.Tensor,
        target_embedded: torch.Tensor,
        grid: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one level's midway transformer.

        Args:
            key: the level's block stack.
            motion: incoming motion latents ``(B, K, d)``.
            source: source-side features ``(B, N, D)`` (projected here by ``src_embed``).
            target_embedded: target-side features already projected to ``(B, N, d)`` (by the EMA teacher's
                projector during pretraining).
            grid: token grid of the N - 1 spatial tokens.

        Returns:
            ``(new motion (B, K, d), processed target tokens (B, N, d))``.
        """
        pos_src, pos_tgt = self.position_embedding(grid)
        x = torch.cat([motion, self.src_embed(source) + pos_src, target_embedded + pos_tgt], dim=1)
        x = self.blocks[key](x)
        k, n = motion.shape[1], source.shape[1]
        return x[:, :k], x[:, k + n :]
