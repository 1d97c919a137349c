"""Fixtures for the compat-layer tests: tiny generated datasets in upstream layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from midway_plugin.data.synthetic.flo_io import write_flo


@pytest.fixture
def cityscapes_root(tmp_path: Path) -> Path:
    """A 4 + 2 image Cityscapes-layout dataset in a tmp folder."""
    return write_cityscapes(tmp_path / "cityscapes")


@pytest.fixture
def flyingchairs(tmp_path: Path) -> tuple[Path, Path]:
    """(data root, split file) of a 4 + 2 pair FlyingChairs-layout dataset in a tmp folder."""
    root = tmp_path / "FlyingChairs_release"
    return root, write_flyingchairs(root)


def write_cityscapes(root: Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (64, 128)) -> Path:
    """Writes a Cityscapes-layout dataset (``leftImg8bit/``, ``gtFine/*_labelTrainIds.png``).

    Each image is split into vertical bands of classes 0..3 with a class colour plus noise, so
    labels are learnable; a few pixels are 255 (ignore).
    """
    rng = np.random.default_rng(0)
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]], np.uint8)
    h, w = size
    for split, count in (("train", n_train), ("val", n_val)):
        img_dir = root / "leftImg8bit" / split / "town"
        ann_dir = root / "gtFine" / split / "town"
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        for i in range(count):
            bands = rng.permutation(4)
            label = np.repeat(bands, w // 4)[None, :].repeat(h, 0).astype(np.uint8)
            label[:2, :2] = 255
            img = colours[np.minimum(label, 3)].astype(np.int16) + rng.integers(-20, 20, (h, w, 3))
            stem = f"town_{i:06d}_000019"
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(img_dir / f"{stem}_leftImg8bit.png")
            Image.fromarray(label).save(ann_dir / f"{stem}_gtFine_labelTrainIds.png")
    return root


def write_flyingchairs(root: Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (80, 112)) -> Path:
    """Writes a FlyingChairs-layout dataset: ``data/NNNNN_img{1,2}.ppm``, ``NNNNN_flow.flo``.

    ``img2`` is ``img1`` (smooth random texture) translated by an integer (dx, dy), and the flow
    is that constant translation. Returns the split file (1 = train, 2 = val) written beside it,
    in the format of ``FlyingChairs_train_val.txt``.
    """
    rng = np.random.default_rng(0)
    h, w = size
    data = root / "data"
    data.mkdir(parents=True)
    split = []
    for i in range(n_train + n_val):
        coarse = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
        big = np.asarray(Image.fromarray(coarse).resize((w + 16, h + 16), Image.BILINEAR))
        dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
        img1 = big[8 : 8 + h, 8 : 8 + w]
        img2 = big[8 - dy : 8 - dy + h, 8 - dx : 8 - dx + w]  # img2(x + dx, y + dy) = img1(x, y)
        Image.fromarray(np.ascontiguousarray(img1)).save(data / f"{i + 1:05d}_img1.ppm")
        Image.fromarray(np.ascontiguousarray(img2)).save(data / f"{i + 1:05d}_img2.ppm")
        write_flo(data / f"{i + 1:05d}_flow.flo", np.broadcast_to(np.array([dx, dy], np.float32), (h, w, 2)))
        split.append(1 if i < n_train else 2)
    split_file = root / "FlyingChairs_train_val.txt"
    split_file.write_text("".join(f"{s}\n" for s in split))
    return split_file
