"""MidwayFlow: sizes, tiling, frozen readout, learning, loss, weights from exports."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmflow")

from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmflow.registry import MODELS  # noqa: E402
from mmflow.structures import FlowDataSample  # noqa: E402

import midway_plugin.mmflow  # noqa: E402,F401  (registers the modules)
from midway_plugin.mmflow.tiling import tiles, window_offsets  # noqa: E402
from midway_plugin.models import MidwayConfig, MidwayExportError, MidwayNetwork, load_export  # noqa: E402

PREPROCESSOR = dict(
    type="FlowDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True
)

init_default_scope("mmflow")  # what the runner does (default_scope in the configs)


def build(export: Path | None, flowdata, **kwargs) -> torch.nn.Module:
    cfg = dict(
        type="MidwayFlow",
        export=str(export) if export else None,
        head=flowdata.small_head,
        data_preprocessor=PREPROCESSOR,
    )
    if export is None:
        from midway_plugin.models import MidwayConfig

        cfg["arch"] = MidwayConfig.tiny().to_dict()
    cfg.update(kwargs)
    return MODELS.build(cfg)


def batch(flowdata, n: int, h: int, w: int, dx: int, dy: int, seed: int = 0) -> dict:
    """A data batch as the dataloader gives it: uint8 (2, 3, H, W) inputs + FlowDataSamples with gt."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(n):
        img1, img2 = flowdata.textured_pair(rng, h, w, dx, dy)
        inputs.append(torch.from_numpy(np.stack([img1, img2])).permute(0, 3, 1, 2).contiguous())
        s = FlowDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
        s.gt_flow_fw = PixelData(data=torch.from_numpy(flowdata.constant_flow(h, w, dx, dy)).permute(2, 0, 1))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def epe(model, data) -> float:
    model.eval()
    with torch.no_grad():
        out = model.test_step(copy.deepcopy(data))
    errs = [(o.pred_flow_fw.data - o.gt_flow_fw.data).norm(dim=0).mean().item() for o in out]
    return float(np.mean(errs))


@pytest.mark.parametrize("size", [(37, 45), (50, 29), (24, 40)])
def test_output_has_input_size(tiny_export, flowdata, size) -> None:
    model = build(tiny_export, flowdata).eval()
    x = torch.randn(2, 6, *size)
    out = model(x, mode="tensor")
    assert out["flow"].shape == (2, 2, *size) and out["conf"].shape == (2, 1, *size)
    assert torch.isfinite(out["flow"]).all()


def test_output_size_with_patch16_and_inputpad8(tiny16_export, flowdata) -> None:
    """Patch-16 model behind MMFlow's InputPad(exponent=3) (multiple of 8, not of 16): crops back to ori."""
    model = build(tiny16_export, flowdata).eval()
    assert model.patch_size == 16
    data = batch(flowdata, 1, 40, 56, 1, 2)  # 40 x 56: multiples of 8, not of 16
    data["data_samples"][0].set_metainfo(dict(pad=[[1, 2], [3, 1]], ori_shape=(37, 52), img_shape=(40, 56)))
    data["data_samples"][0].gt_flow_fw = PixelData(data=torch.zeros(2, 37, 52))
    out = model.test_step(data)
    assert out[0].pred_flow_fw.data.shape == (2, 37, 52)


def test_predict_sets_every_sample_of_a_batch(tiny_export, flowdata) -> None:
    model = build(tiny_export, flowdata).eval()
    out = model.test_step(batch(flowdata, 3, 32, 40, 1, 0))
    assert len(out) == 3 and all(o.pred_flow_fw.data.shape == (2, 32, 40) for o in out)


def test_tiles_cover_exactly_once_without_overlap() -> None:
    assert window_offsets(96, 48, 0.0) == [0, 48]
    assert window_offsets(100, 48, 0.5) == [0, 17, 35, 52]  # 1 + ceil(52 / 24) windows
    cover = torch.zeros(64, 96)
    for rows, cols in tiles(64, 96, (32, 48), 0.0):
        cover[rows, cols] += 1
    assert torch.equal(cover, torch.ones(64, 96))
    with pytest.raises(ValueError, match="overlap"):
        window_offsets(96, 48, 1.0)


