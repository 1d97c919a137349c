"""Forwarded-feature perturbation heatmaps: which target tokens does a source token's feature flow to?

Holding the frame pair's motion latents fixed (:mod:`~midway_plugin.analysis.pair`), K random tangents
r ~ N(0, I) attached to one spatial source token are pushed through the forward predictor
(:mod:`~midway_plugin.analysis.tangents`); the mean cosine between r and each predicted target token's output
tangent is a heatmap over target locations whose peak sits where the predictor thinks the content under the
source token moved to.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §4.4 "forwarded feature perturbation", Figures 6, 7 and 13
    (docs/paper.md §3.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor

from midway_plugin.analysis.defaults import DEFAULT_REPEATS
from midway_plugin.analysis.errors import AnalysisError
from midway_plugin.analysis.pair import PerturbationPair
from midway_plugin.analysis.tangents import tangent_cosines
from midway_plugin.models.midway import MidwayNetwork


def perturbation_heatmaps(
    model: MidwayNetwork,
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
        cos, gain = cast(tuple[Tensor, Tensor], result)  # tangent_cosines returns a pair with return_gains
        return cos.mean(dim=1).reshape(num_points, *pair.grid), gain.mean(dim=1).reshape(num_points, *pair.grid)
    assert isinstance(result, Tensor)
    return result.mean(dim=1).reshape(num_points, *pair.grid)


__all__ = ["perturbation_heatmaps"]
