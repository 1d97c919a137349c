"""The generated benchmark in mmseg: `MidwaySyntheticDataset` and the shipped synthetic linear-readout config,
end to end through `mim train` / `mim test` with only the `--cfg-options` keys its header documents."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("mmseg", reason="the OpenMMLab stack is not installed (scripts/install.sh)")

from mmengine.config import Config  # noqa: E402

from midway_plugin.data.synthetic import CLASS_NAMES, PALETTE, write_synthetic_dataset  # noqa: E402

CONFIG = Path(__file__).resolve().parents[2] / "configs/mmseg/linear_midway-tiny_1xb16-2k_synthetic-64x64.py"
PIPELINE = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackSegInputs")]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """3 videos of 6 frames at 64x64 (2 train, 1 val)."""
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(root, num_videos=3, num_frames=6, size=(64, 64), val_videos=1, num_objects=3)
    return root


def _build(**kwargs):
    from mmseg.registry import DATASETS

    import midway_plugin.mmseg  # noqa: F401  (registers the dataset)

    return DATASETS.build(dict(type="MidwaySyntheticDataset", pipeline=PIPELINE, **kwargs))


def test_dataset_reads_one_split_unchanged(synthetic_root: Path) -> None:
    train = _build(data_root=str(synthetic_root), split="train")
    val = _build(data_root=str(synthetic_root), split="val", frame_stride=2, test_mode=True)
    assert len(train) == 12 and len(val) == 3
    assert train.metainfo["classes"] == CLASS_NAMES and train.metainfo["palette"] == [list(c) for c in PALETTE]
    assert {Path(val.get_data_info(i)["img_path"]).parent.name for i in range(len(val))} == {"synth_0002"}
    sample = val[1]
    frame = np.asarray(Image.open(synthetic_root / "frames/synth_0002/000002.png"))
    mask = np.asarray(Image.open(synthetic_root / "masks/synth_0002/000002.png"))
    np.testing.assert_array_equal(sample["inputs"].numpy().transpose(1, 2, 0)[..., ::-1], frame)  # BGR in mmcv
    np.testing.assert_array_equal(sample["data_samples"].gt_sem_seg.data[0].numpy(), mask)
    assert mask.max() > 0  # objects are labelled, background stays class 0


def test_dataset_errors_name_the_problem(synthetic_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MidwaySyntheticDataset: .*dataset.json' not found"):
        _build(data_root=str(tmp_path), split="train")
    with pytest.raises(ValueError, match="split must be one of"):
        _build(data_root=str(synthetic_root), split="test")
    with pytest.raises(ValueError, match="'ann_file' is not used"):
        _build(data_root=str(synthetic_root), ann_file="x.txt")
    with pytest.raises(ValueError, match="reduce_zero_label"):
        _build(data_root=str(synthetic_root), reduce_zero_label=True)


def _data_options(root: Path) -> list[str]:
    return [
        f"{loader}.dataset.data_root={root}" for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
    ]


SHORT = [
    "train_cfg.max_iters=3",
    "param_scheduler.1.end=3",
    "train_cfg.val_interval=3",
    "default_hooks.checkpoint.interval=3",
    "default_hooks.logger.interval=1",
    "train_dataloader.batch_size=4",
]


def test_mim_train_and_test_the_synthetic_config(tmp_path: Path, synthetic_root: Path, tiny_export, mim) -> None:
    export, _ = tiny_export
    work = tmp_path / "work"
    train = mim(
        [
            "train",
            "mmseg",
            str(CONFIG),
            "--work-dir",
            str(work),
            "--cfg-options",
            f"model.backbone.export={export}",
            *_data_options(synthetic_root),
            *SHORT,
        ],
        cwd=tmp_path,
    )
    out = train.stdout
    assert f"MidwayViT: loaded {export}" in out and "resampled pos_embed" in out, out[-4000:]
    assert re.search(r"Iter\(train\) \[3/3\]", out), out[-3000:]
    val = re.search(r"Iter\(val\) \[\d+/\d+\].*mIoU: (\d+\.\d+)", out)
    assert val, out[-3000:]
    assert all(name in out for name in CLASS_NAMES)  # the per-class IoU table uses dataset.json's classes
    checkpoint = work / "iter_3.pth"
    assert checkpoint.is_file()

    test = mim(
        [
            "test",
            "mmseg",
            str(CONFIG),
            "--checkpoint",
            str(checkpoint),
            "--work-dir",
            str(tmp_path / "t"),
            "--cfg-options",
            f"model.backbone.export={export}",
            *_data_options(synthetic_root),
        ],
        cwd=tmp_path,
    )
    tested = re.search(r"Iter\(test\) \[\d+/\d+\].*mIoU: (\d+\.\d+)", test.stdout)
    assert tested, test.stdout[-3000:]
    assert tested.group(1) == val.group(1)


def test_config_reads_a_model_without_dynamics_through_its_encoder(tmp_path: Path, synthetic_root: Path) -> None:
    """The DINO-only base (latent_dynamics=False) with the keys the config header gives for it."""
    from mmseg.registry import MODELS

    import midway_plugin.mmseg  # noqa: F401
    from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export

    base = save_export(
        MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False), with_teacher=False),
        tmp_path / "base.safetensors",
        use_teacher=False,
    )
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        {"model.backbone.export": str(base), "model.backbone.feature_source": "encoder", "model.backbone.out_blocks": 4}
    )
    model = MODELS.build(cfg.model)
    model.init_weights()
    logits = model(torch.zeros(2, 3, 64, 64), mode="tensor")
    assert logits.shape == (2, 4, 8, 8)
    cfg.merge_from_dict({"model.backbone.feature_source": "backward"})
    with pytest.raises(ValueError, match="feature_source='backward' needs backward layers"):
        MODELS.build(cfg.model)
