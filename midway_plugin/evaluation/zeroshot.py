"""Zero-shot correspondence on held-out frame pairs with ground-truth flow: no training, token-level EPE.

Protocol (one number per method, the mean over every evaluated token of every pair):

* Pairs: frames ``(t, t + gap)`` of the held-out videos, ``pairs_per_video`` source frames spread evenly.
* Ground truth: the forward flows ``t → t+G → … → t+gap`` (``.flo`` files of ``midway make-video``, each
  spanning its ``frame_gap`` G, 1 by default; ``gap`` must be a multiple of G) composed
  per pixel (bilinear lookup of each next flow at the moved position). A pixel that leaves the frame is
  invalid; composition through an occlusion follows the occluder (the flow files describe visible surfaces).
* Token displacement: for the ``h x w`` grid of ``patch``-pixel tokens at the video's own resolution, the mean
  composed displacement over the token's valid pixels (tokens with under half of their pixels valid are skipped).
* A token method predicts ``centre(matched target token) − centre(source token)``; its end-point error is the
  Euclidean distance to the token's ground-truth displacement, in pixels. A dense method (Farneback) is averaged
  over the token's pixels like the ground truth.

Methods: ``zero`` (no motion: the floor any method should beat), ``token-oracle`` (the ground truth rounded to
the nearest token offset: the best a token-matching method can do), ``farneback`` (OpenCV, classical),
``feature`` (argmax cosine similarity of the encoder's features at the perturbed level: plain matching),
``perturbation-peak`` (the forwarded-feature perturbation heatmap's argmax, paper §4.4) and ``perturbation-track``
(the top-``top_k`` heatmap candidates re-ranked by feature similarity, the rule of ``midway analyze track``).

Run as ``python -m midway_plugin.evaluation.zeroshot`` (``midway bench quality`` does, one process per model).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from midway_plugin.analysis import encode_frames, pair_from_levels, perturbation_heatmaps
from midway_plugin.analysis.frames import normalize_frames, read_video
from midway_plugin.data.synthetic.flo_io import read_flo
from midway_plugin.data.synthetic.index import frame_gap
from midway_plugin.evaluation import readouts as r
from midway_plugin.evaluation.readouts import headroom_share, mean_or_nan, offsource_mask, warp_tokens, window_mask
from midway_plugin.models import MidwayNetwork, build_from_export, forward_prediction_loss
from midway_plugin.models.health import dynamics_health
from midway_plugin.models.midway import MidwayOutput

REFERENCE_METHODS = ("zero", "token-oracle", "farneback")
MODEL_METHODS = ("feature", "perturbation-peak", "perturbation-track")


@dataclass
class Pair:
    """One evaluated frame pair: frames ``(2, H, W, 3)`` uint8, token ground truth and its validity."""

    video: str
    source_index: int
    frames: np.ndarray
    token_flow: np.ndarray  # (h, w, 2) mean ground-truth displacement per token, pixels (x, y)
    token_valid: np.ndarray  # (h, w) bool
    pixel_flow: np.ndarray  # (H, W, 2) composed flow
    pixel_valid: np.ndarray  # (H, W) bool


def _bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``field (H, W, C)`` sampled at real coordinates (clamped to the frame)."""
    h, w = field.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    top = field[y0, x0] * (1 - ax) + field[y0, x1] * ax
    bottom = field[y1, x0] * (1 - ax) + field[y1, x1] * ax
    sampled: np.ndarray = top * (1 - ay) + bottom * ay
    return sampled


