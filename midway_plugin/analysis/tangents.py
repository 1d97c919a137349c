"""Output tangents of the forward predictor: push input tangents through ``predict_level`` with forward-mode AD.

A tangent attached to one spatial source token is pushed through the predictor at the fixed pair
(:class:`~midway_plugin.analysis.pair.PerturbationPair`) with :func:`torch.func.jvp`; the cosine between it and
each predicted target token's output tangent says how much of that feature ended up there (paper §4.4,
docs/paper.md §3.3). The core's :func:`~midway_plugin.models.unfused_attention` runs the attention as explicit
math while inside: the fused ``scaled_dot_product_attention`` kernels have no forward-mode derivative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.func import jvp, vmap

from midway_plugin.analysis.errors import AnalysisError
from midway_plugin.analysis.pair import PerturbationPair
from midway_plugin.models import unfused_attention
from midway_plugin.models.midway import MidwayNetwork


def _tangent_batch(pair: PerturbationPair, points: Tensor, tangents: Tensor) -> Tensor:
    """``(B, N, D)`` tangents that are zero except row ``prefix + points[b]`` = ``tangents[b]``."""
    batch = tangents.shape[0]
    _, n, d = pair.inputs.shape
    out = tangents.new_zeros(batch, n, d)
    out[torch.arange(batch, device=out.device), pair.num_prefix_tokens + points] = tangents
    return out


def _output_tangents(fn: Callable[[Tensor], Tensor], v: Tensor, tangents: Tensor, method: str) -> Tensor:
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
    model: MidwayNetwork,
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
    with unfused_attention(model), torch.no_grad():
        for start in range(0, flat_points.numel(), chunk_size):
            pts = flat_points[start : start + chunk_size]
            r = flat_tangents[start : start + chunk_size]
            dz = _output_tangents(predict, pair.inputs, _tangent_batch(pair, pts, r), method)
            spatial = dz[:, prefix:, :]
            cosines.append(_cosine(spatial, r.unsqueeze(1)))
            if return_gains:
                gains.append(spatial.norm(dim=-1) / r.norm(dim=-1, keepdim=True))
    cos = torch.cat(cosines).reshape(num_points, repeats, -1)
    if return_gains:
        return cos, torch.cat(gains).reshape(num_points, repeats, -1)
    return cos


__all__ = ["tangent_cosines"]
