"""The zero-shot readouts' computations (midway_plugin.evaluation.readouts) on tiny grids with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from midway_plugin.evaluation import readouts as r

PATCH = 8


def shifted_pair(grid: tuple[int, int], shift: tuple[int, int], dim: int = 16):
    """Target features random; source token p is target token p + shift (an exact integer-token move)."""
    h, w = grid
    target = torch.randn(h * w, dim, generator=torch.Generator().manual_seed(0))
    rows, cols = np.divmod(np.arange(h * w), w)
    tr, tc = rows + shift[1], cols + shift[0]
    inside = (tr >= 0) & (tr < h) & (tc >= 0) & (tc < w)
    source = torch.randn(h * w, dim, generator=torch.Generator().manual_seed(1))  # content that leaves: noise
    source[inside] = target[(tr * w + tc)[inside]]
    flow = np.broadcast_to(np.array(shift, float) * PATCH, (h, w, 2)).copy()
    return source, target, flow, inside.reshape(h, w)


@pytest.mark.parametrize("shift", [(2, 0), (-1, 2), (3, -3)])
def test_local_window_matching_of_exact_features_finds_the_shift(shift) -> None:
    grid = (7, 8)
    source, target, flow, valid = shifted_pair(grid, shift)
    moving = r.moving_tokens(flow, valid, PATCH)
    assert moving.sum() == valid.sum() > 0
    match = r.local_window_match(source, target, grid, k=3) * PATCH
    assert r.endpoint_errors(match, flow, moving).max() == 0.0
    zero = r.endpoint_errors(np.zeros_like(flow), flow, moving)
    np.testing.assert_allclose(zero, np.hypot(*shift) * PATCH)
    assert r.endpoint_errors(r.window_oracle(flow, PATCH, 3), flow, moving).max() == 0.0


def test_a_shift_beyond_the_window_is_not_found() -> None:
    grid = (6, 9)
    source, target, flow, valid = shifted_pair(grid, (4, 0))
    match = r.local_window_match(source, target, grid, k=2)
    assert np.abs(match).max() <= 2
    oracle = r.window_oracle(flow, PATCH, 2)  # the best the window allows: 2 tokens, 16 px short
    assert r.endpoint_errors(oracle, flow, valid).min() == 2 * PATCH


def test_tokens_below_one_token_of_motion_are_excluded() -> None:
    flow = np.zeros((2, 3, 2))
    flow[0, 0] = (7.9, 0.0)  # just under a token
    flow[0, 1] = (0.0, -8.0)  # exactly one token
    flow[0, 2] = (6.0, 6.0)  # 8.49 px: one token diagonally
    flow[1, 0] = (20.0, 0.0)  # moving but invalid
    valid = np.ones((2, 3), bool)
    valid[1, 0] = False
    assert r.moving_tokens(flow, valid, PATCH).tolist() == [[False, True, True], [False, False, False]]
    assert (
        r.mean_or_nan([r.endpoint_errors(flow, flow, np.zeros((2, 3), bool))], "moving tokens")["reason"]
        == "no moving tokens"
    )


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        r.local_window_match(torch.zeros(4, 2), torch.zeros(4, 2), (2, 2), k=0)
    with pytest.raises(ValueError, match="features of 6 tokens"):
        r.local_window_match(torch.zeros(4, 2), torch.zeros(4, 2), (2, 3), k=1)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        r.offsource_mask((3, 3), -1)
    with pytest.raises(ValueError, match="min_tokens must be > 0"):
        r.moving_tokens(np.zeros((1, 1, 2)), np.ones((1, 1), bool), PATCH, 0)
    empty = r.mean_or_nan([], "moving tokens")
    assert math.isnan(empty["value"]) and empty["tokens"] == 0 and empty["reason"] == "no moving tokens"


def test_headroom_share_is_one_at_the_warp_and_zero_at_the_copy() -> None:
    assert r.headroom_share(0.8, 0.3, 0.3) == (1.0, None)
    assert r.headroom_share(0.8, 0.8, 0.3) == (0.0, None)
    assert r.headroom_share(0.8, 0.55, 0.3)[0] == pytest.approx(0.5)
    share, reason = r.headroom_share(0.3, 0.2, 0.4)
    assert math.isnan(share) and "no headroom" in reason


def test_warp_moves_features_by_an_integer_shift_and_copies_where_nothing_lands() -> None:
    grid = (5, 6)
    source, target, flow, _ = shifted_pair(grid, (-2, 1))
    warped = r.warp_tokens(source, flow, np.ones(grid, bool), PATCH)  # source token p lands on p + (-2, 1)
    rows, cols = np.divmod(np.arange(30), 6)
    landed = ((cols + 2) < 6) & ((rows - 1) >= 0)  # target q receives source q + (2, -1)
    inside = torch.from_numpy(landed)
    assert torch.equal(warped[inside], target[inside])
    assert torch.equal(warped[~inside], source[~inside])  # nothing lands: the copy
    half = r.warp_tokens(torch.eye(2), np.array([[[4.0, 0.0], [0.0, 0.0]]]), np.ones((1, 2), bool), PATCH)
    torch.testing.assert_close(half, torch.tensor([[1.0, 0.0], [1 / 3, 2 / 3]]))  # half a token: bilinear


def test_uniform_heatmap_direction_by_hand() -> None:
    """3x3 grid, radius 0: source token (0, 0) (top left), motion to the right."""
    flow = np.zeros((3, 3, 2))
    flow[0, 0] = (PATCH, 0.0)
    cos = r.heatmap_direction(np.ones((9, 9)), flow, radius=0)
    # off-source offsets from (0, 0): every (dx, dy) in {0,1,2}^2 but (0, 0): centroid (9/8, 9/8) -> cos 45° with x
    assert cos[0] == pytest.approx(1 / math.sqrt(2))
    assert np.isnan(cos[1:]).all()  # no motion: undefined
    # a heatmap on the true destination only has cosine 1; the source token's own value is ignored
    heat = np.zeros((9, 9))
    heat[0, 1] = 1.0
    heat[0, 0] = 5.0
    assert r.heatmap_direction(heat, flow, radius=0)[0] == pytest.approx(1.0)
    # radius 1 on a 3x3 grid: from the centre nothing is off-source
    centre = np.zeros((3, 3, 2))
    centre[1, 1] = (PATCH, 0.0)
    assert np.isnan(r.heatmap_direction(np.ones((9, 9)), centre, radius=1)[4])


def test_offsource_peak_error_and_its_uniform_control() -> None:
    flow = np.zeros((1, 4, 2))
    flow[0, 0] = (2 * PATCH, 0.0)  # destination: token 2
    heat = np.zeros((4, 4))
    heat[0, 0], heat[0, 1], heat[0, 2] = 9.0, 5.0, 1.0  # the source and its neighbour are excluded (radius 1)
    assert r.offsource_peak_error(heat, flow, PATCH, radius=1)[0] == 0.0
    assert r.offsource_peak_error(heat, flow, PATCH, radius=0)[0] == PATCH
    # uniform over the off-source tokens 2, 3 (radius 1): errors 0 and 8 px -> 4
    assert r.uniform_peak_error(flow, PATCH, radius=1)[0] == pytest.approx(PATCH / 2)
    assert r.offsource_destinations(flow, PATCH, radius=1).tolist() == [[True, False, False, False]]


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory):
    """A tiny held-out video panning 2 tokens per pair gap, and the exports of a base and a full tiny model."""
    from midway_plugin.cli import main
    from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export

    root = tmp_path_factory.mktemp("zs")
    assert (
        main(
            [
                "make-video",
                "--out",
                str(root / "data"),
                "--num-videos",
                "2",
                "--val-videos",
                "1",
                "--frames",
                "6",
                "--size",
                "32x32",
                "--pan-only",
                "--camera-speed",
                "4,4",
                "--no-save-frames",
            ]
        )
        == 0
    )
    torch.manual_seed(0)
    for name, cfg in (("full", MidwayConfig.tiny()), ("base", MidwayConfig.tiny(latent_dynamics=False))):
        save_export(MidwayNetwork(cfg, with_teacher=False), root / f"{name}.safetensors")
    return root


def _zeroshot(root, name, *extra):
    import json

    from midway_plugin.evaluation.zeroshot import main

    out = root / f"{name}.json"
    code = main(
        [
            "--data",
            str(root / "data"),
            "--videos",
            "synth_0001",
            "--export",
            str(root / f"{name}.safetensors"),
            "--gap",
            "4",
            "--pairs-per-video",
            "1",
            "--repeats",
            "1",
            "--out",
            str(out),
            *extra,
        ]
    )
    return code, (json.loads(out.read_text()) if code == 0 else None)


@pytest.fixture(scope="module")
def stage_results(stage_inputs):
    before = torch.get_num_threads()
    results = {name: _zeroshot(stage_inputs, name)[1] for name in ("base", "full")}
    torch.set_num_threads(before)  # the stage sets one thread
    return results


def test_the_stage_records_the_readouts_per_model(stage_results) -> None:
    full, base = stage_results["full"], stage_results["base"]
    for result in (full, base):
        local = result["readouts"]["local_window"]
        assert local["window"] == 3 and local["moving_tokens"] > 0 and local["reason"] is None
        assert set(local["levels"]) == {"level1", "level2", "level3", "level4"}
        assert local["references"]["window-oracle"] <= local["references"]["zero"]
    assert base["readouts"]["headroom"] is None and base["readouts"]["heatmap"] is None
    assert set(full["readouts"]["headroom"]) == {"level1", "level2", "level3"}
    for row in full["readouts"]["headroom"].values():
        assert row["warp"] < row["copy"]  # the pan moves whole tokens: the warp beats the copy
        assert row["share"] == pytest.approx((row["copy"] - row["predictor"]) / (row["copy"] - row["warp"]))
    heat = full["readouts"]["heatmap"]
    assert heat["block"] == 3 and heat["offsource_radius"] == 1 and heat["direction_tokens"] > 0
    assert heat["direction_minus_uniform"] == pytest.approx(heat["direction"] - heat["direction_uniform"])


def test_the_stage_names_a_bad_window(stage_inputs, capsys) -> None:
    code, _ = _zeroshot(stage_inputs, "full", "--window", "0")
    assert code == 2 and "--window must be >= 1 (got 0)" in capsys.readouterr().err


def test_the_report_shows_the_readouts(stage_results) -> None:
    from midway_plugin.evaluation.report import readouts_markdown, summarize

    units = {f"{n}/seed0": {"zeroshot": {"status": "ok", "result": stage_results[n]}} for n in ("base", "full")}
    summary = summarize(units, ["base", "full"])["readouts"]
    assert summary["base"]["dynamics"] is False and summary["full"]["dynamics"] is True
    text = "\n".join(readouts_markdown(summary))
    assert "| Base (DINO only) |" in text and "| Full Midway | block 3 |" in text
    assert "window oracle" in text and "direction ↑ | uniform | difference" in text
