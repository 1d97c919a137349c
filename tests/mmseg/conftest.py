"""Fixtures for the MMSegmentation plugin tests: tiny Midway exports, a BDD100K-layout dataset, a `mim` runner."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export


def tiny_network(seed: int = 0, **changes) -> MidwayNetwork:
    """A tiny Midway network (``MidwayConfig.tiny()``: 4 blocks, width 48, patch 8, 32 px) with random weights."""
    torch.manual_seed(seed)
    return MidwayNetwork(MidwayConfig.tiny(**changes), with_teacher=False)


@pytest.fixture
def tiny_export(tmp_path: Path) -> tuple[Path, MidwayNetwork]:
    """(path, network) of a tiny network's export written with the core's ``save_export``."""
    net = tiny_network()
    return save_export(net, tmp_path / "tiny_export.safetensors", use_teacher=False), net


def write_bdd100k(root: Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (64, 96)) -> Path:
    """Writes a dataset in mmseg's ``BDD100KDataset`` layout.

    ``images/10k/{train,val}/NAME.jpg`` and ``labels/sem_seg/masks/{train,val}/NAME.png`` (train ids 0..18,
    255 = ignore), as ``mmseg::_base_/datasets/bdd100k.py`` expects. Each image is split into vertical bands of
    a few classes with a class colour plus noise, so the labels are learnable.
    """
    rng = np.random.default_rng(0)
    classes = np.array([0, 2, 8, 10, 13])  # road, building, vegetation, sky, car
    colours = np.array([[128, 64, 128], [70, 70, 70], [107, 142, 35], [70, 130, 180], [0, 0, 142]], np.int16)
    h, w = size
    for split, count in (("train", n_train), ("val", n_val)):
        img_dir = root / "images" / "10k" / split
        ann_dir = root / "labels" / "sem_seg" / "masks" / split
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        for i in range(count):
            bands = rng.permutation(len(classes))
            band = np.repeat(bands, -(-w // len(classes)))[:w]
            idx = np.broadcast_to(band[None, :], (h, w))
            label = classes[idx].astype(np.uint8)
            label[:2, :2] = 255
            img = colours[idx] + rng.integers(-20, 20, (h, w, 3))
            name = f"{split}{i:04d}-bdd"
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(img_dir / f"{name}.jpg", quality=95)
            Image.fromarray(label).save(ann_dir / f"{name}.png")
    return root


@pytest.fixture
def bdd_root(tmp_path: Path) -> Path:
    """A 4 + 2 image BDD100K-layout dataset in a tmp folder."""
    return write_bdd100k(tmp_path / "bdd100k")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def mmlogs():
    """The messages logged to mmengine's current MMLogger during the test."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    handler = _Collect()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _mmseg_default_scope():
    """Every test here builds from the mmseg registries, whatever scope an earlier test area left current."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmseg"):
        yield
