"""Every shipped pretraining config loads, validates and maps onto Midway / MidwayConfig / the transforms."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from midway_plugin.lightly.builders import build_transform
from midway_plugin.lightly.midway import Midway
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config, parse_overrides
from midway_plugin.lightly.pretrain_plan import PretrainPlan
from midway_plugin.models import resolve_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "pretrain").glob("*.yaml"))


def test_all_configs_present():
    assert {p.name for p in CONFIGS} >= {
        "midway_vit-s16_bdd100k.yaml",
        "midway_vit-s16_wt-venice.yaml",
        "midway_vit-b16_bdd100k.yaml",
        "demo.yaml",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_maps_onto_the_method(path):
    config = load_config(path)
    cfg = resolve_config(config["model"], name="model")
    plan = PretrainPlan.from_config(config)
    inspect.signature(Midway).bind(**plan.midway_kwargs)
    transform = build_transform(plan)
    assert transform.motion is not None and transform.dino is not None
    if path.stem.startswith("midway_"):  # the paper's recipes (demo and small_synthetic are CPU-sized)
        assert cfg.img_size == 224 and transform.dino.n_local_views == 8 and transform.dino.local_crop_size == 96
        assert config["method"]["head_output_dim"] == 65536 and config["optim"]["base_lr"] == 5e-4


def test_paper_recipe_numbers():
    bdd = load_config(CONFIGS[0].parent / "midway_vit-s16_bdd100k.yaml")
    assert PretrainPlan.from_config(bdd).max_epochs == 60  # 300 epochs at R = 5
    pairs = bdd["data"]["batch_size_per_device"] * bdd["data"]["repeat"] * bdd["trainer"]["devices"]
    assert pairs == 200
    wt = load_config(CONFIGS[0].parent / "midway_vit-s16_wt-venice.yaml")
    assert PretrainPlan.from_config(wt).max_epochs == 100 and wt["data"]["repeat"] == 1
    vitb = resolve_config(load_config(CONFIGS[0].parent / "midway_vit-b16_bdd100k.yaml")["model"], name="model")
    assert vitb.encoder == "vit_base_patch16_224" and vitb.forward_heads == 6 and vitb.backward_heads == 6


def test_overrides_and_errors(tmp_path):
    overrides = parse_overrides(
        ["--trainer.max_steps", "7", "--data.delta_t=[1, 3]", "--optim.lr_scaling_batch", "null"]
    )
    config = load_config(CONFIGS[0].parent / "demo.yaml", overrides)
    assert config["trainer"]["max_steps"] == 7 and config["data"]["delta_t"] == [1, 3]
    assert config["optim"]["lr_scaling_batch"] is None
    with pytest.raises(PretrainConfigError, match="'optim.lrr'"):
        load_config(None, {"optim.lrr": 1})
    with pytest.raises(PretrainConfigError, match="needs a value"):
        parse_overrides(["--trainer.max_steps"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  devicez: 2\n")
    with pytest.raises(PretrainConfigError, match=r"bad.yaml: unknown config key 'trainer.devicez'"):
        load_config(bad)
    with pytest.raises(ValueError, match="unknown model key"):
        resolve_config({"preset": "tiny", "midway_dims": 3}, name="model")


@pytest.mark.parametrize("flag", ["--print_config", "--print-config"])
def test_print_config_round_trips(flag, tmp_path, capsys):
    """The printed YAML, read back as ``--config``, resolves to the same config (and prints the same text)."""
    from midway_plugin.cli import main

    demo = CONFIGS[0].parent / "demo.yaml"
    args = ["--trainer.max_steps", "7", "--data.delta_t=[1, 3]", "--model.midway_dim", "64", "--optim.base_lr", "1e-3"]
    assert main(["pretrain", "--config", str(demo), *args, flag]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    assert load_config(tmp_path / "printed.yaml") == load_config(demo, parse_overrides(args))
    assert main(["pretrain", "--config", str(tmp_path / "printed.yaml"), "--print_config"]) == 0
    assert capsys.readouterr().out == printed
    assert "midway_dim: 64" in printed and "max_steps: 7" in printed and "base_lr: 0.001" in printed


def test_every_key_is_printed_with_its_default(capsys):
    from midway_plugin.cli import main

    bdd = CONFIGS[0].parent / "midway_vit-s16_bdd100k.yaml"
    assert main(["pretrain", "--config", str(bdd), "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["fused"] is None and printed["data"]["seek_check"] == "fallback"
    assert set(printed) == {"seed", "output_dir", "model", "method", "optim", "data", "trainer"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("5\n", "the top level must be a mapping, got int"),
        ("- 1\n", "the top level must be a mapping, got list"),
        ("trainer: [\n", "invalid YAML"),
        ("seed: 1\nseed: 2\n", "invalid YAML"),
        (
            "method:\n  dino_weight: 1\n  headz: 3\n",
            "unknown config key 'method.headz' (known at this level: center_momentum",
        ),
        ("data:\n  motion: {crop_size: big}\n", "config key 'data.motion.crop_size' = 'big' (str) must be an integer"),
        ("output_dir: ${nowhere}\n", "config key 'output_dir': Interpolation key 'nowhere' not found"),
    ],
)
def test_bad_files_are_named(tmp_path, text, message):
    bad = tmp_path / "cfg.yaml"
    bad.write_text(text)
    with pytest.raises(PretrainConfigError) as info:
        load_config(bad)
    assert message in str(info.value)
    assert str(bad) in str(info.value) or message.startswith("config key")  # resolved after the merge


def test_small_recipe_at_vit_s16_differs_only_in_model_crops_and_trainer():
    """small_synthetic_vit-s16.yaml (benchmarks/gpu_table3.sh) is the small-scale recipe with the paper's encoder."""
    small = load_config(CONFIGS[0].parent / "small_synthetic.yaml")
    vits = load_config(CONFIGS[0].parent / "small_synthetic_vit-s16.yaml")
    assert vits["method"] == small["method"] and vits["optim"] == small["optim"]
    sizes = {"crop_size", "global_crop_size", "local_crop_size"}
    for key in ("motion", "dino"):
        assert {k: v for k, v in vits["data"][key].items() if k not in sizes} == {
            k: v for k, v in small["data"][key].items() if k not in sizes
        }, key
    for key in ("delta_t", "delta_unit", "repeat", "mode"):
        assert vits["data"][key] == small["data"][key], key
    cfg = resolve_config(vits["model"], name="model")
    assert cfg.img_size == 224 and cfg.encoder == "vit_small_patch16_224" and cfg.feature_levels == (3, 6, 9, 12)
    assert build_transform(PretrainPlan.from_config(vits)).motion.crop_size == 224
