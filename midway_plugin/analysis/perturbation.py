"""Forwarded-feature perturbation: which target tokens does a source token's feature flow to?

The forward predictor of a trained Midway Network maps the source-side features v_t^l and the motion latents
m^{l+1} to a prediction of the target frame's features. Holding m fixed, a random tangent r ~ N(0, I) attached
to one spatial source token is pushed through the predictor with forward-mode autodiff; the cosine similarity
between r and each predicted target token's output tangent says how much of "that" feature ended up there.
Averaged over K random tangents this gives a heatmap over target locations whose peak sits where the predictor
thinks the content under the source token moved to.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §4.4 "forwarded feature perturbation", Figures 6, 7 and 13
    (docs/paper.md §3.3; the predictor and its gating: §1.4, the top-down pass: §1.5).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jvp, vmap

from midway_plugin.analysis.defaults import DEFAULT_REPEATS

__all__ = [
    "AnalysisError",
    "DEFAULT_REPEATS",
    "PerturbationPair",
    "available_levels",
    "default_level",
    "encode_frames",
    "forward_ad_attention",
    "pair_from_levels",
    "perturbation_heatmaps",
    "prepare_pair",
    "resolve_level",
    "tangent_cosines",
]

class AnalysisError(ValueError):
    """A bad analysis input (level, point, frame); the message names the offending value."""


@dataclass(frozen=True)
class PerturbationPair:
    """Everything the analysis holds fixed for one (source, target) frame pair at one feature level.

    Attributes:
        level_index: index into ``cfg.feature_levels`` of the perturbed level (the predictor index).
        level_block: the 1-indexed ViT block of that level (``cfg.feature_levels[level_index]``).
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


def _config(model: torch.nn.Module):
    cfg = getattr(model, "cfg", None) or getattr(model, "config", None)
    if cfg is None:
        raise AttributeError(f"{type(model).__name__} exposes neither .cfg nor .config")
    return cfg


def available_levels(model: torch.nn.Module) -> dict[int, int]:
    """The levels that have a forward predictor (the objective levels), as ``{block: level index}``.

    Raises:
        AnalysisError: the model has no dynamics networks (``latent_dynamics=False``).
    """
    cfg = _config(model)
    if not cfg.latent_dynamics or getattr(model, "predictor", None) is None:
        raise AnalysisError(
            "this model has no forward predictor (latent_dynamics=False): there is nothing to perturb"
        )
    return {int(cfg.feature_levels[i]): int(i) for i in model.objective_indices}


def default_level(model: torch.nn.Module) -> int:
    """The default perturbed level (a block number): the highest level with a forward predictor.

    That is block 9 for the released ViT-S/B configs: the top objective level, whose predictor sees the
    most semantic features and the motion latents straight from the top of the midway path (Algorithm 1),
    so its heatmaps follow objects rather than textures.
    """
    return max(available_levels(model))


def resolve_level(model: torch.nn.Module, block: int | None) -> int:
    """Map a level given as a ViT block number (as in the paper: 3, 6, 9) to the predictor index.

    Args:
        model: a ``MidwayNetwork``.
        block: the 1-indexed block, or ``None`` for :func:`default_level`.

    Raises:
        AnalysisError: naming the block and the levels that have a predictor.
    """
    levels = available_levels(model)
    if block is None:
        block = max(levels)
    if block not in levels:
        raise AnalysisError(
            f"level {block} has no forward predictor; this model predicts levels {sorted(levels)} "
            f"(blocks of feature_levels={tuple(_config(model).feature_levels)})"
        )
    return levels[block]


