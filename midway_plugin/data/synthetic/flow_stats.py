"""Flow magnitude statistics of a generated dataset (how hard its optical flow is), in bounded memory.

``midway make-video`` records them per split in ``dataset.json`` (``"flow_stats"``): they say what an EPE means
(a zero-flow guess scores the mean magnitude) and whether the motion is large compared with the patch size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Histogram bin width in pixels: medians and percentiles are exact to this resolution.
BIN_PX = 0.01
#: A pixel "moves" when its flow is at least this long (pixels per flow step, i.e. over the frame gap).
MOVING_PX = 0.5


class FlowStatistics:
    """Accumulates |flow| over many frames: mean and max exactly, median and p95 from a 0.01 px histogram.

    With instance maps it also counts pixels on objects, occluded pixels (the surface visible at ``p`` in frame t
    is not the one visible at ``round(p + flow)`` in frame t + 1) and pixels whose destination leaves the frame.
    """

    def __init__(self) -> None:
        self.hist = np.zeros(1, dtype=np.int64)
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.moving = 0
        self.on_objects = 0
        self.occluded = 0
        self.out_of_view = 0

    def add(
        self, flow: np.ndarray, instances: np.ndarray | None = None, next_instances: np.ndarray | None = None
    ) -> None:
        """Adds one forward flow field ``(H, W, 2)`` and, optionally, the instance maps of frames t and t + 1."""
        mag = np.hypot(flow[..., 0], flow[..., 1]).astype(np.float64)
        bins = np.bincount(np.floor(mag / BIN_PX).astype(np.int64).ravel())
        if len(bins) > len(self.hist):
            self.hist = np.pad(self.hist, (0, len(bins) - len(self.hist)))
        self.hist[: len(bins)] += bins
        self.count += mag.size
        self.total += float(mag.sum())
        self.max = max(self.max, float(mag.max()))
        self.moving += int((mag >= MOVING_PX).sum())
        if instances is None or next_instances is None:
            return
        height, width = mag.shape
        ys, xs = np.mgrid[0:height, 0:width]
        tx = np.rint(xs + flow[..., 0]).astype(np.int64)
        ty = np.rint(ys + flow[..., 1]).astype(np.int64)
        inside = (tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)
        seen = next_instances[ty.clip(0, height - 1), tx.clip(0, width - 1)]
        self.on_objects += int((instances > 0).sum())
        self.out_of_view += int((~inside).sum())
        self.occluded += int((inside & (seen != instances)).sum())

    def _quantile(self, q: float) -> float:
        rank = q * (self.count - 1)
        index = int(np.searchsorted(np.cumsum(self.hist), rank, side="right"))
        return (index + 0.5) * BIN_PX

    def percentiles(self) -> list[float]:
        """The 0th, 1st, ..., 100th percentiles of |flow| (a compact distribution: what the token statistics of
        :mod:`~midway_plugin.data.motion_tokens` read back from ``dataset.json``); empty without data."""
        if not self.count:
            return []
        return [round(self._quantile(q / 100), 3) for q in range(101)]

    def summary(self) -> dict[str, Any]:
        """JSON-ready statistics (pixels per flow step; fractions of all pixels; ``percentiles``: 101 values of
        |flow|, see :meth:`percentiles`); empty dict without data."""
        if not self.count:
            return {}
        fractions = {"moving_fraction": self.moving / self.count}
        if self.on_objects or self.occluded or self.out_of_view:
            fractions.update(
                object_fraction=self.on_objects / self.count,
                occluded_fraction=self.occluded / self.count,
                out_of_view_fraction=self.out_of_view / self.count,
            )
        return {
            "pixels": self.count,
            "mean": round(self.total / self.count, 4),
            "median": round(self._quantile(0.5), 3),
            "p95": round(self._quantile(0.95), 3),
            "max": round(self.max, 4),
            **{k: round(v, 4) for k, v in fractions.items()},
            "percentiles": self.percentiles(),
        }


def format_flow_stats(stats: dict[str, dict[str, Any]]) -> list[str]:
    """One line per split, e.g. ``train: |flow| mean 1.52 median 1.31 p95 3.40 max 6.10 px/frame; ...``."""
    lines = []
    for split, s in stats.items():
        if not s:
            lines.append(f"{split:5s}: (no videos)")
            continue
        line = (
            f"{split:5s}: |flow| mean {s['mean']:.2f}, median {s['median']:.2f}, p95 {s['p95']:.2f}, "
            f"max {s['max']:.2f} px/frame; moving {100 * s['moving_fraction']:.0f}%"
        )
        if "occluded_fraction" in s:
            line += (
                f", on objects {100 * s['object_fraction']:.0f}%, occluded {100 * s['occluded_fraction']:.1f}%"
                f", leaving the frame {100 * s['out_of_view_fraction']:.1f}%"
            )
        lines.append(line)
    return lines