def compose_flow(flows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Chains consecutive forward flows ``(H, W, 2)``; returns the total displacement and a validity mask."""
    h, w = flows[0].shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xs.copy(), ys.copy()
    valid = np.ones((h, w), dtype=bool)
    for flow in flows:
        step = _bilinear(flow.astype(np.float64), x, y)
        x, y = x + step[..., 0], y + step[..., 1]
        valid &= (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return np.stack([x - xs, y - ys], axis=-1), valid


def token_average(flow: np.ndarray, valid: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``flow (H, W, 2)`` over each token's valid pixels; a token needs half of its pixels valid."""
    h, w = flow.shape[0] // patch, flow.shape[1] // patch
    f = flow[: h * patch, : w * patch].reshape(h, patch, w, patch, 2)
    v = valid[: h * patch, : w * patch].reshape(h, patch, w, patch, 1).astype(np.float64)
    count = v.sum(axis=(1, 3))
    mean = (f * v).sum(axis=(1, 3)) / np.maximum(count, 1)
    return mean, count[..., 0] >= patch * patch / 2


def load_pairs(data_root: Path, videos: list[str], gap: int, pairs_per_video: int, patch: int) -> list[Pair]:
    """The evaluated pairs of the named videos of a ``midway make-video`` dataset (see the module docstring).

    Raises:
        ValueError: an unknown video name, missing flow files, too short videos or a size not divisible by the patch.
    """

    index_path = data_root / "dataset.json"
    index = json.loads(index_path.read_text())
    entries = {e["name"]: e for e in index["videos"]}
    step = frame_gap(index)  # each .flo file spans `step` frames (make-video --frame-gap)
    if gap % step:
        raise ValueError(
            f"{index_path}: its flow files span {step} frames (--frame-gap); pairs {gap} frames apart "
            f"need a multiple of {step}"
        )
    pairs = []
    for name in videos:
        if name not in entries:
            raise ValueError(f"{index_path}: no video named {name!r}")
        entry = entries[name]
        flow_dir = data_root / entry["flow_dir"]
        count = len(sorted(flow_dir.glob("*.flo"))) + step
        if count - gap < 1:
            raise ValueError(f"{flow_dir}: {count} frames are too few for pairs {gap} frames apart")
        starts = np.unique(np.linspace(0, count - 1 - gap, pairs_per_video).round().astype(int))
        for t in starts.tolist():
            frames, _ = read_video(data_root / entry["video"], t, gap, 2)
            if frames.shape[1] % patch or frames.shape[2] % patch:
                raise ValueError(
                    f"{entry['video']}: frame size {frames.shape[1]}x{frames.shape[2]} is not a "
                    f"multiple of the patch size {patch}"
                )
            flows = [read_flo(flow_dir / f"{k:06d}.flo") for k in range(t, t + gap, step)]
            flow, valid = compose_flow(flows)
            token_flow, token_valid = token_average(flow, valid, patch)
            pairs.append(Pair(name, t, frames, token_flow, token_valid, flow, valid))
    return pairs


def _token_offsets(matches: np.ndarray, grid: tuple[int, int], patch: int) -> np.ndarray:
    """``matches (h*w,)`` target token per source token → displacement ``(h, w, 2)`` in pixels."""
    h, w = grid
    rows, cols = np.divmod(np.arange(h * w), w)
    mrows, mcols = np.divmod(matches, w)
    return (np.stack([mcols - cols, mrows - rows], axis=-1) * patch).reshape(h, w, 2).astype(np.float64)


def _farneback(frames: np.ndarray) -> np.ndarray:
    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    # OpenCV's documented example parameters (pyramid 0.5, 3 levels, window 15, 3 iterations, poly 5 / 1.2).
    # OpenCV's stubs do not admit its documented flow=None (allocate the output).
    flow: np.ndarray = cv2.calcOpticalFlowFarneback(gray[0], gray[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
    return flow


def reference_predictions(pair: Pair, patch: int) -> dict[str, np.ndarray]:
    """Token displacements of the model-free methods for one pair."""
    dense = _farneback(pair.frames)
    farneback, _ = token_average(dense, np.ones(dense.shape[:2], dtype=bool), patch)
    return {
        "zero": np.zeros_like(pair.token_flow),
        "token-oracle": np.round(pair.token_flow / patch) * patch,
        "farneback": farneback,
    }


@dataclass
class Encoded:
    """One pair through a model: features at every level and (with dynamics) the perturbation heatmaps."""

    source: list[torch.Tensor]  # (1, N, D) per feature level, low → high, CLS first
    target: list[torch.Tensor]
    grid: tuple[int, int]
    patch: int
    prefix: int
    block: int  # the perturbed / plain-matching level (the highest objective level)
    heat: torch.Tensor | None  # (N, N) perturbation heatmap of every source token, None without dynamics


def encode_pair(model: MidwayNetwork, pair: Pair, *, repeats: int, seed: int) -> Encoded:
    """Encodes a pair once; the perturbation heatmaps of every source token at the analysis' default level."""

    patch = int(model.encoder.patch_size)
    grid = (pair.frames.shape[1] // patch, pair.frames.shape[2] // patch)
    x = normalize_frames(pair.frames)
    block = int(model.cfg.feature_levels[-2])  # the highest objective level (analysis default), also without dynamics
    with torch.no_grad():
        levels = encode_frames(model, x)
    src, tgt = [f[0:1] for f in levels], [f[1:2] for f in levels]
    heat = None
    if model.cfg.latent_dynamics:
        p = pair_from_levels(model, src, tgt, block, grid=grid)
        heat = perturbation_heatmaps(
            model, p, list(range(grid[0] * grid[1])), repeats=repeats, generator=torch.Generator().manual_seed(seed)
        ).reshape(grid[0] * grid[1], -1)
    return Encoded(src, tgt, grid, patch, int(model.encoder.num_prefix_tokens), block, heat)


def model_predictions(model: MidwayNetwork, enc: Encoded, *, top_k: int) -> dict[str, np.ndarray]:
    """Token displacements of feature matching and (with dynamics) perturbation for one encoded pair."""

    level_index = list(model.cfg.feature_levels).index(enc.block)
    feats = torch.nn.functional.normalize(
        torch.cat([enc.source[level_index], enc.target[level_index]])[:, enc.prefix :], dim=-1
    )
    sims = feats[0] @ feats[1].T  # (source, target)
    out = {"feature": _token_offsets(sims.argmax(dim=1).numpy(), enc.grid, enc.patch)}
    if enc.heat is None:
        return out
    heat = enc.heat
    out["perturbation-peak"] = _token_offsets(heat.argmax(dim=1).numpy(), enc.grid, enc.patch)
    candidates = heat.topk(min(top_k, heat.shape[1]), dim=1).indices  # (source, k)
    picked = sims.gather(1, candidates).argmax(dim=1)
    out["perturbation-track"] = _token_offsets(
        candidates[torch.arange(len(picked)), picked].numpy(), enc.grid, enc.patch
    )
    return out


#: Ground-truth motion (tokens) from which a token counts as moving in the readouts.
MIN_MOTION_TOKENS = 1.0


class Readouts:
    """Collects the readouts of :mod:`~midway_plugin.evaluation.readouts` over the pairs of one model (see there).

    Args:
        model: the ``MidwayNetwork`` in eval mode.
        window: local-window half-size ``k`` in tokens.
        radius: off-source radius of the heatmap readouts in tokens.
    """

    def __init__(self, model: MidwayNetwork, window: int, radius: int) -> None:
        window_mask((1, 1), window)  # checks k
        offsource_mask((1, 1), radius)  # checks the radius
        self.model, self.window, self.radius = model, window, radius
        self.matching: dict[str, list[np.ndarray]] = {}
        self.losses: list[dict[str, dict[str, float]]] = []
        self.heatmap: dict[str, list[np.ndarray]] = {}
        self.block: int | None = None

    def add(self, pair: Pair, enc: Encoded) -> None:
        """Scores one encoded pair."""

        self.block = enc.block
        moving = r.moving_tokens(pair.token_flow, pair.token_valid, enc.patch, MIN_MOTION_TOKENS)
        dense = _farneback(pair.frames)
        refs = {
            "zero": np.zeros_like(pair.token_flow),
            "farneback": token_average(dense, np.ones(dense.shape[:2], dtype=bool), enc.patch)[0],
            "window-oracle": r.window_oracle(pair.token_flow, enc.patch, self.window),
        }
        for name, disp in refs.items():
            self.matching.setdefault(name, []).append(r.endpoint_errors(disp, pair.token_flow, moving))
        for i in range(len(self.model.cfg.feature_levels)):
            match = (
                r.local_window_match(
                    enc.source[i][0, enc.prefix :], enc.target[i][0, enc.prefix :], enc.grid, self.window
                )
                * enc.patch
            )
            self.matching.setdefault(self.model.level_key(i), []).append(
                r.endpoint_errors(match, pair.token_flow, moving)
            )
        if not self.model.has_dynamics or enc.heat is None:  # heatmaps come with the dynamics
            return
        self.losses.append(self._losses(pair, enc))
        scored = (moving & r.offsource_destinations(pair.token_flow, enc.patch, self.radius)).ravel()
        heat = enc.heat.numpy().astype(np.float64)
        uniform = np.ones_like(heat)
        values = {
            "direction": r.heatmap_direction(heat, pair.token_flow, self.radius),
            "direction_uniform": r.heatmap_direction(uniform, pair.token_flow, self.radius),
            "peak_epe": r.offsource_peak_error(heat, pair.token_flow, enc.patch, self.radius),
            "peak_epe_uniform": r.uniform_peak_error(pair.token_flow, enc.patch, self.radius),
        }
        for name, v in values.items():
            self.heatmap.setdefault(name, []).append(v[scored])

    def _losses(self, pair: Pair, enc: Encoded) -> dict[str, dict[str, float]]:
        """Per objective level: copy, predictor, motion-use (``models.health``) and ground-truth-warp losses."""

        model, src, tgt = self.model, enc.source, enc.target
        with torch.no_grad():
            dyn = model.run_dynamics(src, tgt, teacher=False, grid=enc.grid)
            level_losses = {
                model.level_key(i): forward_prediction_loss(dyn.predictions[i], tgt[i]) for i in model.objective_indices
            }
            output = MidwayOutput(
                loss=torch.stack(list(level_losses.values())).mean(),
                level_losses=level_losses,
                dynamics=dyn,
                src_levels=src,
                tgt_levels=tgt,
                grid=enc.grid,
            )
            rows = dynamics_health(model, output, source_features=src)  # the target frame replaced by the source
            for i in model.objective_indices:
                spatial = warp_tokens(src[i][0, enc.prefix :], pair.token_flow, pair.token_valid, enc.patch)
                warped = torch.cat([src[i][0, : enc.prefix], spatial])[None]
                rows[model.level_key(i)]["warp"] = float(forward_prediction_loss(warped, tgt[i]))
        return rows

    def result(self) -> dict[str, Any]:
        """``local_window``, ``headroom`` and ``heatmap`` (the last two None for a model without dynamics)."""

        what = f"moving tokens (ground-truth motion >= {MIN_MOTION_TOKENS:g} token)"
        refs = {m: mean_or_nan(self.matching.get(m, []), what) for m in ("zero", "farneback", "window-oracle")}
        some = refs["zero"]
        local = {
            "window": self.window,
            "moving_tokens": some["tokens"],
            "reason": some["reason"],
            "references": {m: v["value"] for m, v in refs.items()},
            "levels": {
                self.model.level_key(i): mean_or_nan(self.matching.get(self.model.level_key(i), []), what)["value"]
                for i in range(len(self.model.cfg.feature_levels))
            },
        }
        out: dict[str, Any] = {"local_window": local, "headroom": None, "heatmap": None}
        if not self.model.has_dynamics:
            return out
        headroom: dict[str, Any] = {}
        for key in self.losses[0] if self.losses else []:
            mean = {
                k: float(np.mean([row[key][k] for row in self.losses]))
                for k in ("copy", "predictor", "motion_use", "warp")
            }
            share, reason = headroom_share(mean["copy"], mean["predictor"], mean["warp"])
            still, _ = headroom_share(mean["copy"], mean["motion_use"], mean["warp"])
            headroom[key] = {
                **mean,
                "share": share,
                "motion_use_share": still,
                "share_minus_motion_use": share - still,
                "reason": reason,
            }
        out["headroom"] = headroom
        what = f"moving tokens whose true destination is off-source (more than {self.radius} token(s) from the source)"
        heat: dict[str, Any] = {}
        for metric in ("direction", "peak_epe"):
            model_v = np.concatenate(self.heatmap.get(metric, [np.zeros(0)]))
            uniform = np.concatenate(self.heatmap.get(f"{metric}_uniform", [np.zeros(0)]))
            both = np.isfinite(model_v) & np.isfinite(uniform)  # the same tokens for the model and its control
            m, u = mean_or_nan([model_v[both]], what), mean_or_nan([uniform[both]], what)
            heat[metric] = m["value"]
            heat[f"{metric}_uniform"] = u["value"]
            heat[f"{metric}_minus_uniform"] = m["value"] - u["value"]
            heat[f"{metric}_tokens"] = m["tokens"]
            heat.setdefault("reason", m["reason"])
        out["heatmap"] = {"block": self.block, "offsource_radius": self.radius, **heat}
        return out


def evaluate(
    pairs: list[Pair], predict: Callable[[Pair], dict[str, np.ndarray]], patch: int
) -> dict[str, dict[str, float]]:
    """Mean token EPE per method over every valid token of every pair, with the number of tokens."""
    errors: dict[str, list[np.ndarray]] = {}
    for pair in pairs:
        for method, disp in predict(pair).items():
            err = np.linalg.norm(disp - pair.token_flow, axis=-1)[pair.token_valid]
            errors.setdefault(method, []).append(err)
    return {
        m: {"epe": float(np.concatenate(e).mean()), "tokens": int(sum(len(x) for x in e))} for m, e in errors.items()
    }


def data_summary(pairs: list[Pair]) -> dict[str, float]:
    """Magnitude statistics of the token ground truth (pixels)."""
    mags = np.concatenate([np.linalg.norm(p.token_flow, axis=-1)[p.token_valid] for p in pairs])
    return {
        "pairs": len(pairs),
        "tokens": int(mags.size),
        "mean_displacement": float(mags.mean()),
        "median_displacement": float(np.median(mags)),
        "max_displacement": float(mags.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m midway_plugin.evaluation.zeroshot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="a `midway make-video` output folder")
    parser.add_argument("--videos", required=True, help="comma-separated held-out video names")
    parser.add_argument("--export", type=Path, help="a Midway export; omitted = the model-free reference methods")
    parser.add_argument("--patch", type=int, default=8, help="token size of the reference methods (no export)")
    parser.add_argument("--gap", type=int, default=4)
    parser.add_argument("--pairs-per-video", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--window", type=int, default=3, help="local-window matching: half-size k in tokens (readout a; needs --export)"
    )
    parser.add_argument(
        "--offsource-radius",
        type=int,
        default=1,
        help="heatmap readouts: target tokens within this many tokens of the source are excluded",
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    if args.window < 1 or args.offsource_radius < 0:
        print(
            f"zeroshot: error: --window must be >= 1 (got {args.window}) and --offsource-radius >= 0 (got "
            f"{args.offsource_radius}), in tokens",
            file=sys.stderr,
        )
        return 2

    torch.set_num_threads(1)
    start = time.perf_counter()
    readouts = None
    if args.export is not None:
        model = build_from_export(args.export).eval()
        patch = int(model.encoder.patch_size)
        readouts = Readouts(model, args.window, args.offsource_radius)

        def predict(pair: Pair) -> dict[str, np.ndarray]:
            enc = encode_pair(model, pair, repeats=args.repeats, seed=args.seed)
            readouts.add(pair, enc)
            return model_predictions(model, enc, top_k=args.top_k)
    else:
        patch = args.patch

        def predict(pair: Pair) -> dict[str, np.ndarray]:
            return reference_predictions(pair, patch)

    try:
        pairs = load_pairs(args.data, args.videos.split(","), args.gap, args.pairs_per_video, patch)
    except (ValueError, OSError) as err:
        print(f"zeroshot: error: {err}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "methods": evaluate(pairs, predict, patch),
        "data": data_summary(pairs),
        "settings": {
            "gap": args.gap,
            "window": args.window,
            "offsource_radius": args.offsource_radius,
            "min_motion_tokens": MIN_MOTION_TOKENS,
            "pairs_per_video": args.pairs_per_video,
            "patch": patch,
            "repeats": args.repeats,
            "top_k": args.top_k,
            "seed": args.seed,
            "videos": args.videos.split(","),
            "export": str(args.export) if args.export else None,
        },
        "seconds": time.perf_counter() - start,
    }
    if readouts is not None:
        result["readouts"] = readouts.result()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for method, row in result["methods"].items():
        print(f"{method}: EPE {row['epe']:.3f} px over {row['tokens']} tokens")
    if readouts is not None:
        print("readouts:", json.dumps(result["readouts"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
