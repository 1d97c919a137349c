"""What the perturbation holds fixed for one frame pair: the predictor's inputs and motion latents at one level.

The forward predictor of a trained Midway Network maps the source-side features v_t^l and the motion latents
m^{l+1} to a prediction of the target frame's features (docs/paper.md §1.4; the top-down pass: §1.5). This module
runs the encoder and the top-down pass once and keeps what ``predict_level`` consumes at the chosen level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from midway_plugin.analysis.errors import AnalysisError
from midway_plugin.analysis.level_choice import block_argument, feature_index
from midway_plugin.models.midway import MidwayNetwork


@dataclass(frozen=True)
class PerturbationPair:
    """Everything the analysis holds fixed for one (source, target) frame pair at one feature level.

    Attributes:
        level_index: index into ``cfg.feature_levels`` of the perturbed level (the predictor index; internal).
        level_block: the 1-based ViT block of that level (``cfg.feature_levels[level_index]``).
        inputs: ``(1, N, D)`` what ``predict_level(level_index, ·, motion)`` consumes: the source-side backward
            feature v_t^l (or the encoder feature z_t^l when the model has no backward layers). CLS first.
        motion: ``(1, K, d)`` the motion latents m^{l+1} used to predict that level, held fixed.
        source_features: ``(1, N, D)`` the encoder's source features z_t^l (used for feature similarity).
        target_features: ``(1, N, D)`` the encoder's target features z_{t+1}^l.
        grid: ``(h, w)`` spatial token grid.
        num_prefix_tokens: tokens before the spatial grid in the sequence (1: CLS).
        patch_size: pixels per token side.
    """

    level_index: int
    level_block: int
    inputs: Tensor
    motion: Tensor
    source_features: Tensor
    target_features: Tensor
    grid: tuple[int, int]
    num_prefix_tokens: int
    patch_size: int

    @property
    def num_spatial(self) -> int:
        """Number of spatial tokens ``h * w``."""
        return self.grid[0] * self.grid[1]


@torch.no_grad()
def encode_frames(model: MidwayNetwork, frames: Tensor, *, teacher: bool = False) -> list[Tensor]:
    """Encode normalised frames ``(T, 3, H, W)`` into the feature levels (list, low → high, ``(T, N, D)``)."""
    encoder = model.teacher_encoder if teacher else model.encoder
    return encoder(frames)


def has_teacher(model: MidwayNetwork) -> bool:
    """Whether the model carries a teacher encoder (a pretraining model; an export has none)."""
    return getattr(model, "has_teacher", False) and getattr(model, "teacher_encoder", None) is not None


@torch.no_grad()
def pair_from_levels(
    model: MidwayNetwork,
    source_levels: Sequence[Tensor],
    target_levels: Sequence[Tensor],
    block: int | None = None,
    *,
    target_levels_teacher: Sequence[Tensor] | None = None,
    grid: tuple[int, int] | None = None,
) -> PerturbationPair:
    """Run the top-down pass once on encoded features and keep what the predictor at ``block`` sees.

    Args:
        model: a ``MidwayNetwork`` in eval mode.
        source_levels: the student encoder's features of the source frame (each ``(1, N, D)``).
        target_levels: the student encoder's features of the target frame.
        block: the 1-based encoder block of a level with a forward predictor (paper notation: 3, 6, 9);
            ``None``: the highest one (:func:`~midway_plugin.analysis.level_choice.default_level`).
        target_levels_teacher: the teacher encoder's target features; when given (a model with a teacher),
            the dynamics run as in pretraining (``teacher=True``), else as in finetuning (``teacher=False``).
        grid: the ``(h, w)`` token grid; inferred as square when omitted.

    Returns:
        The fixed inputs of ``predict_level(level_index, v, m)`` and the encoder features at that level.
    """
    block = block_argument(model, block)
    index = feature_index(model, block)
    use_teacher = target_levels_teacher is not None
    encoder = model.encoder
    prefix = int(encoder.num_prefix_tokens)
    h, w = _grid_from_tokens(source_levels[index].shape[1] - prefix, grid)
    dyn = model.run_dynamics(
        list(source_levels),
        list(target_levels_teacher if target_levels_teacher is not None else target_levels),
        teacher=use_teacher,
        grid=(h, w),
    )
    if index not in dyn.motion:
        raise AnalysisError(
            f"the dynamics produced no motion latents for level {block} (index {index}); got blocks "
            f"{sorted(int(model.cfg.feature_levels[i]) for i in dyn.motion)}"
        )
    # Without backward layers the predictor reads the encoder's own feature z_t^l (Table 3, "No backward").
    inputs = dyn.backward.get(index) if dyn.backward else None
    if inputs is None:
        inputs = source_levels[index]
    return PerturbationPair(
        level_index=index,
        level_block=block,
        inputs=inputs.detach(),
        motion=dyn.motion[index].detach(),
        source_features=source_levels[index].detach(),
        target_features=target_levels[index].detach(),
        grid=(h, w),
        num_prefix_tokens=prefix,
        patch_size=int(encoder.patch_size),
    )


def _grid_from_tokens(num_spatial: int, grid: tuple[int, int] | None) -> tuple[int, int]:
    if grid is not None:
        if grid[0] * grid[1] != num_spatial:
            raise AnalysisError(f"grid {grid[0]}x{grid[1]} does not hold {num_spatial} spatial tokens")
        return int(grid[0]), int(grid[1])
    side = math.isqrt(num_spatial)
    if side * side != num_spatial:
        raise AnalysisError(f"cannot infer the token grid of {num_spatial} spatial tokens; pass grid=")
    return side, side


@torch.no_grad()
def prepare_pair(model: MidwayNetwork, source: Tensor, target: Tensor, block: int | None = None) -> PerturbationPair:
    """Encode a normalised frame pair (each ``(1, 3, H, W)``) and fix the predictor inputs at one level.

    Uses the teacher for the target side when the model has one (as in pretraining), else the student
    (an export loaded by ``build_from_export`` carries the teacher's weights in the student).

    Args:
        model: a ``MidwayNetwork`` in eval mode.
        source: the source frame; target: the target frame.
        block: the 1-based encoder block to perturb (paper notation: 3, 6, 9); ``None``: the highest level
            with a forward predictor.
    """
    block = block_argument(model, block)
    if source.shape != target.shape:
        raise AnalysisError(f"source and target frames differ in shape: {tuple(source.shape)} vs {tuple(target.shape)}")
    if source.ndim != 4 or source.shape[0] != 1:
        raise AnalysisError(f"prepare_pair takes one frame pair, (1, 3, H, W) each; got {tuple(source.shape)}")
    try:
        grid = model.encoder.grid_size(source)
    except ValueError as err:
        raise AnalysisError(str(err)) from None
    src = encode_frames(model, source)
    tgt = encode_frames(model, target)
    tgt_teacher = encode_frames(model, target, teacher=True) if has_teacher(model) else None
    return pair_from_levels(model, src, tgt, block, target_levels_teacher=tgt_teacher, grid=grid)


__all__ = ["PerturbationPair", "encode_frames", "has_teacher", "pair_from_levels", "prepare_pair"]
