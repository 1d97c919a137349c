"""Zero-shot readouts that can detect a difference: local-window matching, the dynamics' headroom, heatmap controls.

Pure computations (numpy + torch, no framework, nothing of the package) of the zero-shot stage
(:mod:`~midway_plugin.evaluation.zeroshot`), on one ``(h, w)`` token grid of ``patch``-pixel tokens. Displacements are
``(x, y)`` in pixels; a token offset ``(dx, dy)`` in tokens is ``patch`` times fewer pixels. Tokens are row-major.

* **Moving tokens** (:func:`moving_tokens`): valid tokens whose ground-truth displacement is at least
  ``min_tokens`` tokens long (Euclidean, default 1). Static tokens reward "predict no motion"; every readout below
  is scored on moving tokens only.
* **Local-window matching** (:func:`local_window_match`): each source token's match is the target token of
  highest cosine similarity within ``±k`` tokens in x and in y (clipped at the border). Its control is the
  **window oracle** (:func:`window_oracle`): the window token closest to the ground truth, the best any match in
  that window can do.
* **Headroom share** (:func:`headroom_share`): ``(copy − predictor) / (copy − warp)`` of three losses on the same
  targets: copying the source features, the forward predictor, and the source features moved by the ground-truth
  flow (:func:`warp_tokens`). 1: the predictor gains all that knowing the true motion gains over copying; 0: no
  more than copying. Its motion-use counterpart puts the predictor's loss with the target frame replaced by the
  source in place of the predictor's; the gap between the two is the part of the gain that uses the target frame.
* **Off-source heatmap readouts** (:func:`offsource_mask`, :func:`heatmap_direction`, :func:`offsource_peak_error`):
  a perturbation heatmap's peak stays on the source token (the gated residual path), so these look only at
  *off-source* target tokens: those more than ``radius`` tokens (Chebyshev distance, default 1: the source token
  and its 8 neighbours are excluded) from the source token. Direction: the cosine between the true motion and
  the offset of the heatmap's centroid over the off-source tokens (weights: the heatmap clipped at 0). Peak
  error: the end-point error of the off-source argmax. Both are scored on moving tokens whose true destination
  token is itself off-source. Control: the same metric for a **uniform** heatmap on the same tokens
  (:func:`uniform_peak_error` for the peak: the mean error over the off-source tokens, the expected error of a
  peak drawn at random). The uniform direction is not 0: the border clips the off-source region, so the
  uniform centroid points into the frame, and that geometry alone can correlate with the motion of the scored
  tokens. Only the difference from the control says that a heatmap measures motion.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _grid_offsets(grid: tuple[int, int]) -> np.ndarray:
    """``(N, N, 2)`` token offset ``(dx, dy)`` from source token i to target token j."""
    h, w = grid
    rows, cols = np.divmod(np.arange(h * w), w)
    return np.stack([cols[None, :] - cols[:, None], rows[None, :] - rows[:, None]], axis=-1)


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"window half-size k must be an integer >= 1 (tokens), got {k!r}")


def moving_tokens(token_flow: np.ndarray, token_valid: np.ndarray, patch: int, min_tokens: float = 1.0) -> np.ndarray:
    """``(h, w)`` bool: valid tokens whose ground-truth displacement ``(h, w, 2)`` px is ≥ ``min_tokens`` tokens."""
    if min_tokens <= 0:
        raise ValueError(f"min_tokens must be > 0, got {min_tokens}")
    return np.asarray(token_valid & (np.linalg.norm(token_flow, axis=-1) >= min_tokens * patch))


def window_mask(grid: tuple[int, int], k: int) -> np.ndarray:
    """``(N, N)`` bool: target token j lies within ``±k`` tokens of source token i in x and in y."""
    _check_k(k)
    return np.asarray(np.abs(_grid_offsets(grid)).max(axis=-1) <= k)


def local_window_match(source: torch.Tensor, target: torch.Tensor, grid: tuple[int, int], k: int) -> np.ndarray:
    """The most cosine-similar target token within ``±k`` tokens of each source token.

    Args:
        source: ``(N, D)`` spatial source-token features (no CLS), row-major on ``grid``.
        target: ``(N, D)`` target-token features.
        grid: ``(h, w)``.
        k: window half-size in tokens (≥ 1).

    Returns:
        ``(h, w, 2)`` matched offset ``(dx, dy)`` in tokens.
    """
    mask = window_mask(grid, k)
    n = grid[0] * grid[1]
    if source.shape[0] != n or target.shape != source.shape:
        raise ValueError(
            f"features of {n} tokens expected on grid {grid}, got {tuple(source.shape)} and {tuple(target.shape)}"
        )
    sims = F.normalize(source.float(), dim=-1) @ F.normalize(target.float(), dim=-1).T
    sims = sims.masked_fill(~torch.from_numpy(mask), -math.inf)
    match = sims.argmax(dim=1).numpy()
    return np.asarray(_grid_offsets(grid)[np.arange(n), match].reshape(*grid, 2).astype(np.float64))


def window_oracle(token_flow: np.ndarray, patch: int, k: int) -> np.ndarray:
    """``(h, w, 2)`` px: the window token (``±k``, inside the grid) whose offset is closest to the ground truth."""
    grid = token_flow.shape[:2]
    offsets = _grid_offsets(grid) * patch  # (N, N, 2) px
    err = np.linalg.norm(offsets - token_flow.reshape(-1, 1, 2), axis=-1)
    err[~window_mask(grid, k)] = np.inf
    n = grid[0] * grid[1]
    return np.asarray(offsets[np.arange(n), err.argmin(axis=1)].reshape(*grid, 2).astype(np.float64))


def endpoint_errors(prediction: np.ndarray, token_flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """End-point errors (px) of displacements ``(h, w, 2)`` against the ground truth, on the masked tokens."""
    return np.asarray(np.linalg.norm(prediction - token_flow, axis=-1)[mask])


def mean_or_nan(values: list[np.ndarray], what: str) -> dict[str, Any]:
    """``{"value", "tokens", "reason"}``: the mean of finite values; NaN and the reason when there are none."""
    flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values]) if values else np.zeros(0)
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return {"value": float("nan"), "tokens": 0, "reason": f"no {what}"}
    return {"value": float(flat.mean()), "tokens": int(flat.size), "reason": None}


def headroom_share(copy: float, predictor: float, warp: float) -> tuple[float, str | None]:
    """``(copy − predictor) / (copy − warp)`` and None; NaN and the reason when the warp does not beat the copy.

    Args:
        copy: the loss of copying the source features.
        predictor: the loss of the prediction being scored.
        warp: the loss of the source features moved by the ground-truth flow.
    """
    values = (copy, predictor, warp)
    if not all(math.isfinite(v) for v in values):
        return float("nan"), f"a loss is not finite (copy {copy}, predictor {predictor}, warp {warp})"
    if copy - warp <= 1e-12:
        return float("nan"), (
            f"no headroom: the ground-truth warp ({warp:.6g}) does not beat copying the source ({copy:.6g})"
        )
    return (copy - predictor) / (copy - warp), None


def warp_tokens(features: torch.Tensor, token_flow: np.ndarray, token_valid: np.ndarray, patch: int) -> torch.Tensor:
    """Source-token features moved by the ground-truth flow averaged per token (bilinear forward splatting).

    Each valid source token's feature is spread over the four target tokens around its destination
    ``position + flow / patch`` with bilinear weights; a target token receives the weighted mean of what lands on
    it (an occluder and the occluded content are averaged), and keeps its own source feature (the copy) when
    nothing lands on it (disocclusions, content entering the frame). An integer-token shift moves features exactly.

    Args:
        features: ``(N, D)`` spatial source-token features (no CLS), row-major.
        token_flow: ``(h, w, 2)`` px mean ground-truth displacement per token.
        token_valid: ``(h, w)`` bool; invalid tokens are not moved.
        patch: pixels per token.

    Returns:
        ``(N, D)`` warped features.
    """
    h, w = token_flow.shape[:2]
    if features.shape[0] != h * w:
        raise ValueError(f"features of {h * w} tokens expected, got {tuple(features.shape)}")
    rows, cols = np.divmod(np.arange(h * w), w)
    x = cols + token_flow[..., 0].ravel() / patch
    y = rows + token_flow[..., 1].ravel() / patch
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    valid = token_valid.ravel()
    src, dst, weight = [], [], []
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        tx, ty = x0 + dx, y0 + dy
        keep = valid & (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h) & (wgt > 1e-9)
        src.append(np.nonzero(keep)[0])
        dst.append((ty * w + tx)[keep])
        weight.append(wgt[keep])
    src_i, dst_i = torch.from_numpy(np.concatenate(src)), torch.from_numpy(np.concatenate(dst))
    wts = torch.from_numpy(np.concatenate(weight)).to(features.dtype)
    total = torch.zeros(h * w, dtype=features.dtype).index_add_(0, dst_i, wts)
    moved = torch.zeros_like(features).index_add_(0, dst_i, features[src_i] * wts[:, None])
    reached = total > 1e-6
    return torch.where(reached[:, None], moved / total.clamp_min(1e-6)[:, None], features)


def offsource_mask(grid: tuple[int, int], radius: int = 1) -> np.ndarray:
    """``(N, N)`` bool: target token j is *off-source* for source token i (Chebyshev distance > ``radius``)."""
    if radius < 0:
        raise ValueError(f"the off-source radius must be >= 0 tokens, got {radius}")
    return np.asarray(np.abs(_grid_offsets(grid)).max(axis=-1) > radius)


def offsource_destinations(token_flow: np.ndarray, patch: int, radius: int = 1) -> np.ndarray:
    """``(h, w)`` bool: the token nearest to the true destination is off-source (so the readouts can find it)."""
    return np.asarray(np.abs(np.round(token_flow / patch)).max(axis=-1) > radius)


def heatmap_direction(heat: np.ndarray, token_flow: np.ndarray, radius: int = 1) -> np.ndarray:
    """Per source token: cosine between the true motion and the offset of the heatmap's off-source centroid.

    Args:
        heat: ``(N, N)`` heatmap of each source token over the target tokens (e.g. a perturbation heatmap, or
            ones for the uniform control); weights are ``max(heat, 0)``.
        token_flow: ``(h, w, 2)`` px ground-truth displacement.
        radius: off-source radius (:func:`offsource_mask`).

    Returns:
        ``(N,)`` cosines; NaN where the off-source weights sum to 0 or the motion or the centroid offset is 0.
    """
    grid = token_flow.shape[:2]
    offsets = _grid_offsets(grid).astype(np.float64)
    weights = np.where(offsource_mask(grid, radius), np.clip(heat, 0, None), 0.0)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = (weights[..., None] * offsets).sum(axis=1) / total[:, None]
        motion = token_flow.reshape(-1, 2)
        norms = np.linalg.norm(centroid, axis=-1) * np.linalg.norm(motion, axis=-1)
        cos = (centroid * motion).sum(axis=-1) / norms
    cos[(total <= 0) | ~(norms > 0)] = np.nan
    return np.asarray(cos)


def offsource_peak_error(heat: np.ndarray, token_flow: np.ndarray, patch: int, radius: int = 1) -> np.ndarray:
    """``(N,)`` px: end-point error of each heatmap's argmax over the off-source target tokens."""
    grid = token_flow.shape[:2]
    scores = np.where(offsource_mask(grid, radius), heat, -np.inf)
    n = grid[0] * grid[1]
    peak = _grid_offsets(grid)[np.arange(n), scores.argmax(axis=1)] * patch
    err = np.linalg.norm(peak - token_flow.reshape(-1, 2), axis=-1)
    err[~np.isfinite(scores).any(axis=1)] = np.nan  # no off-source token on a tiny grid
    return np.asarray(err)


def uniform_peak_error(token_flow: np.ndarray, patch: int, radius: int = 1) -> np.ndarray:
    """``(N,)`` px: the uniform heatmap's peak error, the mean over the off-source tokens (a random peak's)."""
    grid = token_flow.shape[:2]
    off = offsource_mask(grid, radius)
    err = np.linalg.norm(_grid_offsets(grid) * patch - token_flow.reshape(-1, 1, 2), axis=-1)
    count = off.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(off, err, 0.0).sum(axis=1) / count
    mean[count == 0] = np.nan
    return np.asarray(mean)


__all__ = [
    "endpoint_errors",
    "headroom_share",
    "heatmap_direction",
    "local_window_match",
    "mean_or_nan",
    "moving_tokens",
    "offsource_destinations",
    "offsource_mask",
    "offsource_peak_error",
    "uniform_peak_error",
    "warp_tokens",
    "window_mask",
    "window_oracle",
]