def test_tiled_equals_whole_per_tile_without_overlap(tiny_export, flowdata) -> None:
    torch.manual_seed(0)
    model = build(tiny_export, flowdata, test_cfg=dict(mode="tile", crop_size=(32, 48), overlap=0.0)).eval()
    x = torch.randn(1, 6, 64, 96)
    with torch.no_grad():
        tiled, tiled_conf = model.predict_flow(x)
        assert tiled.shape == (1, 2, 64, 96)
        for rows, cols in tiles(64, 96, (32, 48), 0.0):
            whole, conf = model.flow_and_confidence(x[:, :3, rows, cols], x[:, 3:, rows, cols])
            torch.testing.assert_close(tiled[:, :, rows, cols], whole, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(tiled_conf[:, :, rows, cols], conf, rtol=1e-4, atol=1e-5)
        # a tiled prediction is not the whole-image one (context differs), so the test above is not vacuous
        whole_image, _ = model.flow_and_confidence(x[:, :3], x[:, 3:])
        assert not torch.allclose(whole_image, tiled, atol=1e-5)


def test_tiled_with_overlap_and_small_images_is_finite(tiny_export, flowdata) -> None:
    model = build(tiny_export, flowdata, test_cfg=dict(mode="tile", crop_size=(32, 48), overlap=0.7)).eval()
    with torch.no_grad():
        flow, conf = model.predict_flow(torch.randn(2, 6, 70, 101))
        assert flow.shape == (2, 2, 70, 101) and torch.isfinite(flow).all() and torch.isfinite(conf).all()
        small, _ = model.predict_flow(torch.randn(1, 6, 20, 30))  # smaller than the crop: upscaled and back
        assert small.shape == (1, 2, 20, 30) and torch.isfinite(small).all()


def test_bad_test_cfg_is_named(tiny_export, flowdata) -> None:
    with pytest.raises(ValueError, match="test_cfg.crop_size"):
        build(tiny_export, flowdata, test_cfg=dict(mode="tile"))
    with pytest.raises(ValueError, match="test_cfg.mode"):
        build(tiny_export, flowdata, test_cfg=dict(mode="slide"))
    with pytest.raises(ValueError, match="unknown model.test_cfg key"):
        build(tiny_export, flowdata, test_cfg=dict(mode="whole", stride=3))


def test_frozen_backbone_keeps_its_weights(tiny_export, flowdata) -> None:
    model = build(tiny_export, flowdata, frozen=True)
    model.train()
    assert not model.backbone.training and model.head.training
    before_backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    before_head = {k: v.clone() for k, v in model.head.state_dict().items()}
    optim = build_optim_wrapper(model, dict(optimizer=dict(type="AdamW", lr=1e-2, weight_decay=0.05)))
    for step in range(3):
        losses = model.train_step(batch(flowdata, 2, 32, 48, 2, -1, seed=step), optim)
        assert torch.isfinite(losses["loss_flow"])
    after = model.backbone.state_dict()
    assert all(torch.equal(before_backbone[k], after[k]) for k in after)
    assert any(not torch.equal(before_head[k], v) for k, v in model.head.state_dict().items())
    assert all(not p.requires_grad for p in model.backbone.parameters())


def test_flow_head_learns_a_translation(flowdata) -> None:
    """A few dozen steps on pairs with a known constant translation bring EPE far below its start."""
    torch.manual_seed(0)
    model = build(None, flowdata)
    dx, dy = 3, -2
    probe = batch(flowdata, 2, 32, 48, dx, dy, seed=100)
    start = epe(model, probe)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type="AdamW", lr=2e-3)))
    for step in range(40):
        model.train()
        model.train_step(batch(flowdata, 2, 32, 48, dx, dy, seed=step), optim)
    end = epe(model, probe)
    assert start > 2.5, start  # |(3, -2)| = 3.6 for a near-zero initial prediction
    assert end < 0.35 * start, (start, end)


