"""A forged export's metadata cannot decide what gets built: only this package's architectures within bounds,
shapes checked against the header before anything is allocated, non-finite tensors refused, and no network access
while loading."""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch
from safetensors.torch import load_file, safe_open, save_file

from midway_plugin.models import (
    MidwayConfig,
    MidwayExportError,
    MidwayNetwork,
    build_from_export,
    load_export,
    load_timm_vit,
    save_export,
)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "tiny.safetensors"
    save_export(MidwayNetwork(MidwayConfig.tiny(), with_teacher=False), path)
    return path


def forge(source, path, config_changes=None, tensors=None, raw_config=None):
    """A copy of ``source`` with its config metadata and/or tensors changed."""
    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
    state = load_file(str(source))
    config = json.loads(metadata["config"])
    config.update(config_changes or {})
    metadata["config"] = raw_config if raw_config is not None else json.dumps(config)
    state.update(tensors or {})
    save_file(state, str(path), metadata=metadata)
    return path


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt while loading fails the test (model hubs included)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while loading an export: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    "encoder", ["hf-hub:owner/model", "timm/vit_small_patch16_224.augreg_in21k", "resnet50", "vit_huge_patch14_224"]
)
def test_encoders_outside_this_package_are_refused_by_name(export, tmp_path, encoder):
    forged = forge(export, tmp_path / "forged.safetensors", {"encoder": encoder})
    for load in (load_export, build_from_export, load_timm_vit):
        with pytest.raises(MidwayExportError, match=f"{forged}: its metadata names encoder '{encoder}'"):
            load(forged)


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"encoder_kwargs": {"embed_dim": 3000, "depth": 4, "num_heads": 3, "patch_size": 8}}, "embed_dim=3000"),
        ({"encoder_kwargs": {"embed_dim": 48, "depth": 400, "num_heads": 3, "patch_size": 8}}, "depth=400"),
        ({"encoder_kwargs": {"embed_dim": 48, "pretrained_cfg_overlay": {"hf_hub_id": "x"}}}, "pretrained_cfg_overlay"),
        ({"midway_dim": 100_000}, "midway_dim=100000"),
        ({"img_size": 1_000_000}, "img_size=1000000"),
    ],
)
def test_sizes_beyond_the_stated_bounds_are_refused_quickly(export, tmp_path, changes, named):
    forged = forge(export, tmp_path / "big.safetensors", changes)
    start = time.perf_counter()
    with pytest.raises(MidwayExportError, match=named):
        build_from_export(forged)
    assert time.perf_counter() - start < 5


def test_metadata_that_disagrees_with_the_tensor_shapes_is_refused_before_building(export, tmp_path):
    # Within bounds, but the file's tensors are the 48-wide tiny ViT's.
    changes = {"encoder_kwargs": {"embed_dim": 96, "depth": 4, "num_heads": 3, "patch_size": 8}}
    forged = forge(export, tmp_path / "mismatch.safetensors", changes)
    with pytest.raises(
        MidwayExportError,
        match=r"mismatch\.safetensors: tensor shapes disagree .*cls_token: "
        r"file \(1, 1, 48\), config \(1, 1, 96\)",
    ):
        load_export(forged)


def test_non_finite_weights_are_refused_naming_the_key(export, tmp_path):
    bad = load_file(str(export))["pos_embed"].clone()
    bad[0, 0, 0] = float("nan")
    forged = forge(export, tmp_path / "nan.safetensors", tensors={"pos_embed": bad})
    with pytest.raises(MidwayExportError, match=r"nan\.safetensors: tensor 'pos_embed' holds 1 non-finite"):
        build_from_export(forged)


def test_a_genuine_export_still_loads_without_the_network(export):
    model = build_from_export(export)
    assert isinstance(model, MidwayNetwork)
    assert load_timm_vit(export).embed_dim == 48
    with torch.no_grad():
        assert torch.isfinite(model.encoder(torch.randn(1, 3, 32, 32))[-1]).all()
