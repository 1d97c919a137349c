"""The METHODS entry works the way Lightly's benchmark main.py uses it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from lightly.data import LightlyDataset
from lightly.data.multi_view_collate import MultiViewCollate
from PIL import Image
from pytorch_lightning import Trainer
from torch.utils.data import DataLoader

from midway_plugin.data.views import MidwayTransform
from midway_plugin.lightly import METHODS, Midway, MidwayImageTransform


def test_methods_entry_matches_lightly_main_signature():
    entry = METHODS["midway"]
    assert entry["model"] is Midway
    params = inspect.signature(Midway).parameters
    assert list(params)[:2] == ["batch_size_per_device", "num_classes"]
    optional = [p for name, p in params.items() if name != "batch_size_per_device"]
    assert all(p.default is not inspect.Parameter.empty for p in optional)
    assert isinstance(entry["transform"], MidwayImageTransform)


def test_lightly_style_training_and_online_classifier(tmp_path):
    """A LightlyDataset of class folders + MultiViewCollate + validation batches, as in Lightly's main.py."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    transform = MidwayImageTransform(MidwayTransform.small())
    train = DataLoader(
        LightlyDataset(str(tmp_path), transform=transform),
        batch_size=2,
        shuffle=True,
        collate_fn=MultiViewCollate(),
        drop_last=True,
    )

    def val_tf(img):
        return torch.from_numpy(np.asarray(img.resize((32, 32)), dtype=np.float32)).permute(2, 0, 1) / 255

    val = DataLoader(LightlyDataset(str(tmp_path), transform=val_tf), batch_size=2)

    model = Midway(
        batch_size_per_device=2,
        num_classes=2,
        model={"preset": "tiny"},
        head_output_dim=64,
        head_hidden_dim=32,
        head_bottleneck_dim=16,
        epochs=1,
    )
    assert model.online_classifier.feature_dim == model.network.encoder.embed_dim
    trainer = Trainer(
        max_steps=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=3.0,
    )
    trainer.fit(model, train_dataloaders=train, val_dataloaders=val)
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train_loss"]) and "loss_dynamics" in metrics
    assert "val_online_cls_top1" in metrics
    with torch.no_grad():
        assert model(torch.randn(3, 3, 32, 32)).shape == (3, model.network.encoder.embed_dim)


def test_image_transform_requires_both_crop_kinds():
    with pytest.raises(ValueError, match="both motion and DINO"):
        MidwayImageTransform(MidwayTransform(with_motion=False))
