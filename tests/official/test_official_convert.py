"""``midway import-official``: checkpoints with the official code's key layout and shapes → exports."""

from __future__ import annotations

import argparse

import pytest
import timm
import torch
from omegaconf import DictConfig
from timm.layers import resample_abs_pos_embed

from midway_plugin.cli import main as cli_main
from midway_plugin.models import MidwayConfig, MidwayNetwork, build_from_export, load_export, load_timm_vit
from midway_plugin.official.convert import (
    OfficialCheckpointError,
    convert_official_checkpoint,
    convert_official_training_state,
    load_official_checkpoint,
)
from midway_plugin.official.layout import (
    OfficialLayout,
    dynamics_shapes,
    official_checkpoint_shapes,
    vit_shapes,
)
from tests.official.official_fixture import official_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D, MD, TOKENS, MDEPTH, FDEPTH, PATCH, GRID = 192, 48, 4, 2, 2, 8, 4


@pytest.fixture(params=["dictconfig", "namespace"])
def official(request, tmp_path):
    ckpt = official_checkpoint(args=request.param)
    path = tmp_path / "midway-official.pth"
    torch.save(ckpt, path)
    return ckpt, path


def _count(shapes: dict, skip: tuple[str, ...] = ()) -> int:
    total = 0
    for key, shape in shapes.items():
        if not key.startswith(skip):
            n = 1
            for d in shape:
                n *= d
            total += n
    return total


def test_layout_matches_the_papers_parameter_counts():
    # Table 9: ViT-S encoder 21.7 M, dynamics networks 36.6 M (trainable: the EMA copies excluded).
    layout = OfficialLayout.vit_small()
    assert round(_count(vit_shapes(layout)) / 1e6, 1) == 21.7
    assert round(_count(dynamics_shapes(layout), skip=("teacher_",)) / 1e6, 1) == 36.6
    entries = official_checkpoint_shapes(layout)
    assert all(k.startswith("module.") for k in entries["student"]) and "backbone.norm.weight" in entries["teacher"]
    assert entries["teacher"]["dino_head.last_layer.weight_v"] == (65536, 256)
    assert entries["dino_loss"] == {"center": (1, 65536)}


@pytest.mark.parametrize("name", ["vit_small", "vit_base"])
def test_released_shapes_convert_with_no_unknown_or_missing_key(name):
    """ViT-S/B checkpoints at their real shapes (``meta`` tensors: no memory) fit the built model exactly."""
    layout = getattr(OfficialLayout, name)()
    ckpt = official_checkpoint(layout, device="meta")
    cfg = getattr(MidwayConfig, name)()
    with torch.device("meta"):
        expected = {
            k: tuple(v.shape)
            for k, v in MidwayNetwork(cfg, with_teacher=False).export_state_dict(use_teacher=False).items()
        }
    state = convert_official_training_state(ckpt, source=name, expected_keys=expected)
    report = state.report
    assert report.ok and not report.unknown and not report.zero_filled, report.problems()
    assert report.ignored == ["optimizer", "fp16_scaler", "epoch", "args"]
    for side in (state.student, state.teacher):
        assert {k: tuple(v.shape) for k, v in side.items()} == expected
    for field in (
        "encoder",
        "img_size",
        "feature_levels",
        "midway_dim",
        "midway_depth",
        "num_motion_tokens",
        "forward_depth",
        "midway_heads",
        "forward_heads",
        "backward_heads",
        "backward_layers",
        "gating",
    ):
        assert getattr(state.config, field) == getattr(cfg, field), field
    assert state.student_head["last_layer.weight_v"].shape == (65536, 256) and state.center.shape == (1, 65536)
    assert state.teacher_embed["weight"].shape == (192, layout.embed_dim)


def test_loads_with_weights_only_and_stubs_non_tensor_entries(official):
    ckpt, path = official
    loaded = load_official_checkpoint(path)
    assert set(loaded) == set(ckpt)
    assert torch.equal(loaded["teacher"]["backbone.cls_token"], ckpt["teacher"]["backbone.cls_token"])
    assert not isinstance(loaded["args"], (argparse.Namespace, DictConfig))  # inert placeholder, nothing executed
    assert loaded["epoch"] == 300 and loaded["fp16_scaler"]["_growth_tracker"] == 17


