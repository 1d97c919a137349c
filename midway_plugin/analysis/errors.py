"""The analysis adapter's error: a bad input (level, point, frame, file) whose message names the value."""

from __future__ import annotations


class AnalysisError(ValueError):
    """A bad analysis input (level, point, frame); the message names the offending value."""


__all__ = ["AnalysisError"]
