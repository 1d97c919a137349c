"""Levels are named by 1-based encoder block in the public surface, and only so."""

from __future__ import annotations

import warnings

import pytest
import torch

from midway_plugin.analysis import (
    AnalysisError,
    pair_from_levels,
    perturbation_heatmaps,
    prepare_pair,
    track_feature_similarity,
    track_perturbation,
)
from midway_plugin.analysis.pair import encode_frames
from midway_plugin.models import MidwayConfig, MidwayNetwork


@pytest.fixture()
def setup(tiny_model):
    """A tiny model (feature_levels (1, 2, 3, 4), predictors at blocks 1, 2, 3) and three random 32x32 frames."""
    model = tiny_model(torch.float64)
    frames = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return model, frames


def _same_pair(a, b, *, exact: bool = True) -> None:
    assert (a.level_index, a.level_block, a.grid) == (b.level_index, b.level_block, b.grid)
    for name in ("inputs", "motion", "source_features", "target_features"):
        x, y = getattr(a, name), getattr(b, name)
        assert torch.equal(x, y) if exact else torch.allclose(x, y, rtol=0, atol=1e-12), name


def test_block_names_the_level_without_warnings(setup):
    model, frames = setup
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pair = prepare_pair(model, frames[:1], frames[1:2], block=2)
        default = prepare_pair(model, frames[:1], frames[1:2])
    assert (pair.level_block, pair.level_index) == (2, 1)
    assert (default.level_block, default.level_index) == (3, 2)  # the highest level with a predictor
    levels = encode_frames(model, frames)  # batched: equal to the one-frame encoding up to rounding
    from_levels = pair_from_levels(model, [lv[:1] for lv in levels], [lv[1:2] for lv in levels], 2, grid=(4, 4))
    _same_pair(pair, from_levels, exact=False)
    # What the predictor at block 2 consumes is the level-2 feature, not level 1's or 3's.
    assert torch.allclose(pair.source_features, levels[1][:1], rtol=0, atol=1e-12)


def test_the_index_keyword_of_a_first_version_is_gone(setup):
    model, frames = setup
    src, tgt = encode_frames(model, frames[:1]), encode_frames(model, frames[1:2])
    for call in (
        lambda: prepare_pair(model, frames[:1], frames[1:2], level_index=1),
        lambda: pair_from_levels(model, src, tgt, level_index=1),
        lambda: track_perturbation(model, frames, (1, 2), level_index=1),
        lambda: track_feature_similarity(model, frames, (1, 2), level_index=1),
    ):
        with pytest.raises(TypeError, match="level_index"):
            call()
    pair = prepare_pair(model, frames[:1], frames[1:2], 2)
    heat = perturbation_heatmaps(model, pair, [0, 5], repeats=2, generator=torch.Generator().manual_seed(0))
    assert heat.shape == (2, 4, 4)


def test_tracking_takes_blocks(setup):
    model, frames = setup
    new = track_perturbation(model, frames, (1, 2), 2, repeats=2, generator=torch.Generator().manual_seed(0))
    again = track_perturbation(model, frames, (1, 2), block=2, repeats=2, generator=torch.Generator().manual_seed(0))
    assert again.tokens == new.tokens and again.heat[1:] == new.heat[1:]  # heat[0] is NaN
    # Feature similarity compares any feature level, also one without a predictor (block 4).
    top = track_feature_similarity(model, frames, (1, 2), 4)
    assert len(top.tokens) == 3
    assert (
        track_feature_similarity(model, frames, (1, 2)).tokens
        == track_feature_similarity(model, frames, (1, 2), 3).tokens
    )


def test_bad_levels_name_the_value_and_the_valid_blocks(setup):
    model, frames = setup
    with pytest.raises(AnalysisError, match=r"level 4 has no forward predictor.*\[1, 2, 3\]"):
        prepare_pair(model, frames[:1], frames[1:2], 4)
    with pytest.raises(AnalysisError, match=r"level 9 has no forward predictor"):
        track_perturbation(model, frames, (0, 0), 9)
    with pytest.raises(
        AnalysisError, match=r"block=5: expected one or more of the feature-level blocks \(1, 2, 3, 4\)"
    ):
        track_feature_similarity(model, frames, (0, 0), 5)
    with pytest.raises(AnalysisError, match=r"level True has no forward predictor"):
        prepare_pair(model, frames[:1], frames[1:2], True)


def test_feature_similarity_needs_no_dynamics():
    torch.manual_seed(0)
    model = MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False), with_teacher=False).eval().double()
    frames = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    # Without a predictor the default is the top feature level (block 4).
    assert (
        track_feature_similarity(model, frames, (0, 0)).tokens
        == track_feature_similarity(model, frames, (0, 0), 4).tokens
    )
    with pytest.raises(AnalysisError, match="latent_dynamics=False"):
        track_perturbation(model, frames, (0, 0), 3)


def test_removed_alias_forward_ad_attention_is_gone():
    import midway_plugin.analysis as analysis

    with pytest.raises(AttributeError, match="forward_ad_attention"):
        analysis.forward_ad_attention  # noqa: B018  (the core's unfused_attention is the one name)
