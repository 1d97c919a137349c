"""Constant-flow references for the mmflow readouts: the EPE of a readout that learned no flow.

On a ``midway make-video`` folder, over the pairs ``MidwaySyntheticFlow`` evaluates (every pixel of the
``(t, t + G)`` pairs of the val videos):

* ``zero``: predicting zero flow everywhere (the EPE is the mean flow magnitude);
* ``train_mean``: predicting, everywhere, the mean flow vector of the training pairs (the best constant a
  readout can learn without looking at the images).

A readout learned flow only where its EPE is clearly below both. Run as
``python -m midway_plugin.evaluation.flow_references --data DIR`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from midway_plugin.data.synthetic.flo_io import read_flo
from midway_plugin.data.synthetic.index import flow_samples


def _flows(root: Path, split: str, frame_stride: int) -> list[np.ndarray]:
    _, samples = flow_samples(root, split, frame_stride)
    return [read_flo(s["flow_fw_path"]).astype(np.float64) for s in samples]


def constant_flow_references(root: str | Path, frame_stride: int = 1) -> dict[str, Any]:
    """``dict(zero=EPE, train_mean=EPE, mean_flow=[u, v], val_pairs=N, train_pairs=M)`` on the val pairs.

    The EPE is the mean over val pairs of each pair's mean per-pixel end-point error (MMFlow's ``EndPointError``
    for same-sized frames).
    """
    root = Path(root)
    train, val = _flows(root, "train", frame_stride), _flows(root, "val", frame_stride)
    mean = np.mean([f.reshape(-1, 2).mean(axis=0) for f in train], axis=0)

    def epe(guess: np.ndarray) -> float:
        return float(np.mean([np.hypot(*(f - guess).reshape(-1, 2).T).mean() for f in val]))

    return {
        "zero": epe(np.zeros(2)),
        "train_mean": epe(mean),
        "mean_flow": [float(v) for v in mean],
        "val_pairs": len(val),
        "train_pairs": len(train),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="a `midway make-video --out` folder")
    parser.add_argument("--frame-stride", type=int, default=1, help="pair subsampling (*.dataset.frame_stride)")
    args = parser.parse_args(argv)
    print(json.dumps(constant_flow_references(args.data, args.frame_stride), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
