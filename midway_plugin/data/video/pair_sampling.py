"""Which frame pairs ``(t, t + dt)`` are drawn from a video (docs/paper.md §2.2; paper Appendix: dt in [15, 30]).

The gap ``dt`` is uniform over the integer range of ``delta_t`` (seconds are converted with the video's own fps,
rounded), clipped to what the video allows; the start ``t`` is uniform over the frames that leave room for it.
Randomness uses torch's global generator, which DataLoader seeds differently in every worker.

Two ways to draw the ``repeat`` pairs of one video opening (``sampling``):

* ``"independent"`` (the paper's repeat sampling): every pair anywhere in the video; decoding them costs a decode
  from the keyframe before each of their frames.
* ``"window"``: one window of ``window x max gap`` frames at a uniform position, every pair inside it (``dt`` as
  above, ``t`` uniform over the window's starts that leave room for it); the frames are one short stretch of
  the video, decoded forward once. ``dt`` keeps its distribution; ``t`` stays uniform over the video except
  near its ends; the pairs of one opening are close in time (docs/performance.md measures both).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

DeltaUnit = Literal["frames", "seconds"]
Sampling = Literal["independent", "window"]
#: The ways to draw the pairs of one opening.
SAMPLINGS: tuple[str, ...] = ("independent", "window")


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
    return bounds[0], bounds[1]


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


def window_frames(gaps: tuple[int, int], window: float, num_frames: int) -> int:
    """Length in frames of a sampling window of ``window`` x the largest gap (at least that gap + 1), clipped to the
    video."""
    return min(num_frames, max(gaps[1] + 1, int(round(window * gaps[1]))))


def sample_window_pairs(num_frames: int, gaps: tuple[int, int], count: int, window: float) -> np.ndarray:
    """Draws ``count`` pairs inside one window of :func:`window_frames` frames at a uniform position.

    dt is uniform in ``gaps`` clipped to the window; each pair's t is uniform over the window's frames that leave
    room for its dt.

    Returns:
        int64 array of shape ``(count, 2)``: ``[t, t + dt]`` per row.
    """
    length = window_frames(gaps, window, num_frames)
    start = int(torch.randint(0, num_frames - length + 1, (1,)))
    return start + sample_pairs(length, gaps, count)


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
