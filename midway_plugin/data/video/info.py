"""What the scan of a video folder learns about each usable file, and the two ways a file or a folder fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from midway_plugin.data.video.seek_check import SeekReport


class UnusableVideoWarning(UserWarning):
    """A video file was skipped (at construction) or replaced by another item (while training)."""


class NoUsableVideoError(RuntimeError):
    """No usable video is left under the dataset root: raised at construction, before any training."""


@dataclass(frozen=True)
class VideoInfo:
    """What the construction-time scan learned about one usable video.

    Attributes:
        path: The video file.
        num_frames: Frame count reported by decord.
        fps: Average frame rate reported by decord (0.0 when unknown).
        height: Frame height in pixels as decoded (after ``decode_short_side`` resizing).
        width: Frame width in pixels as decoded.
        reader: The reader its frames are decoded with: ``"decord"``, or where decord is wrong ``"pyav"``,
            ``"opencv"`` or ``"sequential"`` (:mod:`~midway_plugin.data.video.readers`).
        seek: The scan's random-access check (None when not checked).
        decord_problem: Why decord is not used for this file beyond its seeking (e.g. it decodes frames of this
            width with a wrong shape); None when decord decodes it.
    """

    path: str
    num_frames: int
    fps: float
    height: int
    width: int
    reader: str = "decord"
    seek: SeekReport | None = None
    decord_problem: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoInfo:
        """Inverse of :func:`dataclasses.asdict` (the index cache's entries)."""
        seek = data.get("seek")
        return cls(**{**data, "seek": SeekReport.from_dict(seek) if seek is not None else None})
