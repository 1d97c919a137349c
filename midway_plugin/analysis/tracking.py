"""High-level point tracking through a clip with forwarded-feature perturbation, and its baseline.

Perturbation tracking: at each consecutive frame pair, the heatmap of the current source token ranks the
target tokens; of its top-5 the one whose encoder feature is most similar to the current token's feature is
the next position. Baseline: the argmax of plain feature cosine similarity over the whole next frame (the paper
compares against DINO features and shows drift, Figures 7 and 13).

Reference:
    Hoang & Ren, ICLR 2026, §4.4 "high-level tracking" (docs/paper.md §3.3).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from midway_plugin.analysis.defaults import DEFAULT_REPEATS, TOP_K
from midway_plugin.analysis.errors import AnalysisError
from midway_plugin.analysis.level_choice import block_argument, feature_index
from midway_plugin.analysis.pair import encode_frames, has_teacher, pair_from_levels
from midway_plugin.analysis.perturbation import perturbation_heatmaps
from midway_plugin.models.midway import MidwayNetwork

__all__ = ["TOP_K", "Track", "track_feature_similarity", "track_perturbation", "write_tracks"]


@dataclass
class Track:
    """A track of one point through ``T`` frames.

    Attributes:
        method: ``"perturbation"`` or ``"feature-similarity"``.
        tokens: ``(row, col)`` per frame (frame 0 = the start token).
        frame_indices: index of each frame in its video (or 0..T-1).
        patch_size: pixels per token side (to turn tokens into pixel centres).
        scores: per step after the first, the feature cosine similarity of the chosen token (NaN for frame 0).
        heat: per step after the first, the heatmap value at the chosen token (perturbation only; NaN otherwise).
    """

    method: str
    tokens: list[tuple[int, int]]
    frame_indices: list[int]
    patch_size: int
    scores: list[float] = field(default_factory=list)
    heat: list[float] = field(default_factory=list)

    @property
    def points(self) -> list[tuple[float, float]]:
        """Pixel ``(x, y)`` of each token centre."""
        p = self.patch_size
        return [((c + 0.5) * p, (r + 0.5) * p) for r, c in self.tokens]

    def rows(self) -> list[dict]:
        """One dict per frame (for CSV/JSON)."""
        out = []
        for k, ((r, c), (x, y)) in enumerate(zip(self.tokens, self.points, strict=True)):
            out.append(
                {
                    "method": self.method,
                    "step": k,
                    "frame_index": self.frame_indices[k],
                    "x": x,
                    "y": y,
                    "row": r,
                    "col": c,
                    "feature_similarity": self.scores[k] if k < len(self.scores) else float("nan"),
                    "heat": self.heat[k] if k < len(self.heat) else float("nan"),
                }
            )
        return out


def _spatial(levels: list[Tensor], index: int, prefix: int) -> Tensor:
    """``(T, h*w, D)`` L2-normalised spatial tokens of one level (CLS dropped)."""
    return torch.nn.functional.normalize(levels[index][:, prefix:, :], dim=-1)


def _start_index(start: tuple[int, int], grid: tuple[int, int]) -> int:
    r, c = start
    if not (0 <= r < grid[0] and 0 <= c < grid[1]):
        raise AnalysisError(f"start token (row {r}, col {c}) outside the {grid[0]}x{grid[1]} grid")
    return r * grid[1] + c


@torch.no_grad()
def track_feature_similarity(
    model: MidwayNetwork,
    frames: Tensor,
    start: tuple[int, int],
    block: int | None = None,
    *,
    frame_indices: list[int] | None = None,
) -> Track:
    """Baseline: follow the current token to the most feature-similar token of the next frame.

    Args:
        model: a ``MidwayNetwork`` (only its encoder is used).
        frames: ``(T, 3, H, W)`` normalised frames.
        start: ``(row, col)`` start token in frame 0.
        block: the 1-based encoder block whose features to compare (any feature level; use the perturbation
            tracker's). ``None``: the highest level with a forward predictor, else the top feature level.
        frame_indices: video frame numbers for the output (default 0..T-1).
    """
    block = block_argument(model, block, predicted=False)
    enc = model.encoder
    patch, prefix = int(enc.patch_size), int(enc.num_prefix_tokens)
    grid = (frames.shape[-2] // patch, frames.shape[-1] // patch)
    feats = _spatial(encode_frames(model, frames), feature_index(model, block), prefix)
    cur = _start_index(start, grid)
    tokens, scores = [divmod(cur, grid[1])], [float("nan")]
    for t in range(frames.shape[0] - 1):
        sims = feats[t + 1] @ feats[t, cur]
        cur = int(sims.argmax())
        tokens.append(divmod(cur, grid[1]))
        scores.append(float(sims[cur]))
    return Track(
        method="feature-similarity",
        tokens=tokens,
        frame_indices=frame_indices or list(range(frames.shape[0])),
        patch_size=patch,
        scores=scores,
        heat=[float("nan")] * len(tokens),
    )


@torch.no_grad()
def track_perturbation(
    model: MidwayNetwork,
    frames: Tensor,
    start: tuple[int, int],
    block: int | None = None,
    *,
    repeats: int = DEFAULT_REPEATS,
    top_k: int = TOP_K,
    generator: torch.Generator | None = None,
    frame_indices: list[int] | None = None,
    method: str = "vmap",
) -> Track:
    """Track a token with forwarded-feature perturbation heatmaps, frame pair by frame pair.

    At step t the motion latents of the pair (t, t+1) are computed and held fixed, the current token is
    perturbed (``repeats`` tangents), the ``top_k`` target tokens of its heatmap are kept, and the one whose
    encoder feature (at the perturbed level) is most cosine-similar to the current token's feature in frame t
    becomes the position in frame t+1.

    Args:
        model: a ``MidwayNetwork`` in eval mode.
        frames: ``(T, 3, H, W)`` normalised frames, ``T >= 2``.
        start: ``(row, col)`` start token in frame 0.
        block: the 1-based encoder block to perturb (paper notation: 3, 6, 9); ``None``: the highest level with
            a forward predictor.
        repeats: random tangents per heatmap.
        top_k: heatmap candidates per step.
        generator: random source of the tangents.
        frame_indices: video frame numbers for the output (default 0..T-1).
        method: jvp vectorisation (``"vmap"`` or ``"expand"``).

    Reference:
        Hoang & Ren, ICLR 2026, §4.4 (docs/paper.md §3.3, "High-level tracking").
    """
    block = block_argument(model, block)
    enc = model.encoder
    patch, prefix = int(enc.patch_size), int(enc.num_prefix_tokens)
    grid = (frames.shape[-2] // patch, frames.shape[-1] // patch)
    levels = encode_frames(model, frames)
    teacher_levels = encode_frames(model, frames, teacher=True) if has_teacher(model) else None
    feats = _spatial(levels, feature_index(model, block), prefix)
    cur = _start_index(start, grid)
    tokens, scores, heat_values = [divmod(cur, grid[1])], [float("nan")], [float("nan")]
    k = min(top_k, grid[0] * grid[1])
    for t in range(frames.shape[0] - 1):
        src = [lv[t : t + 1] for lv in levels]
        tgt = [lv[t + 1 : t + 2] for lv in levels]
        tgt_teacher = [lv[t + 1 : t + 2] for lv in teacher_levels] if teacher_levels is not None else None
        pair = pair_from_levels(model, src, tgt, block, target_levels_teacher=tgt_teacher, grid=grid)
        heat = perturbation_heatmaps(model, pair, [cur], repeats=repeats, generator=generator, method=method)
        assert isinstance(heat, Tensor)  # return_gains=False: the maps alone
        heat = heat.reshape(-1)
        candidates = heat.topk(k).indices
        sims = feats[t + 1, candidates] @ feats[t, cur]
        best = int(sims.argmax())
        cur = int(candidates[best])
        tokens.append(divmod(cur, grid[1]))
        scores.append(float(sims[best]))
        heat_values.append(float(heat[cur]))
    return Track(
        method="perturbation",
        tokens=tokens,
        frame_indices=frame_indices or list(range(frames.shape[0])),
        patch_size=patch,
        scores=scores,
        heat=heat_values,
    )


def write_tracks(tracks: list[Track], out_dir: Path, *, metadata: dict | None = None) -> tuple[Path, Path]:
    """Write ``track.csv`` (one row per method and frame) and ``track.json``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "track.csv", out_dir / "track.json"
    rows = [row for tr in tracks for row in tr.rows()]
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    payload = {
        **(metadata or {}),
        "tracks": [
            {
                "method": tr.method,
                "patch_size": tr.patch_size,
                "frame_indices": tr.frame_indices,
                "points": [list(p) for p in tr.points],
                "tokens": [list(t) for t in tr.tokens],
                "feature_similarity": [_json_float(s) for s in tr.scores],
                "heat": [_json_float(h) for h in tr.heat],
            }
            for tr in tracks
        ],
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    return csv_path, json_path


def _json_float(x: float) -> float | None:
    return None if x != x else float(x)  # NaN → null (strict JSON)
