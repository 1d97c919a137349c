"""Helpers for tests that run real mmseg configs on tiny generated images."""

from __future__ import annotations


def shrink_pipeline(pipeline: list[dict], crop: tuple[int, int], scale: tuple[int, int] = (128, 64)) -> list[dict]:
    """A config's pipeline with its crop sizes set to ``crop`` (h, w) and resize scales to ``scale`` (w, h)."""
    out = []
    for step in pipeline:
        step = dict(step)
        if "crop_size" in step:
            step["crop_size"] = crop
        if step.get("type") in ("RandomResize", "Resize") and "scale" in step:
            step["scale"] = scale  # (w, h) as mmcv expects
        out.append(step)
    return out
