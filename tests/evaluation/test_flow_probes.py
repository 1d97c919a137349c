"""Model-free references of the flow readouts (zero flow, the train mean) and the linear motion-latent probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from midway_plugin.data.synthetic import read_flo, write_synthetic_dataset
from midway_plugin.evaluation.flow_references import constant_flow_references
from midway_plugin.evaluation.flow_references import main as references_main
from midway_plugin.evaluation.motion_probe import fit_ridge, probe


@pytest.fixture(scope="module")
def pan_root(tmp_path_factory):
    """4 pan-only videos of 3 frames at 32x32 (3 train, 1 val): 6 train pairs, 2 val pairs."""
    root = tmp_path_factory.mktemp("pan")
    write_synthetic_dataset(
        root,
        num_videos=4,
        num_frames=3,
        size=(32, 32),
        val_videos=1,
        num_objects=0,
        camera_speed=(2.0, 3.0),
        camera_wobble=0.0,
    )
    return root


def test_constant_flow_references_score_the_val_pairs(pan_root, capsys) -> None:
    ref = constant_flow_references(pan_root)
    assert (ref["train_pairs"], ref["val_pairs"]) == (6, 2)
    val = [read_flo(p) for p in sorted((pan_root / "flow").glob("synth_0003/*.flo"))]
    zero = np.mean([np.hypot(f[..., 0], f[..., 1]).mean() for f in val])
    assert ref["zero"] == pytest.approx(zero, rel=1e-6) and zero > 1.0
    train = [read_flo(p) for p in sorted((pan_root / "flow").glob("synth_000[0-2]/*.flo"))]
    train_mean = np.mean([f.reshape(-1, 2).astype(np.float64).mean(0) for f in train], axis=0)
    assert ref["mean_flow"] == pytest.approx(train_mean.tolist())
    assert references_main(["--data", str(pan_root)]) == 0
    assert json.loads(capsys.readouterr().out)["zero"] == pytest.approx(ref["zero"])


def test_ridge_recovers_a_linear_map() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * [1, 10, 0.1, 3, 1] + 4
    w = rng.normal(size=(5, 2))
    y = x @ w + [1.0, -2.0]
    mean, std, weights, intercept = fit_ridge(x, y, alpha=1e-6)
    np.testing.assert_allclose((x - mean) / std @ weights + intercept, y, atol=1e-4)
    _, _, shrunk, _ = fit_ridge(x, y, alpha=1e6)
    assert np.abs(shrunk).max() < 1e-2 * np.abs(weights).max()


def test_motion_probe_on_random_dynamics(pan_root) -> None:
    import torch

    from midway_plugin.models import MidwayConfig, MidwayNetwork

    torch.manual_seed(0)
    result = probe(MidwayNetwork(MidwayConfig.tiny()).eval(), pan_root, alpha=1.0)
    assert (result["train_pairs"], result["val_pairs"], result["features"]) == (6, 2, 4 * 32)
    ref = constant_flow_references(pan_root)
    assert result["train_mean"]["epe"] == pytest.approx(ref["train_mean"], rel=1e-6)
    assert all(np.isfinite(v) for r in ("probe", "train_mean") for v in result[r].values())
    with pytest.raises(ValueError, match="no latent dynamics"):
        probe(MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False)).eval(), pan_root)