def test_laplacian_loss_bounded_formula() -> None:
    from midway_plugin.mmflow.laplacian_loss_bounded import LaplacianLossBounded

    torch.manual_seed(0)
    loss_fn = LaplacianLossBounded(a=0.25, b=4.0)
    pred, gt, x = torch.randn(2, 2, 5, 6), torch.randn(2, 2, 5, 6) * 3, torch.randn(2, 1, 5, 6)
    gt[0, :, 0, 0] = float("inf")
    valid = torch.ones(2, 5, 6)
    valid[1, 2, :] = 0
    s = 3.75 * torch.sigmoid(x[:, 0]) + 0.25
    nll = (gt - pred).abs().sum(1) / s + torch.log(s)
    mask = torch.isfinite(gt).all(1) & (valid > 0.5)
    torch.testing.assert_close(loss_fn(pred, x, gt, valid), nll[mask].mean())
    # confidence trades off against the error: large error -> the loss prefers the upper bound of the scale
    big = torch.full((1, 2, 3, 3), 10.0)
    zero = torch.zeros(1, 2, 3, 3)
    assert loss_fn(zero, torch.full((1, 1, 3, 3), 10.0), big) < loss_fn(zero, torch.full((1, 1, 3, 3), -10.0), big)
    none_valid = loss_fn(pred, x, gt, torch.zeros(2, 5, 6))
    assert none_valid.item() == 0.0
    with pytest.raises(ValueError, match="0 < a < b"):
        LaplacianLossBounded(a=4.0, b=1.0)


def test_pretrained_and_random_dynamics(tiny_export, flowdata) -> None:
    exp = load_export(tiny_export)
    model = build(tiny_export, flowdata)
    vit = model.backbone.encoder.vit.state_dict()
    assert all(torch.equal(vit[k], v) for k, v in exp.encoder_state.items())
    own = model.backbone.export_state_dict()
    assert all(torch.equal(own[k], v) for k, v in exp.dynamics_state.items())

    random_dyn = build(tiny_export, flowdata, init_dynamics="random")
    vit = random_dyn.backbone.encoder.vit.state_dict()
    assert all(torch.equal(vit[k], v) for k, v in exp.encoder_state.items())
    own = random_dyn.backbone.export_state_dict()
    # every randomly initialised matrix differs from the export (biases/norms/zero-init tokens may coincide)
    matrices = [k for k, v in exp.dynamics_state.items() if v.ndim >= 2 and v.std() > 0]
    assert matrices and all(not torch.equal(own[k], exp.dynamics_state[k]) for k in matrices)


def test_export_mismatch_is_reported_key_by_key(tiny_export, flowdata) -> None:
    with pytest.raises(MidwayExportError) as err:
        build(tiny_export, flowdata, config_overrides=dict(forward_depth=3))
    text = str(err.value)
    missing = [
        k
        for k in MidwayNetwork(MidwayConfig.tiny(forward_depth=3), with_teacher=False).export_state_dict()
        if k.startswith("dynamics.predictor.") and ".blocks.2." in k
    ]
    assert str(tiny_export) in text and "missing" in text and len(missing) >= 2
    assert all(k in text for k in missing)  # every key is named, none summarised


def test_non_export_files_are_refused(tmp_path, flowdata) -> None:
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(MidwayExportError, match="plain.safetensors.*not a Midway export"):
        build(plain, flowdata)
    junk = tmp_path / "model.pth"
    junk.write_bytes(b"not a tensor file")
    with pytest.raises(MidwayExportError, match="model.pth"):
        build(junk, flowdata)
    with pytest.raises(FileNotFoundError, match="missing.safetensors.*midway export"):
        build(tmp_path / "missing.safetensors", flowdata)


def test_no_dynamics_export_gets_random_dynamics(tmp_path, flowdata) -> None:
    from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export

    path = tmp_path / "base.safetensors"
    save_export(MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False)), path)
    model = build(path, flowdata)
    assert model.backbone.cfg.latent_dynamics
    out = model(torch.randn(1, 6, 32, 32), mode="tensor")
    assert math.isfinite(out["flow"].sum().item())


