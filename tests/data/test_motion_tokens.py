"""Motion in tokens at the model's input (data/motion_tokens.py): the formula, its statistics and the warning."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from midway_plugin.data.motion_tokens import (
    DEMO_CROP_SCALE,
    DEMO_DELTA_T,
    TINY_INPUT_SIZE,
    TINY_PATCH_SIZE,
    SubTokenMotionWarning,
    token_motion_stats,
    tokens_per_pixel,
    warn_if_sub_token,
)
from midway_plugin.data.synthetic.render import generate_video

REPO = Path(__file__).resolve().parents[2]
# 64 x 64 frames, crop area 1/4 -> a 32 px box, resized to 32 px, patch 8: one token = 8 px of motion.
HAND = dict(crop_scale=(0.25, 0.25), input_size=32, patch_size=8)


def test_hand_computed_case() -> None:
    assert tokens_per_pixel((64, 64), (0.25, 0.25), 32, 8) == pytest.approx(1 / 8)
    assert tokens_per_pixel((64, 64), (0.2, 0.3), 64, 8) == pytest.approx(64 / math.sqrt(0.25 * 64 * 64) / 8)
    # 4 px per frame over dt = 1, 2, 3 frames: 0.5, 1.0, 1.5 tokens, each dt equally likely.
    stats = token_motion_stats([4.0], (64, 64), delta_t=(1, 3), **HAND)
    assert stats["median"] == pytest.approx(1.0) and stats["mean"] == pytest.approx(1.0)
    assert stats["p90"] == pytest.approx(1.5) and stats["fraction_ge_1"] == pytest.approx(2 / 3, abs=1e-4)
    # The same 4 px measured over a 2-frame flow is 2 px per frame: half the tokens.
    halved = token_motion_stats([4.0], (64, 64), delta_t=(1, 3), frame_gap=2, **HAND)
    assert halved["median"] == pytest.approx(0.5) and halved["fraction_ge_1"] == 0
    # Weights count samples: three of 8 px (1 token at dt 1) against one of 80 px.
    weighted = token_motion_stats([8.0, 80.0], (64, 64), delta_t=(1, 1), weights=[3, 1], **HAND)
    assert weighted["median"] == pytest.approx(1.0) and weighted["mean"] == pytest.approx((3 + 10) / 4)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="delta_t"):
        token_motion_stats([1.0], (64, 64), delta_t=(0, 2))
    with pytest.raises(ValueError, match="crop_scale"):
        token_motion_stats([1.0], (64, 64), crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="frame_gap"):
        token_motion_stats([1.0], (64, 64), frame_gap=0)
    assert token_motion_stats([], (64, 64)) == {}


def test_defaults_are_the_tiny_preset_and_the_demo_recipe() -> None:
    from midway_plugin.models import MidwayConfig

    tiny = MidwayConfig.tiny()
    assert (TINY_INPUT_SIZE, TINY_PATCH_SIZE) == (tiny.img_size, tiny.encoder_kwargs["patch_size"])
    demo = yaml.safe_load((REPO / "configs" / "pretrain" / "demo.yaml").read_text())["data"]
    assert list(DEMO_CROP_SCALE) == demo["motion"]["crop_scale"] and list(DEMO_DELTA_T) == demo["delta_t"]
    assert demo["motion"]["crop_size"] == TINY_INPUT_SIZE and demo["delta_unit"] == "frames"


def test_warning_fires_for_sub_token_motion_only() -> None:
    small = token_motion_stats([1.0], (64, 64), delta_t=(2, 2), **HAND)  # 0.25 token
    with pytest.warns(SubTokenMotionWarning, match=r"median 0\.25 token.*raise the speed"):
        assert warn_if_sub_token(small, "test set", "raise the speed")
    large = token_motion_stats([16.0], (64, 64), delta_t=(2, 2), **HAND)  # 4 tokens
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_sub_token(large, "test set", "raise the speed")


def _flow_tokens(video) -> dict:
    mags = np.hypot(video.flows[..., 0], video.flows[..., 1])
    return token_motion_stats(mags, video.frames.shape[1:3], delta_t=(1, 1))


def test_speeds_scale_the_statistics() -> None:
    pan = {
        s: generate_video(4, (24, 32), num_objects=0, seed=5, camera_speed=(s, s), camera_wobble=0) for s in (1.0, 3.0)
    }
    slow, fast = _flow_tokens(pan[1.0]), _flow_tokens(pan[3.0])
    assert fast["median"] == pytest.approx(3 * slow["median"], rel=1e-3)
    assert fast["mean"] == pytest.approx(3 * slow["mean"], rel=1e-3)
    objects = {
        s: _flow_tokens(
            generate_video(
                6, (48, 48), num_objects=3, seed=2, camera_speed=(s, s), object_speed=(s, s), camera_wobble=0
            )
        )
        for s in (1.0, 4.0)
    }
    assert objects[4.0]["mean"] > 3 * objects[1.0]["mean"]
