"""``midway import-official``: a synthetic checkpoint in the official implementation's key layout → an export."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from midway_plugin.cli import main as cli_main
from midway_plugin.models import build_from_export, load_export, load_timm_vit
from midway_plugin.models.official_checkpoint import (
    OfficialCheckpointError,
    convert_official_checkpoint,
    load_official_checkpoint,
)

# A small model in the official layout: width 192 (DINO's vit_tiny, 3 heads), 4 blocks, patch 8 at 32 px
# (4 x 4 grid), 4 feature levels, midway width 48 with 2 blocks and 4 tokens, forward depth 2.
D, DEPTH, PATCH, GRID, MD, TOKENS, MDEPTH, FDEPTH, LEVELS = 192, 4, 8, 4, 48, 4, 2, 2, 4


def _ln(prefix: str, dim: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": torch.randn(dim), f"{prefix}.bias": torch.randn(dim)}


def _lin(prefix: str, out: int, inp: int, bias: bool = True) -> dict[str, torch.Tensor]:
    sd = {f"{prefix}.weight": torch.randn(out, inp)}
    if bias:
        sd[f"{prefix}.bias"] = torch.randn(out)
    return sd


def _self_block(prefix: str, dim: int, qkv_bias: bool) -> dict[str, torch.Tensor]:
    """DINO/official ``Block``: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2."""
    return {
        **_ln(f"{prefix}.norm1", dim), **_lin(f"{prefix}.attn.qkv", 3 * dim, dim, qkv_bias),
        **_lin(f"{prefix}.attn.proj", dim, dim), **_ln(f"{prefix}.norm2", dim),
        **_lin(f"{prefix}.mlp.fc1", 4 * dim, dim), **_lin(f"{prefix}.mlp.fc2", dim, 4 * dim),
    }  # fmt: skip


def _cross_block(prefix: str, dim: int) -> dict[str, torch.Tensor]:
    """Official ``CrossBlock`` (qkv_bias False in the dynamics module)."""
    return {
        **_ln(f"{prefix}.norm1", dim), **_lin(f"{prefix}.attn.qkv", 3 * dim, dim, False),
        **_lin(f"{prefix}.attn.proj", dim, dim),
        **_lin(f"{prefix}.cross_attn.projq", dim, dim, False), **_lin(f"{prefix}.cross_attn.projk", dim, dim, False),
        **_lin(f"{prefix}.cross_attn.projv", dim, dim, False), **_lin(f"{prefix}.cross_attn.proj", dim, dim),
        **_ln(f"{prefix}.norm2", dim), **_ln(f"{prefix}.norm3", dim), **_ln(f"{prefix}.norm_y", dim),
        **_lin(f"{prefix}.mlp.fc1", 4 * dim, dim), **_lin(f"{prefix}.mlp.fc2", dim, 4 * dim),
    }  # fmt: skip


def _wrapper(prefix: str) -> dict[str, torch.Tensor]:
    """Multi-crop wrapper: DINO ViT under ``backbone.`` + DINO head under ``head.``."""
    sd = {
        "cls_token": torch.randn(1, 1, D), "pos_embed": torch.randn(1, 1 + GRID * GRID, D),
        "patch_embed.proj.weight": torch.randn(D, 3, PATCH, PATCH), "patch_embed.proj.bias": torch.randn(D),
        **_ln("norm", D),
    }  # fmt: skip
    for b in range(DEPTH):
        sd.update(_self_block(f"blocks.{b}", D, qkv_bias=True))
    out = {f"{prefix}backbone.{k}": v for k, v in sd.items()}
    out.update({
        f"{prefix}head.mlp.0.weight": torch.randn(64, D),
        f"{prefix}head.last_layer.weight_g": torch.ones(32, 1),
        f"{prefix}head.last_layer.weight_v": torch.randn(32, 16),
    })
    return out


def official_checkpoint() -> dict:
    motion = {
        "pos_embed": torch.randn(1, 2 * (1 + GRID * GRID), MD), "motion_tokens": torch.randn(1, TOKENS, MD),
        **_lin("student_embed", MD, D), **_lin("teacher_embed", MD, D), **_lin("motion_proj", D, MD),
    }  # fmt: skip
    for i in range(LEVELS - 1):
        motion.update(_cross_block(f"student_feature_blocks_{i}.0", D))
        motion.update(_cross_block(f"teacher_feature_blocks_{i}.0", D))
        for j in range(MDEPTH):
            motion.update(_self_block(f"motion_blocks_{i}.{j}", MD, qkv_bias=False))
        for j in range(FDEPTH):
            motion.update(_self_block(f"forward_predictor_{i}.{j}", D, qkv_bias=False))
        for b in range(FDEPTH - 1):
            motion.update({**_ln(f"gating_mlps_{i}.{b}.norm_layer", D), **_lin(f"gating_mlps_{i}.{b}.mlp.fc1", D, D),
                           **_lin(f"gating_mlps_{i}.{b}.mlp.fc2", D, D)})
    return {
        "student": _wrapper("module."),  # DDP-wrapped
        "teacher": _wrapper(""),
        "motion_loss": {f"module.{k}": v for k, v in motion.items()},
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
        "epoch": 300,
        "args": argparse.Namespace(arch="vit_small", lr=5e-4),  # a non-tensor class, like hydra's DictConfig
        "fp16_scaler": {"scale": np.float64(65536.0)},
        "dino_loss": {"center": torch.zeros(1, 32)},
    }


@pytest.fixture()
def official(tmp_path):
    ckpt = official_checkpoint()
    path = tmp_path / "midway-official.pth"
    torch.save(ckpt, path)
    return ckpt, path


def test_loads_with_weights_only_and_stubs_non_tensor_entries(official):
    ckpt, path = official
    loaded = load_official_checkpoint(path)
    assert set(loaded) == set(ckpt)
    assert torch.equal(loaded["teacher"]["backbone.cls_token"], ckpt["teacher"]["backbone.cls_token"])
    assert not isinstance(loaded["args"], argparse.Namespace)  # an inert placeholder, nothing executed


def test_import_official_cli_maps_every_tensor(official, tmp_path, capsys):
    ckpt, path = official
    out = tmp_path / "export.safetensors"
    assert cli_main(["import-official", str(path), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "teacher weights" in printed

    export = load_export(out)
    cfg = export.config
    assert cfg.feature_levels == (1, 2, 3, 4) and cfg.midway_dim == MD and cfg.num_motion_tokens == TOKENS
    assert cfg.midway_depth == MDEPTH and cfg.forward_depth == FDEPTH and cfg.img_size == GRID * PATCH
    assert cfg.encoder_kwargs["embed_dim"] == D and cfg.encoder_kwargs["num_heads"] == 3
    sd = export.state_dict
    teacher, motion = ckpt["teacher"], ckpt["motion_loss"]
    # Encoder: teacher weights under timm names.
    assert torch.equal(sd["blocks.2.attn.qkv.weight"], teacher["backbone.blocks.2.attn.qkv.weight"])
    assert torch.equal(sd["pos_embed"], teacher["backbone.pos_embed"])
    # Backward layers: teacher copy; separate k/v projections fused; norm_y -> norm_memory.
    kv = torch.cat([motion["module.teacher_feature_blocks_0.0.cross_attn.projk.weight"],
                    motion["module.teacher_feature_blocks_0.0.cross_attn.projv.weight"]])
    assert torch.equal(sd["dynamics.backward.level1.cross_attn.kv.weight"], kv)
    assert torch.equal(sd["dynamics.backward.level2.norm_memory.bias"],
                       motion["module.teacher_feature_blocks_1.0.norm_y.bias"])
    assert torch.equal(sd["dynamics.backward.level3.cross_attn.q.weight"],
                       motion["module.teacher_feature_blocks_2.0.cross_attn.projq.weight"])
    # Midway path and predictors: level index i <-> feature_levels[i].
    assert torch.equal(sd["dynamics.midway.blocks.level3.1.attn.qkv.weight"],
                       motion["module.motion_blocks_2.1.attn.qkv.weight"])
    assert torch.equal(sd["dynamics.midway.src_embed.weight"], motion["module.student_embed.weight"])
    assert torch.equal(sd["dynamics.midway.motion_tokens"], motion["module.motion_tokens"])
    assert torch.equal(sd["dynamics.predictor.level2.blocks.1.mlp.fc2.weight"],
                       motion["module.forward_predictor_1.1.mlp.fc2.weight"])
    assert torch.equal(sd["dynamics.predictor.level2.gates.0.fc1.weight"],
                       motion["module.gating_mlps_1.0.mlp.fc1.weight"])
    assert torch.equal(sd["dynamics.predictor.level1.gates.0.norm.weight"],
                       motion["module.gating_mlps_0.0.norm_layer.weight"])
    # Like the official dynamics modules, the core's have no qkv bias: nothing is zero-filled.
    assert "dynamics.predictor.level1.blocks.0.attn.qkv.bias" not in sd

    # The export rebuilds strictly, and as a plain timm ViT.
    net = build_from_export(out).eval()
    vit = load_timm_vit(out).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(vit.forward_features(x)[:, 0], net.encoder.forward_cls(x), atol=1e-5)


def test_student_weights_on_request(official):
    ckpt, _ = official
    conversion = convert_official_checkpoint(ckpt, use_teacher=False)
    assert torch.equal(conversion.state_dict["cls_token"], ckpt["student"]["module.backbone.cls_token"])
    kv = torch.cat([ckpt["motion_loss"]["module.student_feature_blocks_0.0.cross_attn.projk.weight"],
                    ckpt["motion_loss"]["module.student_feature_blocks_0.0.cross_attn.projv.weight"]])
    assert torch.equal(conversion.state_dict["dynamics.backward.level1.cross_attn.kv.weight"], kv)


def test_unknown_and_missing_keys_are_named(official, tmp_path, capsys):
    ckpt, _ = official
    ckpt["motion_loss"]["module.mystery_layer.weight"] = torch.randn(3)
    del ckpt["motion_loss"]["module.motion_proj.weight"]
    path = tmp_path / "odd.pth"
    torch.save(ckpt, path)
    rc = cli_main(["import-official", str(path), str(tmp_path / "out.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "motion_loss.mystery_layer.weight" in err
    assert "dynamics.midway.motion_proj.weight" in err
    assert not (tmp_path / "out.safetensors").exists()


def test_not_a_midway_checkpoint(tmp_path, capsys):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(OfficialCheckpointError, match="no 'teacher' entry"):
        convert_official_checkpoint(load_official_checkpoint(path))
    assert cli_main(["import-official", str(tmp_path / "missing.pth"), str(tmp_path / "o.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_encoder_only_checkpoint_gives_an_encoder_only_export(tmp_path):
    ckpt = official_checkpoint()
    path = tmp_path / "teacher_only.pth"
    torch.save({"teacher": ckpt["teacher"]}, path)
    out = tmp_path / "encoder.safetensors"
    assert cli_main(["import-official", str(path), str(out)]) == 0
    export = load_export(out)
    assert export.config.latent_dynamics is False and not export.dynamics_state
    assert torch.equal(export.encoder_state["norm.weight"], ckpt["teacher"]["backbone.norm.weight"])
