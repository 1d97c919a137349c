"""Every shipped pretraining config loads, validates and maps onto Midway / MidwayConfig / the transforms."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from midway_plugin.lightly.midway import Midway, resolve_model_config
from midway_plugin.lightly.builders import build_transform, lightning_max_epochs, method_kwargs
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config, parse_overrides

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "pretrain").glob("*.yaml"))


def test_all_configs_present():
    assert {p.name for p in CONFIGS} >= {"midway_vit-s16_bdd100k.yaml", "midway_vit-s16_wt-venice.yaml",
                                         "midway_vit-b16_bdd100k.yaml", "demo.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_maps_onto_the_method(path):
    config = load_config(path)
    cfg = resolve_model_config(config["model"])
    inspect.signature(Midway).bind(**method_kwargs(config, config["trainer"]["epochs"]))
    transform = build_transform(config)
    assert transform.motion is not None and transform.dino is not None
    if path.stem != "demo":
        assert cfg.img_size == 224 and transform.dino.n_local_views == 8 and transform.dino.local_crop_size == 96
        assert config["method"]["head_output_dim"] == 65536 and config["optim"]["base_lr"] == 5e-4


def test_paper_recipe_numbers():
    bdd = load_config(CONFIGS[0].parent / "midway_vit-s16_bdd100k.yaml")
    assert lightning_max_epochs(bdd, "folder") == 60  # 300 epochs at R = 5
    pairs = bdd["data"]["batch_size_per_device"] * bdd["data"]["repeat"] * bdd["trainer"]["devices"]
    assert pairs == 200
    wt = load_config(CONFIGS[0].parent / "midway_vit-s16_wt-venice.yaml")
    assert lightning_max_epochs(wt, "single") == 100 and wt["data"]["repeat"] == 1
    vitb = resolve_model_config(load_config(CONFIGS[0].parent / "midway_vit-b16_bdd100k.yaml")["model"])
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
        resolve_model_config({"preset": "tiny", "midway_dims": 3})