def test_import_official_cli_maps_every_tensor(official, tmp_path, capsys):
    ckpt, path = official
    out = tmp_path / "export.safetensors"
    assert cli_main(["import-official", str(path), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "teacher weights" in printed and "WARNING" not in printed
    skipped = printed.split("skipped (not part of an export): ")[1]
    for name in (
        "optimizer",
        "fp16_scaler",
        "epoch",
        "args",
        "dino_loss",
        "student (the other EMA copy)",
        "teacher.dino_head.*",
        "motion_loss.teacher_embed.*",
        "motion_loss.student_feature_blocks_*",
    ):
        assert name in skipped, name

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
    kv = torch.cat(
        [
            motion["module.teacher_feature_blocks_0.0.cross_attn.projk.weight"],
            motion["module.teacher_feature_blocks_0.0.cross_attn.projv.weight"],
        ]
    )
    assert torch.equal(sd["dynamics.backward.level1.cross_attn.kv.weight"], kv)
    assert torch.equal(
        sd["dynamics.backward.level2.norm_memory.bias"], motion["module.teacher_feature_blocks_1.0.norm_y.bias"]
    )
    assert torch.equal(
        sd["dynamics.backward.level3.cross_attn.q.weight"],
        motion["module.teacher_feature_blocks_2.0.cross_attn.projq.weight"],
    )
    # Midway path and predictors: level index i <-> feature_levels[i].
    assert torch.equal(
        sd["dynamics.midway.blocks.level3.1.attn.qkv.weight"], motion["module.motion_blocks_2.1.attn.qkv.weight"]
    )
    assert torch.equal(sd["dynamics.midway.src_embed.weight"], motion["module.student_embed.weight"])
    assert torch.equal(sd["dynamics.midway.motion_tokens"], motion["module.motion_tokens"])
    assert torch.equal(
        sd["dynamics.predictor.level2.blocks.1.mlp.fc2.weight"], motion["module.forward_predictor_1.1.mlp.fc2.weight"]
    )
    assert torch.equal(
        sd["dynamics.predictor.level2.gates.0.fc1.weight"], motion["module.gating_mlps_1.0.mlp.fc1.weight"]
    )
    assert torch.equal(
        sd["dynamics.predictor.level1.gates.0.norm.weight"], motion["module.gating_mlps_0.0.norm_layer.weight"]
    )
    # Like the official dynamics modules, the core's have no qkv bias: nothing is zero-filled.
    assert "dynamics.predictor.level1.blocks.0.attn.qkv.bias" not in sd

    # The export rebuilds strictly, and as a plain timm ViT.
    net = build_from_export(out).eval()
    vit = load_timm_vit(out).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(vit.forward_features(x)[:, 0], net.encoder.forward_cls(x), atol=1e-5)


def test_student_weights_on_request():
    ckpt = official_checkpoint()
    conversion = convert_official_checkpoint(ckpt, use_teacher=False)
    assert torch.equal(conversion.state_dict["cls_token"], ckpt["student"]["module.backbone.cls_token"])
    kv = torch.cat(
        [
            ckpt["motion_loss"]["module.student_feature_blocks_0.0.cross_attn.projk.weight"],
            ckpt["motion_loss"]["module.student_feature_blocks_0.0.cross_attn.projv.weight"],
        ]
    )
    assert torch.equal(conversion.state_dict["dynamics.backward.level1.cross_attn.kv.weight"], kv)


def test_training_state_keeps_student_and_teacher_apart():
    ckpt = official_checkpoint()
    state = convert_official_training_state(ckpt)
    assert state.report.ok and state.epoch == 300
    assert torch.equal(
        state.student["blocks.1.mlp.fc1.weight"], ckpt["student"]["module.backbone.blocks.1.mlp.fc1.weight"]
    )
    assert torch.equal(state.teacher["blocks.1.mlp.fc1.weight"], ckpt["teacher"]["backbone.blocks.1.mlp.fc1.weight"])
    assert torch.equal(
        state.teacher["dynamics.backward.level2.norm3.bias"],
        ckpt["motion_loss"]["module.teacher_feature_blocks_1.0.norm3.bias"],
    )
    assert torch.equal(
        state.student["dynamics.backward.level2.norm3.bias"],
        ckpt["motion_loss"]["module.student_feature_blocks_1.0.norm3.bias"],
    )
    assert torch.equal(state.teacher_embed["weight"], ckpt["motion_loss"]["module.teacher_embed.weight"])
    assert torch.equal(state.student_head["mlp.2.weight"], ckpt["student"]["module.dino_head.mlp.2.weight"])
    assert torch.equal(state.teacher_head["last_layer.weight_g"], ckpt["teacher"]["dino_head.last_layer.weight_g"])
    assert torch.equal(state.center, ckpt["dino_loss"]["center"])
    del ckpt["teacher"]
    with pytest.raises(OfficialCheckpointError, match="needs both the student and the EMA teacher"):
        convert_official_training_state(ckpt, source="student_only.pth")


def test_unknown_and_missing_keys_are_named(tmp_path, capsys):
    ckpt = official_checkpoint()
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


@pytest.mark.slow
def test_released_size_vit_s_file_converts_end_to_end(tmp_path, capsys):
    """A ViT-S file at the released size (~0.6 GB: student, teacher, dynamics, 65,536-prototype heads) → export."""
    path = tmp_path / "midway-bdd-vit-s-ep300.pth"
    torch.save(official_checkpoint(OfficialLayout.vit_small()), path)
    out = tmp_path / "vit-s.safetensors"
    assert cli_main(["import-official", str(path), str(out)]) == 0
    assert "WARNING" not in capsys.readouterr().out
    export = load_export(out)
    assert export.config.encoder == "vit_small_patch16_224" and export.config.feature_levels == (3, 6, 9, 12)
    assert export.state_dict["dynamics.midway.pos_embed"].shape == (1, 394, 192)


def _official_interpolate_pos_encoding(pos_embed: torch.Tensor, h0: int, w0: int) -> torch.Tensor:
    """DINO's ``VisionTransformer.interpolate_pos_encoding`` (the official ViT), restated for an ``h0 x w0`` grid."""
    n = pos_embed.shape[1] - 1
    side = int(n**0.5)
    patch_pos = pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patch_pos = torch.nn.functional.interpolate(
        patch_pos, scale_factor=((h0 + 0.1) / side, (w0 + 0.1) / side), mode="bicubic"
    )
    assert patch_pos.shape[-2:] == (h0, w0)
    return torch.cat([pos_embed[:, :1], patch_pos.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)], dim=1)


def test_converted_model_resamples_position_embeddings_as_the_official_vit(tmp_path):
    """At a crop other than the training one (here 48 px: a 6 x 6 grid, trained 4 x 4), the converted model's
    features are the official ViT's: position embeddings interpolated DINO-style, not timm-style."""
    from midway_plugin.models import save_export

    conversion = convert_official_checkpoint(official_checkpoint())
    assert conversion.config.pos_embed_interp == "dino"
    net = MidwayNetwork(conversion.config, with_teacher=False)
    net.load_export_state_dict(conversion.state_dict, source="official")
    net.eval()
    out = save_export(net, tmp_path / "official.safetensors", use_teacher=False)
    x = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    cfg = conversion.config
    reference = timm.create_model(cfg.encoder, pretrained=False, num_classes=0, img_size=48, **cfg.encoder_kwargs)
    encoder = {k: v for k, v in conversion.state_dict.items() if not k.startswith("dynamics.")}
    official_pos = _official_interpolate_pos_encoding(encoder["pos_embed"], 6, 6)
    reference.load_state_dict({**encoder, "pos_embed": official_pos})  # the official ViT at 48 px
    reference.eval()
    with torch.no_grad():
        expected = reference.forward_features(x)[:, 0]
        reference.pos_embed.copy_(resample_abs_pos_embed(encoder["pos_embed"], new_size=[6, 6]))
        timm_style = reference.forward_features(x)[:, 0]
        on_the_fly = build_from_export(out).eval().encoder.forward_cls(x)  # built at 32 px, run at 48 px
        at_48 = build_from_export(out, config_overrides={"img_size": 48}).eval()  # resampled once, at load time
        torch.testing.assert_close(at_48.encoder.vit.pos_embed, official_pos)
        loaded_at_48 = at_48.encoder.forward_cls(x)
    torch.testing.assert_close(on_the_fly, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loaded_at_48, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(timm_style, expected, rtol=1e-3, atol=1e-3)  # the difference the setting makes
