"""The generated benchmark in mmflow: `MidwaySyntheticFlow` and the shipped synthetic configs (finetuning and frozen
readout), end to end through `mim train` / `mim test` with only the `--cfg-options` keys their headers document,
for a Midway export and for a model without latent dynamics (the DINO-only base: random dynamics)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mmflow")

from mmengine.config import Config  # noqa: E402

from midway_plugin.data.synthetic import read_flo, write_synthetic_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FINETUNE = ROOT / "configs/mmflow/midwayflow_tiny_1xb8-2k_synthetic-64x64.py"
FROZEN = ROOT / "configs/mmflow/midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64.py"
EPE = re.compile(r"EPE: (\d+\.\d+)")


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """3 videos of 5 frames at 64x64 (2 train, 1 val): 8 train pairs, 4 val pairs."""
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(root, num_videos=3, num_frames=5, size=(64, 64), val_videos=1, num_objects=3)
    return root


@pytest.fixture(scope="module")
def base_export(tmp_path_factory) -> Path:
    """A tiny export WITHOUT latent dynamics (Table 3's DINO-only base)."""
    from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("base") / "base.safetensors"
    save_export(MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False)), path)
    return path


def _build_dataset(**kwargs):
    from mmflow.registry import DATASETS

    import midway_plugin.mmflow  # noqa: F401

    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackFlowInputs")]
    return DATASETS.build(dict(type="MidwaySyntheticFlow", pipeline=pipeline, **kwargs))


def test_dataset_pairs_frames_with_their_flow(synthetic_root: Path) -> None:
    train = _build_dataset(data_root=str(synthetic_root), split="train")
    val = _build_dataset(data_root=str(synthetic_root), split="val", test_mode=True)
    assert len(train) == 8 and len(val) == 4 and val.metainfo["classes"][0] == "background"
    info = val.get_data_info(2)
    assert info["img1_path"].endswith("synth_0002/000002.png") and info["img2_path"].endswith("000003.png")
    sample = val[2]
    assert sample["inputs"].shape == (2, 3, 64, 64)
    np.testing.assert_allclose(
        sample["data_samples"].gt_flow_fw.data.numpy().transpose(1, 2, 0),
        read_flo(synthetic_root / "flow/synth_0002/000002.flo"),
    )
    with pytest.raises(ValueError, match="MidwaySyntheticFlow: .*split 'val' has no videos"):
        root = synthetic_root.parent / "train_only"
        write_synthetic_dataset(root, num_videos=1, num_frames=2, size=(64, 64))
        _build_dataset(data_root=str(root), split="val")
    with pytest.raises(ValueError, match="'data_prefix' is not used"):
        _build_dataset(data_root=str(synthetic_root), data_prefix=dict(img="x"))


def _options(export: Path, root: Path) -> list[str]:
    return [
        f"model.export={export}",
        *(f"{loader}.dataset.data_root={root}" for loader in ("train_dataloader", "val_dataloader", "test_dataloader")),
    ]


SHORT = [
    "train_cfg.max_iters=2",
    "param_scheduler.1.end=2",
    "train_cfg.val_interval=2",
    "default_hooks.checkpoint.interval=2",
    "default_hooks.logger.interval=1",
    "train_dataloader.batch_size=2",
]


def test_mim_finetune_and_test(tmp_path: Path, synthetic_root: Path, tiny_export: Path, mim) -> None:
    work = tmp_path / "work"
    train = mim(
        [
            "train",
            "mmflow",
            str(FINETUNE),
            "--work-dir",
            str(work),
            "--cfg-options",
            *_options(tiny_export, synthetic_root),
            *SHORT,
        ],
        cwd=tmp_path,
    )
    assert re.search(r"Iter\(train\) \[2/2\].*loss_flow: \d", train.stdout), train.stdout[-3000:]
    val = EPE.search(train.stdout)
    assert val, train.stdout[-3000:]
    checkpoint = work / "iter_2.pth"
    assert checkpoint.is_file()
    test = mim(
        [
            "test",
            "mmflow",
            str(FINETUNE),
            "--checkpoint",
            str(checkpoint),
            "--work-dir",
            str(tmp_path / "t"),
            "--cfg-options",
            *_options(tiny_export, synthetic_root),
        ],
        cwd=tmp_path,
    )
    tested = EPE.search(test.stdout)
    assert tested, test.stdout[-3000:]
    assert float(tested.group(1)) == pytest.approx(float(val.group(1)), rel=1e-3, abs=1e-4)


def test_mim_frozen_readout_of_a_model_without_dynamics(
    tmp_path: Path, synthetic_root: Path, base_export: Path, mim
) -> None:
    from safetensors.torch import load_file

    from midway_plugin.compat.safe_checkpoint import safe_torch_load

    work = tmp_path / "work"
    train = mim(
        [
            "train",
            "mmflow",
            str(FROZEN),
            "--work-dir",
            str(work),
            "--cfg-options",
            *_options(base_export, synthetic_root),
            *SHORT,
        ],
        cwd=tmp_path,
    )
    assert "randomly initialised dynamics" in train.stdout, train.stdout[-3000:]
    assert EPE.search(train.stdout), train.stdout[-3000:]
    state = safe_torch_load(work / "iter_2.pth", map_location="cpu")["state_dict"]
    exported = load_file(str(base_export))
    for key in ("blocks.0.attn.qkv.weight", "blocks.3.mlp.fc2.bias", "norm.weight"):  # frozen: unchanged
        torch.testing.assert_close(state[f"backbone.encoder.vit.{key}"], exported[key])
    assert any(k.startswith("backbone.midway") or ".forward" in k for k in state)  # the dynamics exist


def test_finetune_config_gives_a_model_without_dynamics_random_dynamics(base_export: Path) -> None:
    from mmflow.registry import MODELS
    from safetensors.torch import load_file

    import midway_plugin.mmflow  # noqa: F401

    cfg = Config.fromfile(FINETUNE)
    cfg.merge_from_dict({"model.export": str(base_export)})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.backbone.cfg.latent_dynamics and not model.frozen
    exported = load_file(str(base_export))
    torch.testing.assert_close(
        model.backbone.encoder.vit.blocks[0].attn.qkv.weight, exported["blocks.0.attn.qkv.weight"]
    )
    flow = model(torch.zeros(1, 6, 64, 64), mode="tensor")["flow"]
    assert flow.shape == (1, 2, 64, 64) and torch.isfinite(flow).all()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("backbone.") and "encoder" not in n for n in trainable)  # dynamics are trained
