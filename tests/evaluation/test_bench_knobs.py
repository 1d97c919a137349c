"""`midway bench quality` knobs and recipes: where each flag lands (stages built, not run) and what bad values say."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from midway_plugin.cli import main
from midway_plugin.commands.bench import register, settings_from_args
from midway_plugin.evaluation.quality import Run

SMALL = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "small_synthetic.yaml"


def _run(tmp_path: Path, *flags: str) -> Run:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["bench", "quality", "--out", str(tmp_path / "out"), "--variants", "base,full", *flags])
    run = Run(settings_from_args(args))
    run.build()
    return run


def _overrides(cmd: list[str]) -> dict[str, str]:
    """``--key value`` pairs of a ``midway pretrain`` command line."""
    start = cmd.index("pretrain") + 1
    return dict(zip(cmd[start::2], cmd[start + 1 :: 2]))


def _stage(run: Run, key: str):
    return next(st for st in run.stages if st.key == key)


def test_pretraining_knobs_reach_every_pretraining_command_and_the_record(tmp_path) -> None:
    run = _run(
        tmp_path,
        "--seeds",
        "2",
        "--patch-size",
        "4",
        "--embed-dim",
        "64",
        "--depth",
        "8",
        "--heads",
        "4",
        "--delta-t",
        "1,3",
        "--head-output-dim",
        "256",
        "--head-hidden-dim",
        "96",
        "--head-bottleneck-dim",
        "32",
        "--teacher-temp",
        "0.02",
        "--student-temp",
        "0.2",
        "--momentum-start",
        "0.99",
        "--dino-photometric",
        "0",
        "--motion-photometric",
        "0.5",
    )
    pretrains = [st for st in run.stages if st.step == "pretrain"]
    assert len(pretrains) == 4
    for st in pretrains:
        o = _overrides(st.cmd)
        assert json.loads(o["--model.encoder_kwargs"]) == {"embed_dim": 64, "depth": 8, "num_heads": 4, "patch_size": 4}
        assert json.loads(o["--model.feature_levels"]) == [2, 4, 6, 8]
        assert o["--model.forward_heads"] == o["--model.backward_heads"] == "4"
        assert json.loads(o["--data.delta_t"]) == [1, 3] and o["--data.delta_unit"] == "frames"
        assert (o["--method.head_output_dim"], o["--method.head_hidden_dim"], o["--method.head_bottleneck_dim"]) == (
            "256",
            "96",
            "32",
        )
        assert (o["--method.teacher_temp"], o["--method.student_temp"], o["--method.momentum_start"]) == (
            "0.02",
            "0.2",
            "0.99",
        )
        assert json.loads(o["--data.dino.gaussian_blur"]) == [0, 0, 0] and o["--data.dino.cj_prob"] == "0.0"
        assert o["--data.dino.random_gray_scale"] == o["--data.dino.solarization_prob"] == "0.0"
        # half the paper's (the transform's defaults): jitter 0.8, grayscale 0.2, blur (1.0, 0.1), solarisation 0.2
        assert json.loads(o["--data.motion.gaussian_blur"]) == [0.5, 0.05] and o["--data.motion.cj_prob"] == "0.4"
    assert _overrides(pretrains[0].cmd)["--model.latent_dynamics"] == "false"  # the variant's switch stays
    model = run.pretraining.model
    assert model.encoder_kwargs["patch_size"] == 4 and model.feature_levels == (2, 4, 6, 8)
    # the model-free references and the readout follow the encoder
    assert _stage(run, "reference/zeroshot").cmd[_stage(run, "reference/zeroshot").cmd.index("--patch") + 1] == "4"
    seg = " ".join(_stage(run, "full/seed0/seg-train").cmd)
    assert "model.decode_head.in_channels=64" in seg and "model.backbone.out_blocks=8" in seg
    # the make-video statistics describe the same pairs
    mv = _stage(run, "data/make-video").cmd
    assert mv[mv.index("--stats-patch-size") + 1] == "4" and mv[mv.index("--stats-delta-t") + 1] == "1,3"
    record = run.results()
    assert record["settings"]["patch_size"] == 4 and record["settings"]["dino_photometric"] == 0.0
    assert record["settings"]["motion_photometric"] == 0.5 and record["settings"]["recipe"] == "demo"
    assert record["pretrain_overrides"]["method.teacher_temp"] == 0.02


def test_unset_knobs_leave_the_config_alone(tmp_path) -> None:
    o = _overrides(_stage(_run(tmp_path), "full/seed0/pretrain").cmd)
    assert not any(k.startswith(("--method.", "--data.dino", "--data.motion", "--model.encoder")) for k in o)
    assert "--data.delta_t" not in o


def test_data_knobs_reach_make_video_and_the_pan_only_control(tmp_path) -> None:
    run = _run(
        tmp_path,
        "--object-speed",
        "3,6",
        "--camera-speed",
        "2,4",
        "--texture-wavelength",
        "12,24",
        "--frame-gap",
        "2",
        "--pan-only",
    )
    main_data, pan = _stage(run, "data/make-video").cmd, _stage(run, "data@pan/make-video").cmd
    for cmd in (main_data, pan):
        assert cmd[cmd.index("--object-speed") + 1] == "3,6" and cmd[cmd.index("--camera-speed") + 1] == "2,4"
        assert cmd[cmd.index("--texture-wavelength") + 1] == "12,24" and cmd[cmd.index("--frame-gap") + 1] == "2"
    assert "--pan-only" in pan and "--pan-only" not in main_data and "--objects" not in pan
    assert {st.unit for st in run.stages} == {
        "data",
        "data@pan",
        "reference",
        "base/seed0",
        "full/seed0",
        "base/seed1",
        "full/seed1",
        "base/seed2",
        "full/seed2",
        "base@pan/seed0",
        "full@pan/seed0",
    }
    pre = _stage(run, "full@pan/seed0/pretrain")
    assert _overrides(pre.cmd)["--data.root"] == str(tmp_path / "out" / "data_pan" / "train_videos")
    assert "data@pan/make-video" in pre.after
    zs = _stage(run, "full@pan/seed0/zeroshot").cmd
    assert zs[zs.index("--data") + 1] == str(tmp_path / "out" / "data_pan") and "{val@pan}" in zs
    assert (
        f"train_dataloader.dataset.data_root={tmp_path / 'out' / 'data_pan'}"
        in _stage(run, "full@pan/seed0/flow-train").cmd
    )
    assert run.results()["settings"]["frame_gap"] == 2 and run.results()["settings"]["pan_only"] is True
    # --seeds N gives the control N seeds too
    assert run.settings.pan_seeds == 1
    assert _run(tmp_path, "--pan-only", "--seeds", "2").settings.pan_seeds == 1  # the control stays seed 0
    assert _run(tmp_path, "--pan-only", "--pan-seeds", "2").settings.pan_seeds == 2


def test_small_recipe(tmp_path) -> None:
    run = _run(tmp_path, "--recipe", "small", "--quick")
    s = run.settings
    assert s.recipe == "small" and s.pretrain_config == SMALL and s.size == (40, 40)
    assert (s.num_videos, s.val_videos) == (6, 2)  # --quick on top of the recipe
    model = run.pretraining.model
    assert model.img_size == 32 and model.encoder_kwargs == {
        "embed_dim": 48,
        "depth": 4,
        "num_heads": 3,
        "patch_size": 4,
    }
    method, data = run.pretraining.config["method"], run.pretraining.config["data"]
    assert (method["head_output_dim"], method["head_hidden_dim"], method["head_bottleneck_dim"]) == (256, 128, 64)
    assert (method["teacher_temp"], method["momentum_start"], method["momentum_end"]) == (0.02, 0.99, 1.0)
    assert data["delta_t"] == [1, 3]
    for view in ("dino", "motion"):
        assert data[view]["cj_prob"] == data[view]["random_gray_scale"] == data[view]["solarization_prob"] == 0
        assert not any(data[view]["gaussian_blur"])
    full = _run(tmp_path, "--recipe", "small").settings
    assert (full.num_videos - full.val_videos, full.val_videos, full.pretrain_steps) == (144, 24, 1200)
    assert full.object_speed == (3.0, 6.0) and full.camera_speed == (2.0, 4.0)


def test_small_recipe_config_prints(capsys) -> None:
    assert main(["pretrain", "--print_config", "--config", str(SMALL)]) == 0
    printed = capsys.readouterr().out
    assert "patch_size: 4" in printed and "head_output_dim: 256" in printed and "teacher_temp: 0.02" in printed


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--recipe", "huge"], "--recipe: unknown recipe 'huge'; known: demo, small"),
        (["--dino-photometric", "1.5"], "--dino-photometric must be in [0, 1]"),
        (["--motion-photometric", "-0.1"], "--motion-photometric must be in [0, 1]"),
        (["--patch-size", "5"], "--patch-size 5 does not divide the model's input size 32 px"),
        (["--embed-dim", "50"], "--embed-dim 50 is not divisible by --heads 3"),
        (["--depth", "0"], "--depth must be >= 1, got 0"),
        (["--teacher-temp", "0"], "--teacher-temp must be > 0"),
        (["--momentum-start", "1.5"], "--momentum-start must be in [0, 1]"),
        (["--delta-t", "0,3"], "--delta-t must be MIN,MAX frames with 1 <= MIN <= MAX"),
        (["--texture-wavelength", "1,4"], "--texture-wavelength must be MIN,MAX with 2 <= MIN <= MAX"),
        (["--frame-gap", "3"], "--zs-gap (4) must be a multiple of --frame-gap (3)"),
        (["--frame-gap", "0"], "--frame-gap must be >= 1"),
        (["--head-output-dim", "0"], "--head-output-dim must be >= 1"),
        (["--pan-only", "--variants", "no-gating"], "--pan-only runs base and full"),
        (["--pan-only", "--pan-seeds", "0"], "--pan-seeds must be >= 1"),
    ],
)
def test_bad_knobs_are_named(tmp_path, capsys, flags, message) -> None:
    assert main(["bench", "quality", "--out", str(tmp_path / "o"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unparsable_range_is_named(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "quality", "--out", str(tmp_path / "o"), "--object-speed", "3,1"])
    assert exit_info.value.code == 2
    assert "argument --object-speed: expected MIN <= MAX" in capsys.readouterr().err
