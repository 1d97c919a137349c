"""The dynamics learnability probe: its data, its positive control, and that its verdict can say no."""

from __future__ import annotations

import json

import pytest
import torch

from midway_plugin.cli import main
from midway_plugin.evaluation.learnability import (
    USE_MARGIN,
    LevelScores,
    ProbeResult,
    ProbeSettings,
    init_sensitivity,
    probe_dynamics,
    shifted_feature_pairs,
)
from midway_plugin.models import MidwayConfig


def _cfg() -> MidwayConfig:
    return MidwayConfig.tiny(encoder_kwargs={"embed_dim": 48, "depth": 4, "num_heads": 3, "patch_size": 4})


def test_target_content_is_the_source_content_rolled_by_the_shift():
    src, tgt, shifts = shifted_feature_pairs(6, 5, 16, 2, 0.0, torch.Generator().manual_seed(0))
    assert src.shape == tgt.shape == (6, 26, 16) and shifts.shape == (6, 2)
    assert int(shifts.abs().max()) <= 2
    for s, t, (dy, dx) in zip(src, tgt, shifts):
        grid = s[1:].T.reshape(16, 5, 5)  # no position code: tokens are pure (normed) content
        moved = torch.roll(grid, (int(dy), int(dx)), dims=(1, 2)).reshape(16, 25).T
        torch.testing.assert_close(moved, t[1:])


def test_position_code_differs_between_tokens_and_is_shared_by_both_frames():
    src, tgt, shifts = shifted_feature_pairs(64, 4, 16, 1, 1.0, torch.Generator().manual_seed(1))
    still = (shifts == 0).all(dim=1)
    assert still.any()
    torch.testing.assert_close(src[still], tgt[still])  # no shift: the target is the source
    assert not torch.allclose(src[~still], tgt[~still])


def test_oracle_motion_is_used_by_the_forward_predictor_positive_control():
    # The positive control: with the true shift as motion latents the predictor must learn to move content.
    result = probe_dynamics(_cfg(), ProbeSettings(grid=4, steps=150, batch_size=16, val_pairs=48), mode="oracle")
    for level, scores in result.levels.items():
        assert scores.pred < scores.copy - 0.1, (level, scores)
        assert scores.target_gain > USE_MARGIN, (level, scores)
    assert result.uses_target


def test_an_untrained_network_does_not_count_as_using_the_target():
    result = probe_dynamics(_cfg(), ProbeSettings(grid=4, steps=1, batch_size=4, val_pairs=32), mode="inferred")
    assert not result.uses_target
    for scores in result.levels.values():
        assert abs(scores.target_gain) < USE_MARGIN


def test_verdict_needs_every_level():
    good, bad = LevelScores(copy=1.0, pred=0.5, motion_use=0.9), LevelScores(copy=1.0, pred=0.5, motion_use=0.51)
    assert ProbeResult("inferred", {"level1": good, "level2": good}).uses_target
    assert not ProbeResult("inferred", {"level1": good, "level2": bad}).uses_target
    assert ProbeResult("inferred", {"level1": good}).to_dict()["levels"]["level1"]["target_gain"] == pytest.approx(0.4)


def test_init_sensitivity_measures_how_weakly_the_target_reaches_the_predictions():
    init = init_sensitivity(_cfg(), ProbeSettings(grid=4, val_pairs=16))
    assert 0 < init["prediction_change"] < init["motion_change"] < 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(grid=4, max_shift=2), "needs a grid of at least 5"),
        (dict(steps=0), "steps must be >= 1"),
        (dict(lr=0.0), "lr must be > 0"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProbeSettings(**kwargs)


def test_oracle_needs_dynamics():
    with pytest.raises(ValueError, match="latent_dynamics=True"):
        probe_dynamics(_cfg().replace(latent_dynamics=False), ProbeSettings(grid=4, steps=1))
    with pytest.raises(ValueError, match="mode must be one of"):
        probe_dynamics(_cfg(), ProbeSettings(grid=4, steps=1), mode="magic")


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "learn.json"
    code = main(["bench", "learnability", "--grid", "4", "--steps", "2", "--batch-size", "4", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| oracle | level3 |" in printed and "midway path supervised on the shift" in printed
    data = json.loads(out.read_text())
    assert set(data) >= {"settings", "config", "init", "inferred", "oracle", "midway_supervised"}
    assert data["config"]["encoder_kwargs"]["patch_size"] == 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "foo=1"], "unknown MidwayConfig field"),
        (["--set", "novalue"], "KEY=VALUE"),
        (["--max-shift", "5"], "needs a grid of at least 11"),
    ],
)
def test_cli_bad_input_is_named(argv, message, capsys):
    assert main(["bench", "learnability", "--steps", "1", *argv]) == 2
    assert message in capsys.readouterr().err
