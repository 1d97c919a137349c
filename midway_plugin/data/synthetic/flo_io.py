"""Middlebury ``.flo`` optical-flow files: a ``PIEH`` float tag, width and height (int32), then (u, v) float32.

The same format as ``mmcv.flowread`` / ``mmcv.flowwrite``, written here with numpy because ``midway make-video``
and the analyses must run without the optional OpenMMLab stack (mmcv is only installed with the mm extras); the
MMFlow datasets read these files with mmcv.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FLO_MAGIC = 202021.25  # Middlebury .flo header tag ("PIEH" as a float32)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Writes a flow field ``(H, W, 2)`` (x, y) as a Middlebury ``.flo`` file.

    Raises:
        ValueError: ``flow`` is not ``(H, W, 2)``.
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"a flow field must have shape (H, W, 2), got {flow.shape}")
    with open(path, "wb") as fh:
        np.array([FLO_MAGIC], dtype="<f4").tofile(fh)
        np.array([flow.shape[1], flow.shape[0]], dtype="<i4").tofile(fh)
        flow.astype("<f4").tofile(fh)


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Reads a Middlebury ``.flo`` file into a float32 ``(H, W, 2)`` array.

    Raises:
        ValueError: The file is not a valid ``.flo`` file (the message names it and the problem).
    """
    data = Path(path).read_bytes()
    if len(data) < 12 or np.frombuffer(data[:4], dtype="<f4")[0] != np.float32(FLO_MAGIC):
        raise ValueError(f"{str(path)!r} is not a Middlebury .flo file (bad header)")
    width, height = (int(v) for v in np.frombuffer(data[4:12], dtype="<i4"))
    expected = 12 + width * height * 2 * 4
    if width <= 0 or height <= 0 or len(data) != expected:
        raise ValueError(f"{str(path)!r}: header says {width}x{height} but the file has {len(data)} bytes")
    return np.frombuffer(data[12:], dtype="<f4").reshape(height, width, 2).copy()
