"""Importing the plugin's mmseg / mmflow modules activates the compatibility layer."""

from __future__ import annotations

import importlib

import numpy as np
import pytest


def test_mmseg_adapter_routes_mmengine_checkpoints_through_allow_list() -> None:
    importlib.import_module("midway_plugin.mmseg")
    from mmengine.runner.checkpoint import CheckpointLoader

    from midway_plugin.compat import safe_checkpoint

    assert safe_checkpoint.is_installed()
    assert CheckpointLoader._get_checkpoint_loader("/some/file.pth") is safe_checkpoint.load_from_local
    assert CheckpointLoader._get_checkpoint_loader("https://x/y.pth")._midway_allow_list


def test_mmflow_adapter_registers_color_jitter() -> None:
    importlib.import_module("midway_plugin.mmflow")
    from mmengine.registry import init_default_scope
    from mmflow.registry import TRANSFORMS

    from midway_plugin.compat import mmflow_color_jitter, safe_checkpoint

    init_default_scope("mmflow")
    transform = TRANSFORMS.build(dict(type="ColorJitter", asymmetric_prob=0.0, hue=0.5 / 3.14))
    assert type(transform) is mmflow_color_jitter.ColorJitter
    assert mmflow_color_jitter.is_registered() and safe_checkpoint.is_installed()


def test_activation_is_idempotent() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader

    from midway_plugin.compat import enable_mmengine, enable_mmflow

    enable_mmengine()
    schemes = dict(CheckpointLoader._schemes)
    enable_mmengine()
    enable_mmflow()
    enable_mmflow()
    assert dict(CheckpointLoader._schemes) == schemes


def test_upstream_adjust_hue_still_needs_the_fix() -> None:
    """If this starts failing, mmflow fixed ``np.int`` and the ColorJitter patch can go."""
    from mmflow.datasets.utils import adjust_hue as upstream_adjust_hue

    if hasattr(np, "int"):
        pytest.skip("numpy < 1.24 still has np.int")
    with pytest.raises(AttributeError, match="int"):
        upstream_adjust_hue(np.zeros((4, 4, 3), np.uint8), 0.1)


def test_corrected_hue_shift_rotates_colours() -> None:
    from midway_plugin.compat.mmflow_color_jitter import adjust_hue

    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 2] = 255  # BGR
    cyan = adjust_hue(red, 0.5)
    np.testing.assert_array_equal(cyan[0, 0], [255, 255, 0])
    assert adjust_hue(red, None) is red
    with pytest.raises(ValueError, match="hue_factor"):
        adjust_hue(red, 0.7)


def test_color_jitter_transform_runs_on_an_image_pair() -> None:
    importlib.import_module("midway_plugin.mmflow")
    from midway_plugin.compat.mmflow_color_jitter import ColorJitter

    rng = np.random.default_rng(0)
    img1 = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    results = {"img1": img1.copy(), "img2": img1.copy()}
    np.random.seed(0)
    # The upstream RAFT FlyingChairs settings (configs/_base_/datasets/flyingchairs_raft_368x496.py).
    jitter = ColorJitter(asymmetric_prob=0.0, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.5 / 3.14)
    out = jitter(results)
    assert out["img1"].shape == img1.shape and out["img1"].dtype == np.uint8
    assert not np.array_equal(out["img1"], img1)
    np.testing.assert_array_equal(out["img1"], out["img2"])  # symmetric: same jitter for both
