"""The parts of `midway bench quality` that need no training: ground truth, scheduling, summaries, bad flags."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from midway_plugin.cli import main
from midway_plugin.evaluation.report import compare, markdown, summarize
from midway_plugin.evaluation.stages import Stage, run_stages
from midway_plugin.evaluation.variants import VARIANTS, parse_variants
from midway_plugin.evaluation.zeroshot import compose_flow, evaluate, load_pairs, token_average


def test_compose_flow_chains_translations_and_marks_pixels_that_leave() -> None:
    flows = [np.full((16, 16, 2), (1.5, -0.5), np.float32), np.full((16, 16, 2), (2.0, 0.0), np.float32)]
    total, valid = compose_flow(flows)
    np.testing.assert_allclose(total, np.broadcast_to([3.5, -0.5], total.shape))
    assert not valid[:, -3:].any() and not valid[0].any()  # x + 3.5 > 15 and y - 0.5 < 0 leave the frame
    assert valid[1:, :12].all()


def test_ground_truth_composes_flow_files_of_a_frame_gap(tmp_path, capsys) -> None:
    """Flow files spanning 2 frames (make-video --frame-gap 2) give the same 4-frame ground truth as 1-frame ones."""
    truth = {}
    for gap in (1, 2):
        out = tmp_path / f"gap{gap}"
        argv = [
            "make-video",
            "--out",
            str(out),
            "--frames",
            "8",
            "--size",
            "32x32",
            "--pan-only",
            "--frame-gap",
            str(gap),
            "--no-save-frames",
            "--camera-speed",
            "1,1",
        ]
        assert main(argv) == 0
        pairs = load_pairs(out, ["synth_0000"], gap=4, pairs_per_video=2, patch=8)
        truth[gap] = np.stack([p.pixel_flow for p in pairs])
        assert [p.source_index for p in pairs] == [0, 3]
    np.testing.assert_allclose(truth[2], truth[1], atol=1e-4)
    with pytest.raises(ValueError, match="multiple of 2"):
        load_pairs(tmp_path / "gap2", ["synth_0000"], gap=3, pairs_per_video=1, patch=8)


def test_compose_flow_follows_a_varying_field() -> None:
    # frame 0 -> 1 moves every pixel right by 1; frame 1 -> 2 moves pixels in column >= 8 down by 3
    first = np.zeros((16, 16, 2), np.float32)
    first[..., 0] = 1
    second = np.zeros((16, 16, 2), np.float32)
    second[:, 8:, 1] = 3
    total, _ = compose_flow([first, second])
    assert tuple(total[4, 7]) == (1.0, 3.0)  # lands in column 8 after the first step
    assert tuple(total[4, 5]) == (1.0, 0.0)


def test_token_average_and_validity() -> None:
    flow = np.zeros((16, 16, 2))
    flow[:8, :8] = (4.0, 0.0)
    valid = np.ones((16, 16), bool)
    valid[8:, 8:] = False
    valid[8:, :8][:, :3] = False  # 24 of 64 pixels invalid: the token stays
    mean, ok = token_average(flow, valid, 8)
    assert mean.shape == (2, 2, 2) and tuple(mean[0, 0]) == (4.0, 0.0)
    assert ok.tolist() == [[True, True], [True, False]]


def test_evaluate_is_the_mean_token_error() -> None:
    from midway_plugin.evaluation.zeroshot import Pair

    token_flow = np.zeros((2, 2, 2))
    token_flow[0, 0] = (3.0, 4.0)
    pair = Pair(
        "v",
        0,
        np.zeros((2, 16, 16, 3), np.uint8),
        token_flow,
        np.ones((2, 2), bool),
        np.zeros((16, 16, 2)),
        np.ones((16, 16), bool),
    )
    result = evaluate([pair], lambda p: {"zero": np.zeros_like(p.token_flow)}, 8)
    assert result["zero"] == {"epe": 5.0 / 4, "tokens": 4}


def test_scheduler_skips_dependents_of_a_failure_and_runs_the_rest(tmp_path) -> None:
    py = sys.executable
    stages = [
        Stage("a/one", "a", "one", [py, "-c", "import sys; print('boom error'); sys.exit(3)"], tmp_path / "a1.log"),
        Stage("a/two", "a", "two", [py, "-c", "pass"], tmp_path / "a2.log", after=("a/one",)),
        Stage(
            "b/one",
            "b",
            "one",
            [py, "-c", "print(6 * 7)"],
            tmp_path / "b1.log",
            parse=lambda: {"answer": int((tmp_path / "b1.log").read_text().split()[-1])},
        ),
        Stage("b/two", "b", "two", [py, "-c", "pass"], tmp_path / "b2.log", after=("b/one",), parse=lambda: 1 / 0),
    ]
    seen = []
    run_stages(stages, jobs=2, on_done=lambda s: seen.append((s.key, s.status)))
    status = {s.key: s for s in stages}
    assert status["a/one"].status == "failed" and "exit code 3: boom error" in status["a/one"].error
    assert status["a/two"].status == "skipped" and "a/one" in status["a/two"].error
    assert status["b/one"].status == "ok" and status["b/one"].result == {"answer": 42}
    assert status["b/two"].status == "failed" and "ZeroDivisionError" in status["b/two"].error
    assert sorted(seen) == sorted((s.key, s.status) for s in stages)


def _unit(miou: float, epe: float) -> dict:
    ok = "ok"
    return {
        "seg-test": {"status": ok, "result": {"mIoU": miou}},
        "flow-test": {"status": ok, "result": {"EPE": epe}},
        "pretrain": {"status": ok, "result": {"seconds_per_step": 0.5}},
    }


def test_summary_and_comparison() -> None:
    units = {
        "base/seed0": _unit(30.0, 2.0),
        "base/seed1": _unit(32.0, 2.2),
        "full/seed0": _unit(35.0, 1.0),
        "full/seed1": _unit(36.0, 1.1),
    }
    summary = summarize(units, ["base", "full"])
    assert summary["variants"]["base"]["miou"]["mean"] == 31.0
    assert summary["variants"]["full"]["epe_frozen"] is None
    cmp = summary["full_vs_base"]
    assert cmp["miou"]["full_minus_base"] == pytest.approx(4.5) and cmp["miou"]["exceeds_spread"]
    assert cmp["epe_finetune"]["full_better"] and "s_per_step" not in cmp
    assert cmp["miou"]["paired"]["differences"] == [5.0, 4.0] and cmp["miou"]["paired"]["same_sign"]
    close = compare({"miou": {"mean": 30, "std": 1, "n": 3}}, {"miou": {"mean": 31, "std": 1, "n": 3}})
    assert close["miou"]["full_better"] and close["miou"]["exceeds_spread"] is False
    single = compare({"miou": {"mean": 30, "std": 0, "n": 1}}, {"miou": {"mean": 31, "std": 0, "n": 3}})
    assert single["miou"]["exceeds_spread"] is None
    text = markdown(
        {
            "summary": summary,
            "settings": {
                "preset": "tiny",
                "pretrain_steps": 1,
                "batch_size": 1,
                "seg_iters": 1,
                "flow_iters": 1,
                "zs_gap": 1,
            },
            "started": "now",
            "elapsed_seconds": 1.0,
            "failures": [],
        }
    )
    assert "| Full Midway | 6 | ✓ | ✓ | ✓ | ✓ | ✓ | 35.50 ± 0.71 |" in text
    assert "| Base (DINO only) | 1 |  |  |  |  |  | 31.00 ± 1.41 |" in text


def test_variants() -> None:
    assert [v.name for v in parse_variants("all")] == list(VARIANTS)
    assert [v.name for v in parse_variants("full, base")] == ["base", "full"]
    with pytest.raises(ValueError, match="no-such"):
        parse_variants("base,no-such")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--variants", "bogus"], "--variants: unknown variant(s) ['bogus']"),
        (["--val-videos", "9", "--num-videos", "9"], "--val-videos must be in [1, --num-videos - 1]"),
        (["--pretrain-videos", "/no/such/dir"], "--pretrain-videos '/no/such/dir' does not exist"),
        (["--configs-dir", "/tmp"], "has no mmseg/"),
        (["--jobs", "0"], "--jobs must be >= 1"),
    ],
)
def test_bad_flags_are_named(tmp_path, capsys, flags, message) -> None:
    assert main(["bench", "quality", "--out", str(tmp_path / "o"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_flow_loss_chooses_the_flow_readout_configs(tmp_path) -> None:
    """`--flow-loss l1` swaps both flow readouts' configs (and only them) for existing L1 configs."""
    import argparse

    from midway_plugin.commands.bench import register, settings_from_args
    from midway_plugin.evaluation.quality import DOWNSTREAM, FLOW_CONFIGS, Run, downstream

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["bench", "quality", "--out", str(tmp_path / "o"), "--quick", "--flow-loss", "l1"])
    settings = settings_from_args(args)
    assert settings.flow_loss == "l1" and settings.record()["flow_loss"] == "l1"
    assert downstream() == DOWNSTREAM
    chosen = {ds.name: ds.config for ds in downstream("l1")}
    assert chosen["seg"] == DOWNSTREAM[0].config
    assert (chosen["flow"], chosen["flow-frozen"]) == (
        "midwayflow-l1_tiny_1xb8-2k_synthetic-64x64.py",
        "midwayflow-frozen-l1_tiny_1xb8-2k_synthetic-64x64.py",
    )
    assert all((settings.configs_dir / "mmflow" / name).is_file() for name in FLOW_CONFIGS["l1"].values())
    run = Run(settings)
    run.build()
    flow_cmds = [" ".join(st.cmd) for st in run.stages if st.step in ("flow-train", "flow-frozen-train")]
    assert len(flow_cmds) == 2 * len(settings.units()) and all("-l1_tiny" in c for c in flow_cmds), flow_cmds
    with pytest.raises(ValueError, match="--flow-loss must be one of"):
        downstream("huber")
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "quality", "--out", "o", "--flow-loss", "huber"])
