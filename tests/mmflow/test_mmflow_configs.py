"""Every config under configs/mmflow parses, builds on the CPU and states the paper's recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("mmflow")

from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmflow.registry import DATASETS, MODELS  # noqa: E402

import midway_plugin.mmflow  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "mmflow").glob("*.py"))
MAIN = ROOT / "configs/mmflow/midwayflow_vit-s16_1xb8_900k_croco-mix-320x384.py"
ABLATION = ROOT / "configs/mmflow/midwayflow_vit-s16_1xb8_100k_flyingchairs-flyingthings3d-320x384.py"

init_default_scope("mmflow")  # what the runner does (default_scope in the configs)


def test_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {
        MAIN.name,
        ABLATION.name,
        "midwayflow-frozen_vit-s16_1xb8_900k_croco-mix-320x384.py",
        "midwayflow-enc-only_vit-s16_1xb8_900k_croco-mix-320x384.py",
        "raft_midway-vit-s16_8xb2_100k_flyingchairs-368x496.py",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_parses_and_builds(path: Path, tiny16_export) -> None:
    text = path.read_text()
    assert text.startswith("# Reproduces:") or text.startswith("# Not a paper table"), "header comment missing"
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
    assert cfg.default_scope == "mmflow"
    if cfg.model.type == "MidwayFlow":
        cfg.model.export = str(tiny16_export)
    else:
        cfg.model.encoder.export = str(tiny16_export)
        cfg.model.cxt_encoder.export = str(tiny16_export)
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    assert len(optim.optimizer.param_groups) > 0
    if cfg.model.type == "MidwayFlow":
        with torch.no_grad():
            out = model.eval()(torch.randn(1, 6, 48, 64), mode="tensor")
        assert out["flow"].shape == (1, 2, 48, 64)


def test_main_protocol_recipe() -> None:
    cfg = Config.fromfile(str(MAIN))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, tuple(opt.betas), opt.weight_decay) == ("AdamW", 2e-5, (0.9, 0.95), 0.05)
    assert cfg.train_dataloader.batch_size == 8 and cfg.train_cfg.max_iters == 900000
    mix = cfg.train_dataloader.dataset.datasets
    kinds = [
        (
            d.get("times", 1),
            (d.dataset if "dataset" in d else d).type,
            (d.dataset if "dataset" in d else d).get("pass_style"),
        )
        for d in mix
    ]
    assert kinds == [
        (40, "SintelSplit", "clean"),
        (40, "SintelSplit", "final"),
        (4, "FlyingThings3D", "clean"),
        (4, "FlyingThings3D", "final"),
        (4, "FlyingChairs", None),
        (1, "TartanAir", None),
    ]
    for d in mix:
        pipeline = (d.dataset if "dataset" in d else d).pipeline
        assert [s for s in pipeline if s.type == "RandomCrop"][0].crop_size == (320, 384)
    assert [e.prefix for e in cfg.test_evaluator] == ["things_clean", "things_final", "sintel_clean", "sintel_final"]
    assert [(d.dataset.type, d.dataset.get("split"), d.dataset.get("test_mode")) for d in cfg.test_dataloader] == [
        ("FlyingThings3D", None, True),
        ("FlyingThings3D", None, True),
        ("SintelSplit", "subval", None),
        ("SintelSplit", "subval", None),
    ]
    assert [e.prefix for e in cfg.val_evaluator] == ["sintel_clean", "sintel_final"]
    assert cfg.val_dataloader == cfg.test_dataloader[2:]
    assert cfg.model.test_cfg.mode == "tile" and cfg.model.flow_loss.type == "LaplacianLossBounded"
    frozen = Config.fromfile(str(MAIN.with_name("midwayflow-frozen_vit-s16_1xb8_900k_croco-mix-320x384.py")))
    assert frozen.model.frozen is True and frozen.model.init_dynamics == "pretrained"
    enc_only = Config.fromfile(str(MAIN.with_name("midwayflow-enc-only_vit-s16_1xb8_900k_croco-mix-320x384.py")))
    assert enc_only.model.init_dynamics == "random" and enc_only.model.frozen is False


def test_ablation_protocol_data() -> None:
    cfg = Config.fromfile(str(ABLATION))
    types = [d.dataset.type for d in cfg.train_dataloader.dataset.datasets]
    assert sorted(set(types)) == ["FlyingChairs", "FlyingThings3D"]
    assert [e.prefix for e in cfg.val_evaluator] == ["sintel_clean", "sintel_final"]
    assert cfg.train_cfg.max_iters == 100000 and cfg.param_scheduler[-1].end == 100000


def test_main_mix_pipelines_build_on_tiny_trees(tmp_path, flowdata) -> None:
    """The real train pipelines (ColorJitter, SpacialTransform, 320x384 crops) on generated Sintel/Chairs/TartanAir."""
    cfg = Config.fromfile(str(MAIN))
    size = (328, 392)  # like the real datasets, larger than the 320x384 crop (RAFT's scaling is random)
    sintel = flowdata.write_sintel(tmp_path / "Sintel", frames=2, size=size)
    chairs_split = flowdata.write_flyingchairs(tmp_path / "chairs", n_train=1, n_val=1, size=size)
    tartan = flowdata.write_tartanair(tmp_path / "TartanAir", frames=2, size=size)
    roots = {"SintelSplit": str(sintel), "FlyingChairs": str(tmp_path / "chairs"), "TartanAir": str(tartan)}
    built = 0
    for entry in cfg.train_dataloader.dataset.datasets:
        ds_cfg = entry.dataset if "dataset" in entry else entry
        if ds_cfg.type not in roots:
            continue  # FlyingThings3D: its layout is MMFlow's own dataset, not ours
        ds_cfg.data_root = roots[ds_cfg.type]
        if ds_cfg.type == "FlyingChairs":
            ds_cfg.split_file = str(chairs_split)
        item = DATASETS.build(ds_cfg)[0]
        assert item["inputs"].shape == (2, 3, 320, 384)
        assert item["data_samples"].gt_flow_fw.data.shape == (2, 320, 384)
        assert item["data_samples"].gt_valid_fw.data.shape[-2:] == (320, 384)
        built += 1
    assert built == 4


def test_main_config_builds_the_real_vit_s16_model(tmp_path) -> None:
    """Without the export file, `arch='vit-s16'` builds the paper-sized model (as `mim test` does)."""
    cfg = Config.fromfile(str(MAIN))
    cfg.model.export = str(tmp_path / "not_exported_yet.safetensors")
    model = MODELS.build(cfg.model).eval()
    assert model.backbone.encoder.embed_dim == 384 and model.backbone.cfg.midway_dim == 192
    assert [r.project.in_channels for r in model.head.reassemble] == [384, 192, 384, 384]
    with torch.no_grad():
        out = model(torch.randn(1, 6, 40, 56), mode="tensor")  # not multiples of 16
    assert out["flow"].shape == (1, 2, 40, 56) and torch.isfinite(out["flow"]).all()
    with pytest.raises(FileNotFoundError, match="not_exported_yet"):
        model.init_weights()
