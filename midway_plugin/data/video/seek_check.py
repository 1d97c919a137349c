"""Does random access return the frames asked for? decord's seeking, checked per file against a sequential decode.

Midway learns from frame pairs a known Δt apart (paper §3, §4.1), so a reader that returns frame 88 when asked for
frame 100 silently trains on wrong gaps. decord 0.6.0 does that on some files: it seeks to a keyframe and trusts
the container's timestamps to count frames, and for MPEG-4 Part 2 in AVI with B-frames (and other layouts, see
docs/video-seeking.md) the count is off. :func:`check_random_access` reads a handful of frames with decord the way
the dataset does (one sorted batch, then single frames backwards, each from a fresh reader) and compares them with
the same frames decoded sequentially from the start of the file by OpenCV (no seeking: frame i is the i-th frame
out of the decoder). A frame read is right when its mean absolute difference to sequential frame i is at most
``tolerance`` (builds of the two libraries may convert colours slightly differently) *and* no other sequential
frame within 16 frames is closer to it (by more than half a grey level): slow content makes neighbouring frames
differ by less than any useful tolerance, so closeness alone cannot tell frame 255 from frame 257. One wrong frame
marks the reader as inexact for the file. The same check then runs on PyAV's keyframe-aware reader (exact by
construction, checked all the same) and on OpenCV's seeking, which is exact on other files than decord's; the file
gets the first reader of :data:`~midway_plugin.data.video.readers.READERS` that passes, and the sequential reader (exact
by definition, slower) when none does. The GPU decoder (``"cuda"``) is checked the same way when it is asked for.

Only the first ``span`` frames are checked (the sequential decode costs one decode per frame up to the last checked
frame); the checked frames include frames around the keyframes decord reports in that span, where seeking starts.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midway_plugin.data.video.readers import (
    CHECKABLE_READERS,
    READERS,
    OpenCVReader,
    as_numpy,
    open_decord,
    open_reader,
)

#: Largest mean absolute difference (grey levels, 0-255) between decord's frame and the sequentially decoded one
#: still taken as the same frame: colour conversion differs by up to ~4 between the libraries.
DEFAULT_TOLERANCE = 8.0
#: Frames from the start of the file within which frames are checked.
DEFAULT_SPAN = 300
#: Frames checked per file.
DEFAULT_CHECKS = 8
# A frame read must be closer to sequential frame i than to any within this distance (minus the margin, in grey
# levels, for noise); neighbours are compared on every 4th pixel of every 4th row (cheap on 1080p).
_MATCH_RADIUS = 16
_MATCH_MARGIN = 0.5

# Four-character codes OpenCV reports -> the codec a user recognises.
_CODEC_NAMES = {
    **dict.fromkeys(("FMP4", "XVID", "DIVX", "DX50", "MP4V", "mp4v", "M4S2"), "MPEG-4 Part 2"),
    **dict.fromkeys(("avc1", "h264", "H264", "x264", "X264", "AVC1"), "H.264"),
    **dict.fromkeys(("hev1", "hvc1", "hevc", "HEVC"), "H.265"),
    **dict.fromkeys(("VP80", "vp08"), "VP8"),
    **dict.fromkeys(("VP90", "vp09"), "VP9"),
    **dict.fromkeys(("av01", "AV01"), "AV1"),
    **dict.fromkeys(("MJPG", "mjpg"), "Motion JPEG"),
}


class InexactSeekWarning(UserWarning):
    """decord returns other frames than those asked for in a video: it is read with an exact reader (or skipped)."""


@dataclass(frozen=True)
class SeekReport:
    """The outcome of :func:`check_random_access` for one file.

    Attributes:
        exact: Every checked frame read by decord (the first reader checked) was the frame asked for: within the
            tolerance of sequential frame i, and no neighbour closer.
        reader: The reader the file gets: ``"decord"`` when exact, else the first exact one of ``"pyav"`` and
            ``"opencv"``, else ``"sequential"``.
        codec: The stream's codec (e.g. ``"MPEG-4 Part 2 (XVID)"``), as far as OpenCV reports it.
        container: The file extension without the dot (``"avi"``, ``"mp4"``, ...).
        checked: The frame indices compared.
        max_difference: decord's largest mean absolute difference in grey levels to the frame asked for, over the
            wrong frames if any, else over all checked frames (255.0 when a frame it returned does not exist in
            the sequential decode or has another shape).
        worst_frame: The checked frame with that difference.
        worst_match: The sequential frame closest to what decord returned for ``worst_frame`` (within 16 frames);
            None when exact or not found.
        sequential_frames: Frames the sequential decode went through.
        seconds: Time the check took.
        differences: Largest mean difference per seeking reader checked (``{"decord": .., "opencv": ..}``).
    """

    exact: bool
    reader: str
    codec: str
    container: str
    checked: tuple[int, ...] = field(default_factory=tuple)
    max_difference: float = 0.0
    worst_frame: int = 0
    worst_match: int | None = None
    sequential_frames: int = 0
    seconds: float = 0.0
    differences: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for warnings and the audit: what was compared and what came out."""
        where = f"{self.codec} in .{self.container}"
        if self.exact:
            return (
                f"{where}: random access is exact on {len(self.checked)} checked frames "
                f"(largest mean difference {self.max_difference:.1f} grey levels)"
            )
        got = (
            f"frame {self.worst_match}'s content"
            if self.worst_match is not None
            else f"none of frames {max(0, self.worst_frame - _MATCH_RADIUS)}-{self.worst_frame + _MATCH_RADIUS}"
        )
        first = next(iter(self.differences), "decord")
        text = (
            f"{where}: {first}'s random access returns wrong frames (asked for frame {self.worst_frame}, got {got}; "
            f"mean difference {self.max_difference:.1f} grey levels against the sequential decode)"
        )
        for reader, difference in list(self.differences.items())[1:]:
            verdict = "exact" if self.reader == reader else "wrong too"
            text += f"; {reader}'s is {verdict} ({difference:.1f})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (for the dataset's index cache)."""
        data = asdict(self)
        data["checked"] = list(self.checked)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeekReport:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "checked": tuple(data.get("checked", ()))})