def test_init_weights_keeps_the_export(tiny_export, flowdata) -> None:
    model = build(tiny_export, flowdata)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.init_weights()
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


def test_missing_export_with_arch_builds_for_testing_but_refuses_training(tmp_path, flowdata) -> None:
    model = build(tmp_path / "gone.safetensors", flowdata, arch="tiny")
    assert model(torch.randn(1, 6, 32, 32), mode="tensor")["flow"].shape == (1, 2, 32, 32)
    with pytest.raises(FileNotFoundError, match="gone.safetensors.*model.export"):
        model.init_weights()
    with pytest.raises(ValueError, match="unknown arch='vit-h14'"):
        build(tmp_path / "gone.safetensors", flowdata, arch="vit-h14")


def test_predict_undoes_input_resize(tiny_export, flowdata) -> None:
    """InputResize metainfo (no pad): the flow is resized to ori_shape and its u, v divided by the scales."""
    model = build(tiny_export, flowdata).eval()
    data = batch(flowdata, 1, 32, 48, 0, 0)
    data["data_samples"][0].set_metainfo(dict(ori_shape=(16, 32), img_shape=(32, 48), scale_factor=(1.5, 2.0)))
    with torch.no_grad():
        flow, _ = model.predict_flow(model.data_preprocessor(copy.deepcopy(data))["inputs"])
        out = model.test_step(data)[0].pred_flow_fw.data
    assert out.shape == (2, 16, 32)
    expected = torch.nn.functional.interpolate(flow, size=(16, 32), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(out, expected / torch.tensor([1.5, 2.0]).view(2, 1, 1))


def test_frozen_and_removed_names(tiny_export, flowdata) -> None:
    model = build(tiny_export, flowdata, frozen=True)
    assert model.frozen and not any(p.requires_grad for p in model.backbone.parameters())
    model.train()
    assert not model.backbone.training and model.head.training
    assert not build(tiny_export, flowdata).frozen
    for old in ("freeze_backbone", "midway_config"):  # aliases of a first version: refused by name
        with pytest.raises(TypeError, match=old):
            build(tiny_export, flowdata, **{old: True})


def test_init_cfg_pretrained_loads_the_export_and_other_init_cfgs_are_refused(tiny_export, flowdata) -> None:
    """init_cfg=dict(type='Pretrained', ...) was accepted and never applied (the file was not even opened)."""
    exp = load_export(tiny_export)
    model = build(None, flowdata, arch="tiny", init_cfg=dict(type="Pretrained", checkpoint=str(tiny_export)))
    own = model.backbone.export_state_dict()
    assert all(torch.equal(own[k], v) for k, v in exp.state_dict.items())
    model.init_weights()
    for bad, named in (
        (dict(type="Kaiming", layer="Conv2d"), "Kaiming"),
        (dict(type="Pretrained", checkpoint=str(tiny_export), prefix="backbone."), "prefix"),
    ):
        with pytest.raises(ValueError, match=f"MidwayFlow: init_cfg=.*{named}.*not supported"):
            build(None, flowdata, arch="tiny", init_cfg=bad)
    with pytest.raises(ValueError, match="both export=.*init_cfg"):
        build(tiny_export, flowdata, init_cfg=dict(type="Pretrained", checkpoint=str(tiny_export)))


def test_unexpected_export_keys_are_refused_by_name(tiny_export, flowdata, tmp_path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(tiny_export), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(tiny_export))
    tensors["dynamics.extra.weight"] = torch.zeros(3)
    extra = tmp_path / "extra.safetensors"
    save_file(tensors, str(extra), metadata=metadata)
    with pytest.raises(MidwayExportError, match=r"unexpected 1 key\(s\): dynamics.extra.weight"):
        build(extra, flowdata)
    with pytest.raises(MidwayExportError, match=r"unexpected 1 key\(s\): dynamics.extra.weight"):
        MODELS.build(dict(type="MidwayViTEncoder", export=str(extra)))
