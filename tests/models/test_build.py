"""The core entry from an export to a network: parts, one key policy, missing files, frozen, init_cfg."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from midway_plugin.models import (
    FrozenParts,
    MidwayConfig,
    MidwayExportError,
    MidwayNetwork,
    build_network,
    export_argument,
    save_export,
)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, MidwayNetwork]:
    torch.manual_seed(0)
    net = MidwayNetwork(MidwayConfig.tiny(), with_teacher=False)
    return save_export(net, tmp_path_factory.mktemp("build") / "tiny.safetensors"), net


def _with_extra(src: Path, dst: Path, key: str) -> Path:
    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(src))
    tensors[key] = torch.zeros(3)
    save_file(tensors, str(dst), metadata=metadata)
    return dst


def test_parts_are_loaded_and_the_rest_is_not_read(export) -> None:
    path, net = export
    built = build_network(path, parts=("encoder", "backward"), overrides={"img_size": 48})
    assert built.loaded == ("encoder", "backward") and built.export == str(path)
    assert built.skipped and all(k.startswith(("dynamics.midway.", "dynamics.predictor.")) for k in built.skipped)
    assert built.resampled == (("pos_embed", (1, 17, 48), (1, 37, 48)),)  # once, by the core
    own = built.network.export_state_dict(use_teacher=False)
    ref = net.export_state_dict(use_teacher=False)
    assert torch.equal(own["blocks.0.attn.qkv.weight"], ref["blocks.0.attn.qkv.weight"])
    assert torch.equal(own["dynamics.backward.level1.norm1.weight"], ref["dynamics.backward.level1.norm1.weight"])
    key = "dynamics.predictor.level1.blocks.0.attn.qkv.weight"
    assert not torch.equal(own[key], ref[key])  # not loaded: as built
    encoder_only = build_network(path, parts=("encoder",), dynamics=False)
    assert encoder_only.loaded == ("encoder",) and not encoder_only.network.has_dynamics


@pytest.mark.parametrize("extra", ["head.weight", "dynamics.extra.weight", "dynamics.midway.extra"])
def test_unexpected_keys_are_refused_by_name_whatever_the_parts(export, tmp_path: Path, extra: str) -> None:
    path, _ = export
    bad = _with_extra(path, tmp_path / "extra.safetensors", extra)
    for parts in (("encoder", "backward", "midway", "predictor"), ("encoder",)):
        if extra == "dynamics.midway.extra" and "midway" not in parts:
            continue  # a known part that is not loaded is not read
        with pytest.raises(MidwayExportError, match=rf"{bad}.*unexpected 1 key\(s\): {extra}"):
            build_network(bad, parts=parts, dynamics=len(parts) > 1)


def test_missing_export_is_an_error_unless_arch_may_stand_in(tmp_path: Path) -> None:
    gone = tmp_path / "gone.safetensors"
    with pytest.raises(FileNotFoundError, match="gone.safetensors does not exist.*midway export"):
        build_network(gone, arch="tiny")
    built = build_network(gone, arch="tiny", missing_ok=True)
    assert built.missing_export == str(gone) and built.export is None and built.loaded == ()
    with pytest.raises(FileNotFoundError):
        build_network(gone, missing_ok=True)  # nothing to stand in
    with pytest.raises(ValueError, match="set `export`.*or `arch`"):
        build_network()
    with pytest.raises(ValueError, match="unknown export part"):
        build_network(arch="tiny", parts=("decoder",))


def test_dynamics_are_added_at_random_for_an_export_without_them(tmp_path: Path) -> None:
    base = save_export(MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False)), tmp_path / "base.safetensors")
    built = build_network(base, dynamics=True)
    assert built.network.has_dynamics and built.loaded == ("encoder",)


def test_dynamics_tensors_in_an_export_without_dynamics_are_refused(tmp_path: Path) -> None:
    base = save_export(MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False)), tmp_path / "base.safetensors")
    bad = _with_extra(base, tmp_path / "bad.safetensors", "dynamics.midway.motion_tokens")
    with pytest.raises(MidwayExportError, match=r"unexpected 1 key\(s\): dynamics.midway.motion_tokens"):
        build_network(bad, dynamics=True)


def test_frozen_network_has_no_gradients_and_is_in_eval_mode(export) -> None:
    path, _ = export
    net = build_network(path, frozen=True).network
    assert not net.training and not any(p.requires_grad for p in net.parameters())


class _Adapter(FrozenParts):
    def __init__(self, frozen: bool) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        self.head = nn.Linear(2, 1)
        self.freeze_parts(frozen, "backbone")


def test_frozen_parts_stay_in_eval_mode_and_run_without_autograd() -> None:
    adapter = _Adapter(True).train()
    assert not adapter.backbone.training and adapter.head.training
    assert not any(p.requires_grad for p in adapter.backbone.parameters())
    with adapter.grad_enabled():
        assert not adapter.backbone(torch.ones(1, 2)).requires_grad
    assert _Adapter(False).train().backbone.training
    with pytest.raises(ValueError, match="frozen must be True or False"):
        _Adapter("yes")  # type: ignore[arg-type]


def test_export_argument_applies_pretrained_and_refuses_every_other_init_cfg() -> None:
    assert export_argument(None, dict(type="Pretrained", checkpoint="a.safetensors"), "X: ") == "a.safetensors"
    assert export_argument("a.safetensors", None, "X: ") == "a.safetensors"
    assert export_argument(None, None, "X: ") is None
    for bad in (
        dict(type="Kaiming"),
        dict(type="Pretrained", checkpoint="a", prefix="backbone."),
        [dict(type="Pretrained", checkpoint="a"), dict(type="Normal")],
    ):
        with pytest.raises(ValueError, match=r"X: init_cfg=.*not supported"):
            export_argument(None, bad, "X: ")
    with pytest.raises(ValueError, match="both export="):
        export_argument("a", dict(type="Pretrained", checkpoint="b"), "X: ")
    with pytest.raises(ValueError, match="must be a file path"):
        export_argument(3, None, "X: ")  # type: ignore[arg-type]