@contextlib.contextmanager
def forward_ad_attention(model: torch.nn.Module) -> Iterator[None]:
    """Use attention kernels that have a forward-mode derivative while inside the block.

    PyTorch's fused CPU/flash ``scaled_dot_product_attention`` kernels raise ``NotImplementedError`` under
    :func:`torch.func.jvp`. The core's :func:`~midway_plugin.models.unfused_attention` switches every module
    with timm's ``fused_attn`` flag to explicit attention math; any remaining direct ``F.scaled_dot_product_attention``
    call is routed to the composite (math) kernel. Numerically it is the same attention.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from midway_plugin.models import unfused_attention

    with unfused_attention(model), sdpa_kernel(SDPBackend.MATH):
        yield


@torch.no_grad()
def encode_frames(model: torch.nn.Module, frames: Tensor, *, teacher: bool = False) -> list[Tensor]:
    """Encode normalised frames ``(T, 3, H, W)`` into the feature levels (list, low → high, ``(T, N, D)``)."""
    encoder = model.teacher_encoder if teacher else model.encoder
    return encoder(frames)


def _has_teacher(model: torch.nn.Module) -> bool:
    return getattr(model, "has_teacher", False) and getattr(model, "teacher_encoder", None) is not None


@torch.no_grad()
def pair_from_levels(
    model: torch.nn.Module,
    source_levels: Sequence[Tensor],
    target_levels: Sequence[Tensor],
    level_index: int,
    *,
    target_levels_teacher: Sequence[Tensor] | None = None,
    grid: tuple[int, int] | None = None,
) -> PerturbationPair:
    """Run the top-down pass once on encoded features and keep what the predictor at ``level_index`` sees.

    Args:
        model: a ``MidwayNetwork`` in eval mode.
        source_levels: the student encoder's features of the source frame (each ``(1, N, D)``).
        target_levels: the student encoder's features of the target frame.
        level_index: the predictor index (see :func:`resolve_level`).
        target_levels_teacher: the teacher encoder's target features; when given (a model with a teacher),
            the dynamics run as in pretraining (``teacher=True``), else as in finetuning (``teacher=False``).
        grid: the ``(h, w)`` token grid; inferred as square when omitted.

    Returns:
        The fixed inputs of ``predict_level(level_index, v, m)`` and the encoder features at that level.
    """
    cfg = _config(model)
    use_teacher = target_levels_teacher is not None
    encoder = model.encoder
    prefix = int(encoder.num_prefix_tokens)
    h, w = _grid_from_tokens(source_levels[level_index].shape[1] - prefix, grid)
    dyn = model.run_dynamics(
        list(source_levels),
        list(target_levels_teacher if use_teacher else target_levels),
        teacher=use_teacher,
        grid=(h, w),
    )
    if level_index not in dyn.motion:
        raise AnalysisError(
            f"the dynamics produced no motion latents for level index {level_index} "
            f"(block {cfg.feature_levels[level_index]}); got indices {sorted(dyn.motion)}"
        )
    # Without backward layers the predictor reads the encoder's own feature z_t^l (Table 3, "No backward").
    inputs = dyn.backward.get(level_index) if dyn.backward else None
    if inputs is None:
        inputs = source_levels[level_index]
    return PerturbationPair(
        level_index=level_index,
        level_block=int(cfg.feature_levels[level_index]),
        inputs=inputs.detach(),
        motion=dyn.motion[level_index].detach(),
        source_features=source_levels[level_index].detach(),
        target_features=target_levels[level_index].detach(),
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
def prepare_pair(model: torch.nn.Module, source: Tensor, target: Tensor, level_index: int) -> PerturbationPair:
    """Encode a normalised frame pair (each ``(1, 3, H, W)``) and fix the predictor inputs at one level.

    Uses the teacher for the target side when the model has one (as in pretraining), else the student
    (an export loaded by ``build_from_export`` carries the teacher's weights in the student).
    """
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
    tgt_teacher = encode_frames(model, target, teacher=True) if _has_teacher(model) else None
    return pair_from_levels(model, src, tgt, level_index, target_levels_teacher=tgt_teacher, grid=grid)


def _tangent_batch(
    pair: PerturbationPair, points: Tensor, tangents: Tensor
) -> Tensor:
    """``(B, N, D)`` tangents that are zero except row ``prefix + points[b]`` = ``tangents[b]``."""
    batch = tangents.shape[0]
    _, n, d = pair.inputs.shape
    out = tangents.new_zeros(batch, n, d)
    out[torch.arange(batch, device=out.device), pair.num_prefix_tokens + points] = tangents
    return out


def _output_tangents(
    fn: Callable[[Tensor], Tensor], v: Tensor, tangents: Tensor, method: str
) -> Tensor:
    """Push a batch of input tangents ``(B, N, D)`` through ``fn`` at the primal ``v`` ``(1, N, D)``.

    ``"vmap"`` vectorises :func:`torch.func.jvp` over the tangents (the primal runs once, unbatched);
    ``"expand"`` replicates ``v`` along the batch (the predictor is per-sample) and does one batched jvp.
    """
    if method == "vmap":
        def push(t: Tensor) -> Tensor:
            return jvp(fn, (v,), (t.unsqueeze(0),))[1].squeeze(0)

        return vmap(push)(tangents)
    if method == "expand":
        primal = v.expand(tangents.shape[0], -1, -1).contiguous()
        return jvp(fn, (primal,), (tangents,))[1]
    raise ValueError(f"unknown jvp method {method!r}; use 'vmap' or 'expand'")


def _cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine along the last dim that stays exact for tiny vectors (0 where either is exactly zero).

    Output tangents of tokens the perturbation barely reaches can be ~1e-30: their squared norms underflow in
    float32, so each vector is first divided by its largest entry (the cosine is scale-invariant).
    """
    def unit(x: Tensor) -> Tensor:
        peak = x.abs().amax(dim=-1, keepdim=True)
        x = x / torch.where(peak > 0, peak, torch.ones_like(peak))
        norm = x.norm(dim=-1, keepdim=True)
        return x / torch.where(norm > 0, norm, torch.ones_like(norm))

    return (unit(a) * unit(b)).sum(dim=-1)


def tangent_cosines(
    model: torch.nn.Module,
    pair: PerturbationPair,
    points: Sequence[int] | Tensor,
    tangents: Tensor,
    *,
    chunk_size: int = 256,
    method: str = "vmap",
    return_gains: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Cosine similarity between given tangents and every target token's output tangent.

    Args:
        model: a ``MidwayNetwork`` (eval mode; its forward predictors are read, not changed).
        pair: the fixed inputs (:func:`prepare_pair`).
        points: ``P`` spatial source-token indices (row-major in ``pair.grid``; the CLS token is not part of
            the grid, it stays in the sequence unperturbed).
        tangents: ``(P, K, D)`` input tangents, ``K`` per point.
        chunk_size: at most this many (point, repeat) tangents per jvp call, bounding memory.
        method: ``"vmap"`` or ``"expand"`` (see :func:`_output_tangents`); they agree to rounding.
        return_gains: also return ``||output tangent|| / ||r||`` per target token.

    Returns:
        ``(P, K, h*w)`` cosines (a target token whose output tangent is exactly zero gets 0), and with
        ``return_gains`` the ``(P, K, h*w)`` gains.
    """
    points_t = torch.as_tensor(points, dtype=torch.long, device=pair.inputs.device).reshape(-1)
    if tangents.dim() != 3 or tangents.shape[0] != points_t.numel() or tangents.shape[2] != pair.inputs.shape[2]:
        raise ValueError(
            f"tangents must be (P={points_t.numel()}, K, D={pair.inputs.shape[2]}), got {tuple(tangents.shape)}"
        )
    if points_t.numel() and (points_t.min() < 0 or points_t.max() >= pair.num_spatial):
        raise AnalysisError(f"source token index out of range [0, {pair.num_spatial}): {points_t.tolist()}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    num_points, repeats, dim = tangents.shape
    flat_points = points_t.repeat_interleave(repeats)
    flat_tangents = tangents.reshape(-1, dim).to(pair.inputs)
    motion = pair.motion
    prefix = pair.num_prefix_tokens

    def predict(v: Tensor) -> Tensor:
        return model.predict_level(pair.level_index, v, motion.expand(v.shape[0], -1, -1))

    cosines, gains = [], []
    with forward_ad_attention(model), torch.no_grad():
        for start in range(0, flat_points.numel(), chunk_size):
            pts = flat_points[start:start + chunk_size]
            r = flat_tangents[start:start + chunk_size]
            dz = _output_tangents(predict, pair.inputs, _tangent_batch(pair, pts, r), method)
            spatial = dz[:, prefix:, :]
            cosines.append(_cosine(spatial, r.unsqueeze(1)))
            if return_gains:
                gains.append(spatial.norm(dim=-1) / r.norm(dim=-1, keepdim=True))
    cos = torch.cat(cosines).reshape(num_points, repeats, -1)
    if return_gains:
        return cos, torch.cat(gains).reshape(num_points, repeats, -1)
    return cos


def perturbation_heatmaps(
    model: torch.nn.Module,
    pair: PerturbationPair,
    points: Sequence[int] | Tensor,
    *,
    repeats: int = DEFAULT_REPEATS,
    generator: torch.Generator | None = None,
    chunk_size: int = 256,
    method: str = "vmap",
    return_gains: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Forwarded-feature perturbation heatmaps for several source tokens, batched over points and repeats.

    Args:
        model: a ``MidwayNetwork`` in eval mode.
        pair: the fixed inputs at one level (:func:`prepare_pair`).
        points: ``P`` spatial source-token indices (row-major).
        repeats: ``K`` random tangents r ~ N(0, I) per point, averaged.
        generator: the random source of the tangents (seed it for reproducible pictures).
        chunk_size: tangents per jvp call.
        method: ``"vmap"`` or ``"expand"``.
        return_gains: also return the mean gain ``||output tangent|| / ||r||`` per target token. The cosine
            is blind to magnitude: a token the perturbation barely reaches can still show a sizeable cosine,
            the gain tells the two apart.

    Returns:
        ``(P, h, w)`` mean cosine similarity between r and each target token's output tangent (and the
        ``(P, h, w)`` mean gains with ``return_gains``).

    Reference:
        Hoang & Ren, ICLR 2026, §4.4 (docs/paper.md §3.3 steps 1–5).
    """
    if repeats < 1:
        raise AnalysisError(f"repeats must be >= 1, got {repeats}")
    num_points = points.numel() if isinstance(points, Tensor) else len(points)
    dim = pair.inputs.shape[-1]
    tangents = torch.randn(num_points, repeats, dim, generator=generator, dtype=torch.float64)
    tangents = tangents.to(device=pair.inputs.device, dtype=pair.inputs.dtype)
    result = tangent_cosines(
        model, pair, points, tangents, chunk_size=chunk_size, method=method, return_gains=return_gains
    )
    if return_gains:
        cos, gain = result
        return cos.mean(dim=1).reshape(num_points, *pair.grid), gain.mean(dim=1).reshape(num_points, *pair.grid)
    return result.mean(dim=1).reshape(num_points, *pair.grid)
