"""`MidwayViT`: outputs, agreement with the core model, export loading and refusals, frozen vs trained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("mmseg", reason="the OpenMMLab stack is not installed (scripts/install.sh)")

import timm  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from timm.layers import resample_abs_pos_embed  # noqa: E402

from midway_plugin.mmseg import MidwayViT  # noqa: E402
from midway_plugin.models import (  # noqa: E402
    MidwayConfig,
    MidwayExportError,
    MidwayNetwork,
    resample_pos_embed,
    save_export,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "mmseg"


def images(b: int = 2, h: int = 32, w: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def loaded(path: Path, **kwargs) -> MidwayViT:
    backbone = MidwayViT(export=str(path), **kwargs)
    backbone.init_weights()
    return backbone.eval()


# ----------------------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("source", ["encoder", "backward"])
def test_outputs_are_nchw_maps_for_any_input_size(source: str) -> None:
    backbone = MidwayViT(arch="tiny", img_size=64, feature_source=source).eval()
    with torch.no_grad():
        outs = backbone(images(2, 64, 96))
        assert [tuple(o.shape) for o in outs] == [(2, 48, 8, 12)] * 4
        # 60x70 is not a multiple of the patch (8): padded bottom/right to 64x72
        assert [tuple(o.shape) for o in backbone(images(1, 60, 70))] == [(1, 48, 8, 9)] * 4
    assert backbone.encoder.vit.pos_embed.shape == (1, 1 + 8 * 8, 48)


def test_out_blocks_select_levels_and_bad_arguments_are_named() -> None:
    backbone = MidwayViT(arch="tiny", img_size=32, out_blocks=(1, 4)).eval()
    with torch.no_grad():
        assert len(backbone(images())) == 2
    with pytest.raises(ValueError, match=r"out_blocks=\(1, 7\).*feature-level blocks \(1, 2, 3, 4\)"):
        MidwayViT(arch="tiny", out_blocks=(1, 7))
    with pytest.raises(TypeError, match="out_indices"):  # the positions of a first version: gone
        MidwayViT(arch="tiny", out_indices=(0, 3))
    with pytest.raises(ValueError, match="feature_source='raw'"):
        MidwayViT(arch="tiny", feature_source="raw")
    with pytest.raises(ValueError, match="unknown arch='vit-l16'"):
        MidwayViT(arch="vit-l16")
    with pytest.raises(ValueError, match="unknown arch key.*depth"):
        MidwayViT(arch=dict(depth=4))
    with pytest.raises(ValueError, match="init_cfg=.*Kaiming.*not supported"):
        MidwayViT(arch="tiny", init_cfg=dict(type="Kaiming"))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="both export="):
        MidwayViT(arch="tiny", pretrained="a.safetensors", init_cfg=dict(type="Pretrained", checkpoint="b"))
    with pytest.raises(ValueError, match="img_size"):
        MidwayViT(arch="tiny", img_size=(64, 96))
    with pytest.raises(ValueError, match="backward_layers=False"):
        MidwayViT(arch=MidwayConfig.tiny(backward_layers=False), feature_source="backward")


def test_outputs_match_the_core_model(tiny_export) -> None:
    """Encoder maps = the core encoder's levels; backward maps = the core's `backward_features` (v^L = z^L)."""
    path, net = tiny_export
    net.eval()
    x = images()
    with torch.no_grad():
        levels = net.encoder(x)
        v = net.backward_features(levels)
        for source, expected in (("encoder", dict(enumerate(levels))), ("backward", v)):
            outs = loaded(path, arch="tiny", img_size=32, feature_source=source)(x)
            for i, out in enumerate(outs):
                ref = expected[i][:, 1:].transpose(1, 2).reshape(2, 48, 4, 4)
                torch.testing.assert_close(out, ref, msg=f"{source} level {i}")


# ----------------------------------------------------------------------------------------------- loading
def test_export_decides_architecture_and_pos_embed_is_resampled(tiny_export, mmlogs) -> None:
    path, net = tiny_export
    backbone = loaded(path, arch="vit-b16", img_size=64, feature_source="backward")
    assert backbone.cfg.encoder_kwargs == net.cfg.encoder_kwargs and backbone.embed_dim == 48
    assert backbone.cfg.img_size == 64
    own = backbone.encoder.vit.state_dict()
    ref = net.encoder.vit.state_dict()
    for key in ("blocks.0.attn.qkv.weight", "cls_token", "norm.weight", "patch_embed.proj.weight"):
        torch.testing.assert_close(own[key], ref[key])
    assert own["pos_embed"].shape == (1, 1 + 8 * 8, 48)
    torch.testing.assert_close(own["pos_embed"], resample_abs_pos_embed(ref["pos_embed"], new_size=[8, 8]))
    for key, value in backbone.backward_blocks.state_dict().items():
        torch.testing.assert_close(value, net.backward.state_dict()[key])
    assert any("resampled pos_embed" in m for m in mmlogs)
    assert any("dynamics tensors" in m and "skipped" in m for m in mmlogs)  # midway path + predictors unused


def test_pos_embed_interp_dino_resamples_as_dino(tiny_export) -> None:
    path, net = tiny_export
    backbone = loaded(path, img_size=64, pos_embed_interp="dino")
    assert backbone.cfg.pos_embed_interp == "dino"
    expected = resample_pos_embed(net.encoder.vit.pos_embed.detach(), (8, 8), (4, 4), mode="dino")
    torch.testing.assert_close(backbone.encoder.vit.pos_embed.detach(), expected)
    assert not torch.allclose(expected, resample_abs_pos_embed(net.encoder.vit.pos_embed.detach(), new_size=[8, 8]))
    with pytest.raises(ValueError, match="pos_embed_interp"):
        MidwayViT(arch="tiny", pos_embed_interp="bilinear")


def test_init_cfg_pretrained_is_the_same_as_pretrained(tiny_export) -> None:
    path, net = tiny_export
    backbone = MidwayViT(arch="tiny", img_size=32, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    backbone.init_weights()
    torch.testing.assert_close(backbone.encoder.vit.pos_embed, net.encoder.vit.pos_embed)


def test_plain_timm_vit_state_dict_is_refused(tmp_path: Path) -> None:
    vit = timm.create_model(
        "vit_small_patch16_224",
        pretrained=False,
        num_classes=0,
        img_size=32,
        embed_dim=48,
        depth=4,
        num_heads=3,
        patch_size=8,
    )
    sd = {k: v.contiguous() for k, v in vit.state_dict().items()}
    for path, write in (
        (tmp_path / "timm_vit.safetensors", lambda p: save_file(sd, str(p))),
        (tmp_path / "timm_vit.pth", lambda p: torch.save(sd, p)),
    ):
        write(path)
        with pytest.raises(MidwayExportError) as err:
            MidwayViT(arch="tiny", export=str(path))
        msg = str(err.value)
        assert str(path) in msg and "not a Midway export" in msg and "midway export" in msg, msg


def _rewrite_without(src: Path, dst: Path, key: str) -> Path:
    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(src))
    del tensors[key]
    save_file(tensors, str(dst), metadata=metadata)
    return dst


@pytest.mark.parametrize(
    "key, source", [("blocks.1.mlp.fc1.weight", "encoder"), ("dynamics.backward.level2.norm1.weight", "backward")]
)
def test_export_with_missing_keys_is_refused_naming_them(tiny_export, tmp_path: Path, key: str, source: str) -> None:
    path, _ = tiny_export
    assert key in load_file(str(path)), "the test removes a key the export really has"
    broken = _rewrite_without(path, tmp_path / "broken.safetensors", key)
    with pytest.raises(MidwayExportError) as err:
        MidwayViT(arch="tiny", export=str(broken), feature_source=source)
    msg = str(err.value)
    assert str(broken) in msg and "missing" in msg and key.split("dynamics.")[-1] in msg, msg


@pytest.mark.parametrize("extra_key", ["head.weight", "dynamics.extra.weight"])
def test_unexpected_keys_are_refused_by_name(tiny_export, tmp_path: Path, extra_key: str) -> None:
    """The one key policy of the core (also mmflow's and `midway analyze`'s): an unexpected key is an error."""
    path, _ = tiny_export
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors[extra_key] = torch.zeros(10, 48)
    extra = tmp_path / "extra.safetensors"
    save_file(tensors, str(extra), metadata=metadata)
    with pytest.raises(MidwayExportError, match=rf"{extra}.*unexpected 1 key\(s\): {extra_key}"):
        MidwayViT(arch="tiny", export=str(extra))


def test_missing_file_and_dynamics_free_export(tiny_export, tmp_path: Path) -> None:
    missing = tmp_path / "nope.safetensors"
    backbone = MidwayViT(arch="tiny", export=str(missing))  # `mim test` builds before loading its checkpoint
    with pytest.raises(FileNotFoundError, match="nope.safetensors does not exist.*midway export"):
        backbone.init_weights()

    dino_only_net = MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False), with_teacher=False)
    dino_only = save_export(dino_only_net, tmp_path / "dino_only.safetensors")
    with pytest.raises(ValueError, match="feature_source='backward' needs backward layers.*latent_dynamics=False"):
        MidwayViT(export=str(dino_only), feature_source="backward")
    assert len(loaded(dino_only, feature_source="encoder")(images())) == 4


# ----------------------------------------------------------------------------------------------- training
def _segmentor(config: str, export: Path, **backbone):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS

    cfg = Config.fromfile(CONFIG_DIR / config)
    # The ViT-S configs name ViT-S blocks (3, 6, 9, 12); the same levels of the tiny model are blocks 1..4.
    vit_s, tiny = MidwayConfig.vit_small().feature_levels, MidwayConfig.tiny().feature_levels
    blocks = tuple(tiny[vit_s.index(b)] for b in cfg.model.backbone.out_blocks)
    cfg.model.backbone.update(arch="tiny", img_size=64, export=str(export), out_blocks=blocks, **backbone)
    cfg.model.data_preprocessor.size = (64, 64)
    for head in ("decode_head", "auxiliary_head", "neck"):
        if cfg.model.get(head):
            h = cfg.model[head]
            h.in_channels = [48] * 4 if isinstance(h.in_channels, list) else 48
            if head == "neck":
                h.out_channels = 48
            elif h.type == "BNLinearHead":
                h.channels = 48
    init_default_scope("mmseg")
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))  # as mmengine's runner does in one process
    model.init_weights()
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def _batch(num_classes: int = 19):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, 64, 64), generator=g))
        samples.append(s)
    inputs = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, generator=g) for _ in range(2)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize(
    "config, frozen",
    [
        ("linear_midway-vit-s16_1xb16-60k_bdd100k-512x512.py", True),
        ("upernet_midway-vit-s16_1xb16-60k_bdd100k-512x512.py", True),
        ("finetune-upernet_midway-vit-s16_1xb4-60k_ade20k-512x512.py", False),
    ],
)
def test_frozen_backbone_does_not_change_and_finetuned_one_does(tiny_export, config: str, frozen: bool) -> None:
    path, _ = tiny_export
    # No drop path: a block whose branch is dropped for the whole batch gets no gradient, so a zero-initialised
    # bias would (correctly) not move and the "every parameter changes" check below would depend on the seed.
    model, optim_wrapper = _segmentor(config, path, drop_path_rate=0.0)
    assert model.backbone.frozen is frozen
    model.train()
    assert model.backbone.training is not frozen and model.decode_head.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = model.train_step(_batch(model.decode_head.num_classes), optim_wrapper)
    assert torch.isfinite(sum(v for k, v in losses.items() if "loss" in k))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    backbone_changed = {k for k in changed if k.startswith("backbone.")}
    assert any(k.startswith("decode_head.") for k in changed)  # the step did happen
    if frozen:
        assert not backbone_changed
        assert all(p.grad is None for p in model.backbone.parameters())
    else:
        vit_params = {f"backbone.encoder.vit.{k}" for k, p in model.backbone.encoder.vit.named_parameters()}
        assert vit_params <= backbone_changed, sorted(vit_params - backbone_changed)[:5]


def test_frozen_backbone_ignores_train_mode_and_dropout(tiny_export) -> None:
    path, _ = tiny_export
    backbone = MidwayViT(export=str(path), img_size=32, frozen=True, drop_path_rate=0.5)
    backbone.init_weights()
    backbone.train()
    assert not backbone.training and not any(m.training for m in backbone.modules())
    x = images()
    out1, out2 = backbone(x), backbone(x)  # no drop path: deterministic
    assert all(torch.equal(a, b) and not a.requires_grad for a, b in zip(out1, out2, strict=True))


@pytest.mark.slow
def test_vit_s16_export_loads_at_512_and_runs_a_full_crop(tmp_path: Path) -> None:
    """The real-size path: a ViT-S/16 export (224 px) in the BDD linear config's backbone at 512 px."""
    torch.manual_seed(0)
    net = MidwayNetwork(MidwayConfig.vit_small(), with_teacher=False)
    path = save_export(net, tmp_path / "vit_s16.safetensors", use_teacher=False)
    cfg = Config.fromfile(CONFIG_DIR / "linear_midway-vit-s16_1xb16-60k_bdd100k-512x512.py").model.backbone
    kwargs = {k: v for k, v in cfg.items() if k not in ("type", "export")}
    backbone = loaded(path, **kwargs)
    assert backbone.encoder.vit.pos_embed.shape == (1, 1 + 32 * 32, 384)
    with torch.no_grad():
        (v3,) = backbone(images(1, 512, 512))
    assert v3.shape == (1, 384, 32, 32) and torch.isfinite(v3).all()


