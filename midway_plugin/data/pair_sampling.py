"""Which frame pairs ``(t, t + dt)`` are drawn from a video (docs/paper.md §2.2; paper Appendix: dt in [15, 30]).

The gap ``dt`` is uniform over the integer range of ``delta_t`` (seconds are converted with the video's own fps,
rounded), clipped to what the video allows; the start ``t`` is uniform over the frames that leave room for it.
Randomness uses torch's global generator, which DataLoader seeds differently in every worker.
"""
from __future__ import annotations

import bisect
import math
from typing import Literal, Sequence

import numpy as np
import torch

DeltaUnit = Literal["frames", "seconds"]


def check_delta_t(delta_t: Sequence[float] | float, delta_unit: str) -> tuple[float, float]:
    """Validates ``delta_t`` (a number or an inclusive ``(min, max)``) in ``delta_unit``; returns ``(min, max)``.

    Raises:
        ValueError: The unit is unknown, the range is empty, not positive or not finite, or not whole frames.
    """
    if delta_unit not in ("frames", "seconds"):
        raise ValueError(f"delta_unit must be 'frames' or 'seconds', got {delta_unit!r}")
    if isinstance(delta_t, (int, float)):
        delta_t = (delta_t, delta_t)
    bounds = tuple(float(d) for d in delta_t)
    if len(bounds) != 2 or not 0 < bounds[0] <= bounds[1] or not all(map(math.isfinite, bounds)):
        raise ValueError(f"delta_t must be (min, max) with 0 < min <= max, got {bounds!r}")
    if delta_unit == "frames" and not all(float(d).is_integer() for d in bounds):
        raise ValueError(f"delta_t in frames must be whole numbers, got {bounds!r}")
    return bounds  # type: ignore[return-value]


def gap_range(delta_t: tuple[float, float], delta_unit: DeltaUnit, fps: float) -> tuple[int, int]:
    """The inclusive frame-gap range ``(min, max)`` of a video of ``fps`` (before clipping to its length)."""
    lo, hi = delta_t
    if delta_unit == "seconds":
        lo, hi = lo * fps, hi * fps
    lo_f = max(1, int(round(lo)))
    return lo_f, max(lo_f, int(round(hi)))


def sample_pairs(num_frames: int, gaps: tuple[int, int], count: int) -> np.ndarray:
    """Draws ``count`` pairs of a ``num_frames`` video: dt uniform in ``gaps`` (clipped to the video), t uniform.

    Returns:
        int64 array of shape ``(count, 2)``: ``[t, t + dt]`` per row.
    """
    lo, hi = gaps[0], min(gaps[1], num_frames - 1)
    dt = torch.randint(lo, hi + 1, (count,))
    # t uniform in [0, N - 1 - dt], drawn per pair.
    t = (torch.rand(count) * (num_frames - dt).double()).long().clamp_max(num_frames - 1 - dt)
    return torch.stack([t, t + dt], dim=1).numpy()


def pair_from_start(start: int, num_frames: int, gaps: tuple[int, int]) -> np.ndarray:
    """``"single"`` mode: the pair starting at frame ``start``, dt uniform in ``gaps`` clipped to the video; (1, 2)."""
    dt = int(torch.randint(gaps[0], min(gaps[1], num_frames - 1 - start) + 1, (1,)))
    return np.array([[start, start + dt]], dtype=np.int64)


class StartIndex:
    """``"single"`` mode: every start frame of several videos as one flat index (videos concatenated).

    Args:
        starts_per_video: Number of usable start frames of each video (``num_frames - min gap``).
    """

    def __init__(self, starts_per_video: Sequence[int]) -> None:
        self.offsets: list[int] = []
        total = 0
        for count in starts_per_video:
            self.offsets.append(total)
            total += count
        self.length = total

    def locate(self, index: int) -> tuple[int, int]:
        """Flat index -> (video index, start frame)."""
        video = bisect.bisect_right(self.offsets, index) - 1
        return video, index - self.offsets[video]
