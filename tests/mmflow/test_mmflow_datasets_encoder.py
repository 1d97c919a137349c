"""TartanAir / SintelSplit / LoadFlowAnnotations on tiny trees; MidwayViTEncoder inside MMFlow's RAFT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmflow")

from mmengine.registry import init_default_scope  # noqa: E402
from mmflow.registry import DATASETS, MODELS  # noqa: E402

import midway_plugin.mmflow  # noqa: E402,F401

PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadFlowAnnotations"), dict(type="PackFlowInputs")]

init_default_scope("mmflow")  # what the runner does (default_scope in the configs)


@pytest.mark.parametrize("nested", [False, True])
def test_tartanair_pairs_and_npy_flow(tmp_path, flowdata, nested) -> None:
    root = flowdata.write_tartanair(tmp_path / "TartanAir", nested=nested)
    ds = DATASETS.build(dict(type="TartanAir", data_root=str(root), pipeline=PIPELINE))
    assert len(ds) == 4  # 2 environments x (3 frames -> 2 consecutive pairs)
    info = ds.get_data_info(0)
    assert info["img1_path"].endswith("000000_left.png") and info["img2_path"].endswith("000001_left.png")
    assert info["flow_fw_path"].endswith("000000_000001_flow.npy") and "mask_fw_path" not in info
    item = ds[0]
    assert item["inputs"].shape == (2, 3, 48, 64)
    flow = item["data_samples"].gt_flow_fw.data
    assert flow.shape == (2, 48, 64) and torch.all(flow[0] == 2) and torch.all(flow[1] == -1)

    masked = DATASETS.build(
        dict(
            type="TartanAir",
            data_root=str(root),
            use_mask=True,
            envs=["ocean"],
            difficulties=["Easy"],
            pipeline=PIPELINE,
        )
    )
    assert len(masked) == 2
    valid = masked[0]["data_samples"].gt_valid_fw.data
    assert valid.shape == (1, 48, 64) and valid[0, :, 0].sum() == 0 and valid[0, :, 1:].min() == 1


def test_tartanair_errors_name_the_problem(tmp_path, flowdata) -> None:
    with pytest.raises(FileNotFoundError, match="data_root"):
        DATASETS.build(dict(type="TartanAir", data_root=str(tmp_path / "none"), pipeline=PIPELINE))
    root = flowdata.write_tartanair(tmp_path / "TartanAir")
    with pytest.raises(FileNotFoundError, match="environment 'forest'"):
        DATASETS.build(dict(type="TartanAir", data_root=str(root), envs=["forest"], pipeline=PIPELINE))
    missing = root / "office" / "Easy" / "P000" / "flow" / "000001_000002_flow.npy"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match="000001_000002_flow.npy"):
        DATASETS.build(dict(type="TartanAir", data_root=str(root), pipeline=PIPELINE))
    with pytest.raises(ValueError, match="Medium"):
        DATASETS.build(dict(type="TartanAir", data_root=str(root), difficulties=["Medium"]))


def test_bad_npy_flow_shape_is_named(tmp_path, flowdata) -> None:
    root = flowdata.write_tartanair(tmp_path / "TartanAir", frames=2)
    bad = root / "ocean" / "Easy" / "P000" / "flow" / "000000_000001_flow.npy"
    np.save(bad, np.zeros((48, 64, 3), np.float32))
    ds = DATASETS.build(dict(type="TartanAir", data_root=str(root), envs=["ocean"], pipeline=PIPELINE))
    with pytest.raises(ValueError, match=r"000000_000001_flow.npy has shape \(48, 64, 3\)"):
        ds[0]


def test_sintel_split(tmp_path, flowdata) -> None:
    root = flowdata.write_sintel(tmp_path / "Sintel")
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackFlowInputs")]

    def build(split, pass_style="clean"):
        return DATASETS.build(
            dict(type="SintelSplit", split=split, pass_style=pass_style, data_root=str(root), pipeline=pipeline)
        )

    assert len(build("train")) == 4
    subval = build("subval", "final")
    assert len(subval) == 2 and all("temple_2" in subval.get_data_info(i)["img1_path"] for i in range(2))
    assert "/final/" in subval.get_data_info(0)["img1_path"]
    subtrain = build("subtrain")
    assert len(subtrain) == 2 and "alley_1" in subtrain.get_data_info(0)["img1_path"]
    assert subtrain[0]["data_samples"].gt_flow_fw.data.shape == (2, 70, 90)
    with pytest.raises(ValueError, match="split"):
        build("val")


def test_vit_encoder_strides(tiny16_export, tiny_export) -> None:
    enc16 = MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny16_export), out_channels=32))
    out = enc16(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 32, 8, 12)  # stride-16 tokens brought to stride 8
    assert enc16(torch.randn(1, 3, 40, 56)).shape == (1, 32, 5, 7)  # InputPad(exponent=3) sizes
    enc8 = MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export), out_channels=16, out_blocks=(3, 4)))
    assert enc8(torch.randn(1, 3, 32, 48)).shape == (1, 16, 4, 6)
    with pytest.raises(ValueError, match="out_blocks"):
        MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export), out_blocks=(7,)))
    for old in ("levels", "freeze", "midway_config"):  # aliases of a first version: refused by name
        with pytest.raises(TypeError, match=old):
            MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export), **{old: None}))
    with pytest.raises(ValueError, match="out_stride"):
        MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny16_export), out_stride=3))


def test_vit_encoder_out_blocks_and_frozen(tiny_export) -> None:
    """``out_blocks`` are paper block numbers; a frozen encoder stays in eval mode, only the projection trains."""
    enc = MODELS.build(
        dict(type="MidwayViTEncoder", export=str(tiny_export), out_channels=16, out_blocks=(3, 4), frozen=True)
    )
    assert enc.out_blocks == (3, 4) and enc.levels == [2, 3] and enc.frozen
    enc.train()
    assert not enc.encoder.training and enc.project.training
    assert not any(p.requires_grad for p in enc.encoder.parameters()) and enc.project.weight.requires_grad
    out = enc(torch.randn(1, 3, 32, 48))
    out.sum().backward()
    assert enc.project.weight.grad is not None
    default = MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export)))
    assert default.out_blocks == (4,)  # the top level
    with pytest.raises(ValueError, match=r"out_blocks=\(12,\).*feature-level blocks \(1, 2, 3, 4\)"):
        MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export), out_blocks=(12,)))


def test_raft_runs_on_midway_features(tiny16_export) -> None:
    from mmengine.config import Config
    from mmengine.structures import PixelData
    from mmflow.structures import FlowDataSample

    root = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(root / "configs/mmflow/raft_midway-vit-s16_8xb2_100k_flyingchairs-368x496.py"))
    cfg.model.encoder.export = str(tiny16_export)
    cfg.model.cxt_encoder.export = str(tiny16_export)
    cfg.model.decoder.iters = 2
    model = MODELS.build(cfg.model)
    before = {k: v.clone() for k, v in model.encoder.encoder.state_dict().items()}
    model.init_weights()
    assert all(torch.equal(before[k], v) for k, v in model.encoder.encoder.state_dict().items())
    inputs = [torch.randint(0, 255, (2, 3, 64, 96), dtype=torch.uint8) for _ in range(2)]
    samples = []
    for _ in range(2):
        s = FlowDataSample(metainfo=dict(ori_shape=(64, 96), img_shape=(64, 96)))
        s.gt_flow_fw = PixelData(data=torch.ones(2, 64, 96))
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    losses = model.loss(**data)
    assert torch.isfinite(losses["loss_flow"])
    losses["loss_flow"].backward()
    assert model.encoder.encoder.vit.patch_embed.proj.weight.grad is not None
    model.eval()
    with torch.no_grad():
        out = model.predict(data["inputs"], data["data_samples"])
    assert out[0].pred_flow_fw.data.shape == (2, 64, 96)


def test_vit_encoder_arch_overrides_and_init_cfg(tiny_export) -> None:
    """``arch`` without an export, ``config_overrides`` on the export's config, ``init_cfg`` as ``export``."""
    random = MODELS.build(dict(type="MidwayViTEncoder", arch="tiny", config_overrides=dict(img_size=48)))
    assert random.encoder.vit.pos_embed.shape == (1, 1 + 6 * 6, 48)
    changed = MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export), config_overrides=dict(img_size=48)))
    assert changed.encoder.vit.pos_embed.shape == (1, 1 + 6 * 6, 48)
    by_init_cfg = MODELS.build(
        dict(type="MidwayViTEncoder", init_cfg=dict(type="Pretrained", checkpoint=str(tiny_export)))
    )
    by_export = MODELS.build(dict(type="MidwayViTEncoder", export=str(tiny_export)))
    assert all(
        torch.equal(a, b)
        for a, b in zip(by_init_cfg.encoder.state_dict().values(), by_export.encoder.state_dict().values(), strict=True)
    )
    with pytest.raises(ValueError, match="MidwayViTEncoder: init_cfg=.*Kaiming.*not supported"):
        MODELS.build(dict(type="MidwayViTEncoder", arch="tiny", init_cfg=dict(type="Kaiming")))
    with pytest.raises(ValueError, match="set `export`.*or `arch`"):
        MODELS.build(dict(type="MidwayViTEncoder"))
