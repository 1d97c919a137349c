"""A linear probe on the frozen latent dynamics: do the motion latents of a pair say how the pair moves?

For every ``(t, t + G)`` pair of a ``midway make-video`` folder (the pairs ``MidwaySyntheticFlow`` reads): the
encoder runs on both frames, the midway path infers the motion latents (``MidwayNetwork.run_dynamics``, student
weights, no gradients), and the top objective level's latents ``(K, d)`` are flattened into one feature vector.
A ridge regression (features standardised on the train pairs, fixed ``alpha``) maps them to the pair's mean flow
vector; it is fitted on the train pairs and evaluated on the val pairs against predicting the train pairs' mean
flow. Two numbers per predictor, both in pixels:

* ``vector_error``: mean over val pairs of ``||predicted - true mean flow||``;
* ``epe``: mean per-pixel end-point error of predicting that vector at every pixel (comparable with the mmflow
  readouts' EPE and :mod:`~midway_plugin.evaluation.flow_references`).

A model without pretraining (``--arch tiny``, random weights) is the control. Run as
``python -m midway_plugin.evaluation.motion_probe --data DIR (--export FILE | --arch PRESET)`` (prints JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from midway_plugin.analysis.frames import normalize_frames
from midway_plugin.data.synthetic.flo_io import read_flo
from midway_plugin.data.synthetic.index import flow_samples
from midway_plugin.models import MidwayConfig, MidwayNetwork, build_from_export


def load_pairs(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(frames1 (N, H, W, 3) uint8, frames2, flows [(H, W, 2)])`` of one split."""

    _, samples = flow_samples(root, split)
    first = np.stack([np.asarray(Image.open(s["img1_path"]).convert("RGB")) for s in samples])
    second = np.stack([np.asarray(Image.open(s["img2_path"]).convert("RGB")) for s in samples])
    return first, second, [read_flo(s["flow_fw_path"]).astype(np.float64) for s in samples]


def motion_features(model: MidwayNetwork, first: np.ndarray, second: np.ndarray, batch: int = 32) -> np.ndarray:
    """Flattened top-level motion latents ``(N, K * d)`` of frame pairs ``(N, H, W, 3)`` (H, W multiples of the
    patch size)."""

    if not model.cfg.latent_dynamics:
        raise ValueError("motion probe: the model has no latent dynamics (an export with latent_dynamics: false)")
    patch = int(model.encoder.patch_size)
    h, w = first.shape[1:3]
    if h % patch or w % patch:
        raise ValueError(f"motion probe: frames of {h}x{w} px are not a multiple of the patch size {patch}")
    out = []
    with torch.no_grad():
        for i in range(0, len(first), batch):
            src = model.encoder(normalize_frames(first[i : i + batch]))
            tgt = model.encoder(normalize_frames(second[i : i + batch]))
            dyn = model.run_dynamics(src, tgt, teacher=False, grid=(h // patch, w // patch))
            out.append(dyn.motion[max(dyn.motion)].flatten(1).numpy())
    return np.concatenate(out).astype(np.float64)


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ridge regression on standardised features: ``(mean, std, weights, intercept)``."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-8
    z = (x - mean) / std
    weights = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - y.mean(axis=0)))
    return mean, std, weights, y.mean(axis=0)


def probe(model: MidwayNetwork, root: str | Path, alpha: float = 1.0) -> dict[str, Any]:
    """Fits the probe on the train pairs of ``root`` and scores it and the train-mean guess on the val pairs."""
    root = Path(root)
    first, second, flows = load_pairs(root, "train")
    x_train = motion_features(model, first, second)
    y_train = np.stack([f.reshape(-1, 2).mean(axis=0) for f in flows])
    first, second, flows_val = load_pairs(root, "val")
    x_val = motion_features(model, first, second)
    mean, std, weights, intercept = fit_ridge(x_train, y_train, alpha)
    guesses = {
        "probe": (x_val - mean) / std @ weights + intercept,
        "train_mean": np.broadcast_to(intercept, (len(flows_val), 2)),
    }
    truth = np.stack([f.reshape(-1, 2).mean(axis=0) for f in flows_val])
    result: dict[str, Any] = {}
    for name, guess in guesses.items():
        result[name] = {
            "vector_error": float(np.linalg.norm(guess - truth, axis=1).mean()),
            "epe": float(
                np.mean([np.hypot(*(f - g).reshape(-1, 2).T).mean() for f, g in zip(flows_val, guess, strict=True)])
            ),
        }
    result.update(features=int(x_train.shape[1]), train_pairs=len(x_train), val_pairs=len(x_val), alpha=alpha)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m midway_plugin.evaluation.motion_probe", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", required=True, type=Path, help="a `midway make-video --out` folder")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--export", type=Path, help="a `midway export` file (the frozen model)")
    model.add_argument("--arch", help="a preset built with random weights (the control), e.g. tiny")
    parser.add_argument("--alpha", type=float, default=1.0, help="ridge penalty on standardised features")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (--arch)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    try:
        net = build_from_export(args.export) if args.export else MidwayNetwork(MidwayConfig.preset(args.arch))
        result = probe(net.eval(), args.data, args.alpha)
    except (ValueError, OSError, KeyError) as err:
        print(f"motion probe: error: {err}", file=sys.stderr)
        return 2
    result["model"] = str(args.export) if args.export else f"random {args.arch} (seed {args.seed})"
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
