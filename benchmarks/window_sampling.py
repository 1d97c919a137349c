"""How window sampling changes the pairs: the distribution of t and dt, and how alike the pairs of one opening are.

Draws many openings of R pairs with the dataset's own samplers (``sample_pairs`` for ``sampling="independent"``,
``sample_window_pairs`` for ``"window"``) for videos of a few lengths, and prints per sampling:

* dt: mean and the two-sample Kolmogorov-Smirnov distance to independent sampling;
* t / N (position in the video): mean, KS distance to independent sampling, and how often the frames of the
  first and the last 5 % of the video are used (as t or t + dt) relative to those of the middle (1.0 = as often);
* within one opening (the R pairs of one video opening, which share a batch): the mean distance between the start
  frames of two pairs, the correlation of two pairs' start frames across openings, the share of pairs that share
  a frame with another pair of the opening, and the share of pairs whose intervals [t, t + dt] overlap.

Pairs of different openings (other videos, or other openings of one video) are independent under both samplings,
so in a batch of B openings only the R - 1 other pairs of the same opening are correlated with a pair.

    .venv/bin/python benchmarks/window_sampling.py --openings 20000 --json runs/benchmarks/window_sampling.json
"""

from __future__ import annotations

import argparse
from itertools import combinations

import numpy as np
import torch
from bench_output import finish  # benchmarks/ is on sys.path when a script here runs

from midway_plugin.data.video.pair_sampling import sample_pairs, sample_window_pairs, window_frames


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic (largest gap between the empirical CDFs)."""
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def statistics_of(openings: np.ndarray, num_frames: int) -> dict[str, float]:
    """Per-opening and marginal statistics of ``openings`` ``(M, R, 2)``."""
    t, dt = openings[..., 0], openings[..., 1] - openings[..., 0]
    position = (t + 0.5) / num_frames
    used = openings.reshape(-1)  # every frame a pair uses, t and t + dt
    edge = max(1, int(round(0.05 * num_frames)))
    middle = ((used >= edge) & (used < num_frames - edge)).mean() / ((num_frames - 2 * edge) / num_frames)
    start = (used < edge).mean() / (edge / num_frames) / middle
    end = (used >= num_frames - edge).mean() / (edge / num_frames) / middle
    pairs = list(combinations(range(openings.shape[1]), 2))
    distance = np.mean([np.abs(t[:, i] - t[:, j]).mean() for i, j in pairs])
    correlation = np.mean([np.corrcoef(t[:, i], t[:, j])[0, 1] for i, j in pairs])
    frames = [set(row.reshape(-1).tolist()) for row in openings]
    sharing = np.mean(
        [
            np.mean(
                [
                    len(set(row[k].tolist()) & set(np.delete(row, k, axis=0).reshape(-1).tolist())) > 0
                    for k in range(len(row))
                ]
            )
            for row in openings[:2000]
        ]
    )
    overlap = np.mean(
        [
            np.mean(
                [
                    any(max(row[k, 0], row[m, 0]) <= min(row[k, 1], row[m, 1]) for m in range(len(row)) if m != k)
                    for k in range(len(row))
                ]
            )
            for row in openings[:2000]
        ]
    )
    return {
        "dt_mean": float(dt.mean()), "t_over_n_mean": float(position.mean()),
        "first_5pct_rate": float(start), "last_5pct_rate": float(end),
        "same_opening_start_distance": float(distance), "same_opening_start_correlation": float(correlation),
        "pairs_sharing_a_frame": float(sharing), "pairs_overlapping_in_time": float(overlap),
        "distinct_frames_per_opening": float(np.mean([len(f) for f in frames])),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openings", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--gaps", type=int, nargs=2, default=(15, 30), help="dt range in frames")
    parser.add_argument("--window", type=float, default=1.5, help="window length / largest gap")
    parser.add_argument("--frames", type=int, nargs="+", default=[300, 1200], help="video lengths (frames)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    gaps = (args.gaps[0], args.gaps[1])
    result: dict = {"openings": args.openings, "repeat": args.repeat, "gaps": gaps, "window": args.window, "videos": {}}
    for num_frames in args.frames:
        torch.manual_seed(0)
        independent = np.stack([sample_pairs(num_frames, gaps, args.repeat) for _ in range(args.openings)])
        window = np.stack(
            [sample_window_pairs(num_frames, gaps, args.repeat, args.window) for _ in range(args.openings)]
        )
        entry = {"independent": statistics_of(independent, num_frames), "window": statistics_of(window, num_frames)}
        entry["window"]["ks_dt_vs_independent"] = ks_distance(
            np.diff(window, axis=2).ravel(), np.diff(independent, axis=2).ravel()
        )
        entry["window"]["ks_t_vs_independent"] = ks_distance(window[..., 0].ravel(), independent[..., 0].ravel())
        length = window_frames(gaps, args.window, num_frames)
        print(
            f"\nvideo of {num_frames} frames, dt in {list(gaps)}, R = {args.repeat}, window {length} frames "
            f"({args.openings} openings per sampling)"
        )
        print(f"  {'statistic':<34} {'independent':>12} {'window':>12}")
        for key in entry["independent"]:
            print(f"  {key:<34} {entry['independent'][key]:>12.3f} {entry['window'][key]:>12.3f}")
        for key in ("ks_dt_vs_independent", "ks_t_vs_independent"):
            print(f"  {key:<34} {'':>12} {entry['window'][key]:>12.3f}")
        result["videos"][str(num_frames)] = entry
    finish(result, args.json)


if __name__ == "__main__":
    main()