def _codec_name(fourcc: str) -> str:
    name = _CODEC_NAMES.get(fourcc)
    if name is None:
        return fourcc or "unknown codec"
    return f"{name} ({fourcc})"


def _check_indices(num_frames: int, keyframes: list[int], count: int, seed: int) -> list[int]:
    """Frames to check: the first keyframes after frame 0 and the frame after each (where a seek lands; with open
    GOPs only the first few frames there come out wrong), and at least two at random."""
    rng = np.random.default_rng(seed)
    picks: set[int] = set()
    for key in [k for k in keyframes if 0 < k < num_frames][: max(0, (count - 2) // 2)]:
        picks.update(i for i in (key, key + 1) if i < num_frames)
    while len(picks) < min(count, num_frames - 1):
        picks.add(int(rng.integers(1, num_frames)))
    return sorted(picks)


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return 255.0
    return float(np.abs(np.subtract(a, b, dtype=np.int16)).mean())


def _random_reads(reader: str, path: Path, indices: list[int]) -> list[tuple[int, np.ndarray]]:
    """The dataset's two access patterns, each from a fresh reader: one sorted batch; single frames backwards."""
    batch = as_numpy(open_reader(reader, path).get_batch(indices))
    backwards = open_reader(reader, path)
    return [*zip(indices, batch, strict=True), *((i, as_numpy(backwards.get_batch([i]))[0]) for i in reversed(indices))]


def _compare(
    reads: list[tuple[int, np.ndarray]], truth: dict[int, np.ndarray], tolerance: float
) -> tuple[bool, float, int, int | None]:
    """Over ``reads``: (any frame wrong, the largest difference to the frame asked for (of a wrong frame if any),
    that frame's index, the sequential frame closest to what was read there when wrong and identified)."""
    thumbs = {j: frame[::4, ::4].astype(np.int16) for j, frame in truth.items()}
    worst: tuple[bool, float, int, int | None] = (False, -1.0, reads[0][0], None)
    for i, got in reads:
        own = _mean_difference(got, truth[i]) if i in truth else 255.0
        small = got[::4, ::4].astype(np.int16)
        near = {j: _mean_difference(small, t) for j, t in thumbs.items() if 0 < abs(j - i) <= _MATCH_RADIUS}
        match = min(near, key=lambda j: near[j]) if near else None
        own_thumb = _mean_difference(small, thumbs[i]) if i in thumbs else 255.0
        wrong = own > tolerance or (match is not None and near[match] + _MATCH_MARGIN < own_thumb)
        if (wrong, own) > worst[:2]:
            found = match if wrong and match is not None and near[match] <= tolerance else None
            worst = (wrong, own, i, found)
    return worst


def check_random_access(
    path: str | os.PathLike[str],
    *,
    checks: int = DEFAULT_CHECKS,
    span: int = DEFAULT_SPAN,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    readers: tuple[str, ...] = READERS[:-1],
) -> SeekReport:
    """Compares decord's random access on ``path`` (then, if wrong, PyAV's and OpenCV's) with a sequential decode.

    Args:
        path: The video file (decord and OpenCV must both open it).
        checks: Number of frames compared.
        span: Frames are chosen among the first ``span`` frames.
        tolerance: Largest mean absolute difference (grey levels) still taken as the same frame.
        seed: Seed of the choice of frames (the check is deterministic for a given file).
        readers: The seeking readers to try, preferred first; the file gets the first exact one, else
            ``"sequential"``. ``exact`` and ``max_difference`` of the report are those of the first.

    Returns:
        The :class:`SeekReport`.

    Raises:
        ValueError: decord or OpenCV cannot open the file, or an argument is out of range (naming it).
    """
    if checks < 1 or span < 2 or not tolerance > 0:
        raise ValueError(f"need checks >= 1, span >= 2 and tolerance > 0; got {checks}, {span}, {tolerance}")
    if not readers or any(r not in CHECKABLE_READERS for r in readers):
        raise ValueError(f"readers must be a non-empty choice of {CHECKABLE_READERS}, got {readers!r}")
    start = time.perf_counter()
    path = Path(path)
    try:
        probe = open_decord(path)
        num_frames = len(probe)
        keyframes = [int(k) for k in probe.get_key_indices()]
    except Exception as err:  # decord raises its own error types
        raise ValueError(f"decord cannot open video {str(path)!r}: {str(err).strip()[:200]}") from None
    del probe
    sequential = OpenCVReader(path)
    codec, container = _codec_name(sequential.fourcc), path.suffix.lower().lstrip(".") or "?"
    indices = _check_indices(min(num_frames, span), keyframes, checks, seed)
    if not indices:  # a one-frame video has nothing to seek to
        return SeekReport(True, readers[0], codec, container, seconds=round(time.perf_counter() - start, 3))

    wanted = sorted({j for i in indices for j in range(max(0, i - _MATCH_RADIUS), i + _MATCH_RADIUS + 1)})
    truth: dict[int, np.ndarray] = {}
    for j in wanted:  # one forward pass; stops where the stream ends
        try:
            truth[j] = sequential.get_batch([j])[0]
        except IndexError:
            break

    differences: dict[str, float] = {}
    chosen = "sequential"
    for reader in readers:
        try:
            wrong, worst, frame, match = _compare(_random_reads(reader, path, indices), truth, tolerance)
        except Exception:  # a reader that cannot even return the frames is not exact
            wrong, worst, frame, match = True, 255.0, indices[0], None
        differences[reader] = round(worst, 2)
        if reader == readers[0]:
            exact, first_worst, worst_frame, worst_match = not wrong, worst, frame, match
        if not wrong:
            chosen = reader
            break
    return SeekReport(
        exact=exact,
        reader=chosen,
        codec=codec,
        container=container,
        checked=tuple(indices),
        max_difference=round(first_worst, 2),
        worst_frame=worst_frame,
        worst_match=worst_match,
        sequential_frames=max(truth, default=-1) + 1,
        seconds=round(time.perf_counter() - start, 3),
        differences=differences,
    )


def check_gpu_frames(path: str | os.PathLike[str], reader: str = "cuda", **kwargs: Any) -> SeekReport:
    """The check of ``reader`` alone (the GPU decoder by default): its frames, read in the dataset's access patterns,
    against a sequential CPU decode of the same frames.

    Args:
        path: The video file.
        reader: The reader checked (a name :func:`~midway_plugin.data.video.readers.open_reader` knows).
        kwargs: Passed on to :func:`check_random_access` (``checks``, ``span``, ``tolerance``, ``seed``).

    Returns:
        The :class:`SeekReport`; ``exact`` is ``reader``'s verdict.
    """
    return check_random_access(path, readers=(reader,), **kwargs)