# ----------------------------------------------------------------------------------------------- argument names
def test_pretrained_is_the_deprecated_name_of_export(tiny_export) -> None:
    """`pretrained` stays (mmseg's EncoderDecoder passes it to every backbone); it overrides `export`."""
    path, _ = tiny_export
    new = MidwayViT(arch="tiny", img_size=32, export=str(path), out_blocks=(1, 4), feature_source="backward")
    with pytest.warns(DeprecationWarning, match="use `export`"):
        old = MidwayViT(arch="tiny", img_size=32, pretrained=str(path), out_blocks=(1, 4), feature_source="backward")
    with torch.no_grad():
        for a, b in zip(new.eval()(images()), old.eval()(images()), strict=True):
            assert torch.equal(a, b)
    with pytest.warns(DeprecationWarning):
        both = MidwayViT(arch="tiny", export="elsewhere.safetensors", pretrained=str(path))
    assert both.export == str(path)


def test_out_blocks_are_validated_against_the_feature_levels(tiny_export) -> None:
    path, _ = tiny_export
    with pytest.raises(ValueError, match=r"out_blocks=\(3, 5\).*feature-level blocks \(1, 2, 3, 4\)"):
        MidwayViT(arch="tiny", out_blocks=(3, 5))
    with pytest.raises(ValueError, match=r"out_blocks=12.*\(1, 2, 3, 4\)"):
        MidwayViT(arch="vit-s16", export=str(path), out_blocks=12)  # the export's config decides the levels
    with pytest.raises(ValueError, match=r"out_blocks \[1\] have no backward features.*among \(3, 4\)"):
        MidwayViT(arch=dict(preset="tiny", multi_level=False), out_blocks=(1,), feature_source="backward")
    with pytest.raises(ValueError, match="both export=.*init_cfg"):
        MidwayViT(arch="tiny", export="a.safetensors", init_cfg=dict(type="Pretrained", checkpoint="b"))
