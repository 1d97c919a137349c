"""The core's single ways to say things: config resolution, export loading with a key report, block numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from midway_plugin.models import (
    EXPORT_PARTS,
    MidwayConfig,
    MidwayExportError,
    MidwayNetwork,
    blocks_to_indices,
    indices_to_blocks,
    key_report,
    level_key,
    load_export,
    read_export_config,
    resample_pos_embed,
    resolve_config,
    save_export,
)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = MidwayNetwork(MidwayConfig.tiny(img_size=48, midway_depth=1), with_teacher=False)
    return save_export(net, tmp_path_factory.mktemp("export") / "tiny.safetensors")


# ------------------------------------------------------------------------------------------------ resolve_config
def test_every_spec_kind_resolves(export: Path) -> None:
    assert resolve_config(None) == MidwayConfig() == resolve_config("vit-s16") == resolve_config({})
    assert resolve_config("vit-b16").encoder == "vit_base_patch16_224"
    tiny = MidwayConfig.tiny(midway_depth=1)
    assert resolve_config({"preset": "tiny", "midway_depth": 1}) == tiny
    assert resolve_config({"midway_dim": 96, "feature_levels": [3, 6, 9, 12]}) == MidwayConfig(midway_dim=96)
    assert resolve_config(tiny) is tiny
    from_file = MidwayConfig.tiny(img_size=48, midway_depth=1)
    assert resolve_config(export) == resolve_config(str(export)) == read_export_config(export) == from_file
    assert resolve_config(export, overrides={"img_size": 64}) == from_file.replace(img_size=64)
    assert resolve_config("tiny", overrides={"drop_path_rate": 0.2}).drop_path_rate == 0.2


def test_bad_specs_name_the_value_key_or_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^MidwayViT: unknown arch='vit-l16'; use a preset"):
        resolve_config("vit-l16", where="MidwayViT: ", name="arch")
    with pytest.raises(ValueError, match=r"unknown model key\(s\) depth, widht; known: preset, .*midway_dim"):
        resolve_config({"preset": "tiny", "widht": 3, "depth": 2})
    with pytest.raises(ValueError, match=r"invalid model .*'gate_input': 'later'.*gate_input='later'"):
        resolve_config({"gate_input": "later"})
    with pytest.raises(ValueError, match="invalid model .*unknown Midway preset 'vit-h14'"):
        resolve_config({"preset": "vit-h14"})
    with pytest.raises(ValueError, match=r"unknown model override key\(s\) img_sise"):
        resolve_config("tiny", overrides={"img_sise": 3})
    with pytest.raises(ValueError, match=r"model must be a preset name .* got int 3"):
        resolve_config(3)
    with pytest.raises(MidwayExportError, match="gone.safetensors: no such file"):
        resolve_config(str(tmp_path / "gone.safetensors"))
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, str(plain))
    with pytest.raises(MidwayExportError, match="plain.safetensors: not a Midway export"):
        resolve_config(plain)


# ------------------------------------------------------------------------------------------------ load_export
def test_load_export_reads_only_the_parts_asked_for(export: Path) -> None:
    full = load_export(export)
    assert full.skipped == ()
    part = load_export(export, parts=("encoder", "backward"))
    assert set(part.encoder_state) == set(full.encoder_state)
    net = MidwayNetwork(full.config, with_teacher=False)
    backward = part.part("backward")
    assert backward.keys() == net.backward.state_dict().keys()
    assert all(torch.equal(backward[k], full.part("backward")[k]) for k in backward)
    assert part.part("midway") == {} and part.skipped and all(".backward." not in k for k in part.skipped)
    assert set(part.skipped) == set(full.state_dict) - set(part.state_dict)
    assert full.part("encoder").keys() == net.encoder.vit.state_dict().keys()
    assert full.part("predictor").keys() == net.predictor.state_dict().keys()
    assert set(EXPORT_PARTS) == {"encoder", *net.dynamics_modules()}
    with pytest.raises(ValueError, match="unknown export part 'heads'"):
        load_export(export, parts=("heads",))


def test_key_report_lists_missing_unexpected_and_mismatched() -> None:
    own = {"a": torch.zeros(2), "b": torch.zeros(3), "pos_embed": torch.zeros(1, 5, 2)}
    state = {"b": torch.zeros(4), "c": torch.zeros(1), "pos_embed": torch.zeros(1, 10, 2)}
    report = key_report(own, state, "f.safetensors", "thing", prefix="p.")
    assert not report.ok
    assert (report.missing, report.unexpected) == (("p.a",), ("p.c",))
    assert report.mismatched == (("p.b", (4,), (3,)), ("p.pos_embed", (1, 10, 2), (1, 5, 2)))
    assert key_report(own, state, "f", "t", resampled=["pos_embed"]).mismatched == (("b", (4,), (3,)),)
    text = report.format()
    assert text.startswith("f.safetensors does not match the thing: missing 1 key(s): p.a; unexpected 1 key(s): p.c")
    assert "p.b (file (4,), model (3,))" in text
    assert "unexpected" not in report.format(unexpected=False)
    report.raise_for(missing=False, unexpected=False, mismatched=False)  # nothing chosen: no error
    with pytest.raises(MidwayExportError, match="missing 1 key"):
        report.raise_for()
    many = key_report({f"k{i:02d}": torch.zeros(1) for i in range(20)}, {}, "f", "t")
    assert "k11, … (8 more)" in many.format() and "k19" in many.format(limit=None)
    assert key_report(own, dict(own), "f", "t").ok


def test_network_loading_uses_the_report(export: Path) -> None:
    exp = load_export(export)
    state = dict(exp.state_dict)
    state["dynamics.backward.level1.norm1.weight"] = torch.zeros(7)
    net = MidwayNetwork(exp.config, with_teacher=False)
    shape = r"dynamics.backward.level1.norm1.weight \(file \(7,\), model \(48,\)\)"
    with pytest.raises(MidwayExportError, match=shape):
        net.load_export_state_dict(state, strict=False, source="x.safetensors")


# ------------------------------------------------------------------------------------------------ levels
def test_blocks_and_level_indices_convert_both_ways() -> None:
    levels = MidwayConfig().feature_levels
    assert blocks_to_indices((3, 12), levels) == (0, 3) and blocks_to_indices(9, levels) == (2,)
    assert indices_to_blocks((0, -1), levels) == (3, 12) and indices_to_blocks(2, levels) == (9,)
    assert level_key(9) == "level9"
    assert MidwayNetwork(MidwayConfig.tiny(), with_teacher=False).level_key(2) == "level3"
    for bad in ((4,), (), (True,), ("3",)):
        with pytest.raises(ValueError, match=r"out_blocks=.*feature-level blocks \(3, 6, 9, 12\)"):
            blocks_to_indices(bad, levels, where="out_blocks")
    with pytest.raises(ValueError, match=r"levels=\(4,\) must be positions in the 4 feature levels \(blocks"):
        indices_to_blocks((4,), levels, where="levels")


def test_dynamics_init_is_timms_vit_init() -> None:
    torch.manual_seed(0)
    net = MidwayNetwork(MidwayConfig.tiny(), with_teacher=False)
    linears = [m for m in net.dynamics_modules().values() for m in m.modules() if isinstance(m, torch.nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert all(m.bias is None or not m.bias.any() for m in linears)


# ------------------------------------------------------------------------------------------------ dtypes
def test_dino_resampling_keeps_float64() -> None:
    """A float64 parity check must not be rounded through float32 by the DINO-style resampling."""
    pos = torch.randn(1, 1 + 4 * 4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = resample_pos_embed(pos, (6, 5), (4, 4), mode="dino")
    grid = pos[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(grid, scale_factor=(6.1 / 4, 5.1 / 4), mode="bicubic", align_corners=False)
    ref = torch.cat([pos[:, :1], ref.permute(0, 2, 3, 1).reshape(1, 30, 8)], dim=1)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    half = resample_pos_embed(pos.bfloat16(), (6, 5), (4, 4), mode="dino")  # low precision: via float32
    assert half.dtype == torch.bfloat16
