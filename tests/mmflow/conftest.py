"""Fixtures for the MMFlow adapter tests: tiny exports and tiny generated flow datasets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from midway_plugin.data.synthetic.flo_io import write_flo

# The Midway config used everywhere here: MidwayConfig.tiny() (patch 8, width 48, 4 blocks).
SMALL_HEAD = dict(features=16, reassemble_channels=(8, 8, 16, 16), readout="project")


def textured_pair(rng: np.random.Generator, h: int, w: int, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random RGB texture and its copy translated by (dx, dy): ``img2(x + dx, y + dy) = img1(x, y)``."""
    m = 8
    coarse = rng.integers(0, 256, (h // 6 + 3, w // 6 + 3, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(coarse).resize((w + 2 * m, h + 2 * m), Image.BILINEAR))
    img1 = big[m : m + h, m : m + w]
    img2 = big[m - dy : m - dy + h, m - dx : m - dx + w]
    return np.ascontiguousarray(img1), np.ascontiguousarray(img2)


def constant_flow(h: int, w: int, dx: int, dy: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.array([dx, dy], np.float32), (h, w, 2)))


def write_flyingchairs(root: Path, n_train: int = 4, n_val: int = 2, size=(72, 100)) -> Path:
    """FlyingChairs layout (``data/NNNNN_img{1,2}.ppm``, ``NNNNN_flow.flo``) + split file (1 train, 2 val)."""
    rng = np.random.default_rng(0)
    data = root / "data"
    data.mkdir(parents=True)
    split = []
    for i in range(n_train + n_val):
        dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
        img1, img2 = textured_pair(rng, *size, dx, dy)
        Image.fromarray(img1).save(data / f"{i + 1:05d}_img1.ppm")
        Image.fromarray(img2).save(data / f"{i + 1:05d}_img2.ppm")
        write_flo(data / f"{i + 1:05d}_flow.flo", constant_flow(*size, dx, dy))
        split.append(1 if i < n_train else 2)
    split_file = root / "FlyingChairs_train_val.txt"
    split_file.write_text("".join(f"{s}\n" for s in split))
    return split_file


def write_sintel(root: Path, scenes=("alley_1", "temple_2"), frames: int = 3, size=(70, 90)) -> Path:
    """MPI-Sintel training layout: ``training/{clean,final,flow,occlusions,invalid}/<scene>/frame_NNNN.*``."""
    rng = np.random.default_rng(1)
    train = root / "training"
    for scene in scenes:
        dirs = {k: train / k / scene for k in ("clean", "final", "flow", "occlusions", "invalid")}
        for d in dirs.values():
            d.mkdir(parents=True)
        dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
        img1, _ = textured_pair(rng, *size, 0, 0)
        imgs = [img1]
        for _ in range(frames - 1):
            pad = np.pad(imgs[-1], ((4, 4), (4, 4), (0, 0)), mode="edge")
            imgs.append(np.ascontiguousarray(pad[4 - dy : 4 - dy + size[0], 4 - dx : 4 - dx + size[1]]))
        for i, img in enumerate(imgs, start=1):
            Image.fromarray(img).save(dirs["clean"] / f"frame_{i:04d}.png")
            Image.fromarray(np.clip(img.astype(int) + 10, 0, 255).astype(np.uint8)).save(
                dirs["final"] / f"frame_{i:04d}.png"
            )
            Image.fromarray(np.zeros(size, np.uint8)).save(dirs["invalid"] / f"frame_{i:04d}.png")
            if i < frames:
                write_flo(dirs["flow"] / f"frame_{i:04d}.flo", constant_flow(*size, dx, dy))
                Image.fromarray(np.zeros(size, np.uint8)).save(dirs["occlusions"] / f"frame_{i:04d}.png")
    return root


def write_tartanair(root: Path, nested: bool = False, frames: int = 3, size=(48, 64)) -> Path:
    """TartanAir layout ``<env>/[<env>/]Easy/P000/{image_left,flow}``; the mask marks the left column invalid."""
    rng = np.random.default_rng(2)
    for env in ("office", "ocean"):
        base = root / env / env if nested else root / env
        traj = base / "Easy" / "P000"
        (traj / "image_left").mkdir(parents=True)
        (traj / "flow").mkdir()
        img, _ = textured_pair(rng, *size, 0, 0)
        for i in range(frames):
            Image.fromarray(img).save(traj / "image_left" / f"{i:06d}_left.png")
            if i + 1 < frames:
                np.save(traj / "flow" / f"{i:06d}_{i + 1:06d}_flow.npy", constant_flow(*size, 2, -1))
                mask = np.zeros(size, np.uint8)
                mask[:, 0] = 10
                np.save(traj / "flow" / f"{i:06d}_{i + 1:06d}_mask.npy", mask)
    return root


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Tiny tensors: the root conftest's ``one_torch_thread`` for every test here (~10x faster than two threads)."""


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> Path:
    """A ``save_export`` of ``MidwayNetwork(MidwayConfig.tiny())`` (patch 8)."""
    from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("export") / "tiny.safetensors"
    save_export(MidwayNetwork(MidwayConfig.tiny()), path)
    return path


@pytest.fixture(scope="session")
def tiny16_export(tmp_path_factory) -> Path:
    """A tiny export with patch 16 (stride-16 tokens, as ViT-S/16)."""
    from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export

    torch.manual_seed(0)
    cfg = MidwayConfig.tiny()
    cfg = cfg.replace(encoder_kwargs={**cfg.encoder_kwargs, "patch_size": 16}, img_size=64)
    path = tmp_path_factory.mktemp("export16") / "tiny16.safetensors"
    save_export(MidwayNetwork(cfg), path)
    return path


@pytest.fixture(scope="session")
def flowdata() -> SimpleNamespace:
    """The generators above (test modules cannot import conftest under ``--import-mode=importlib``)."""
    return SimpleNamespace(
        textured_pair=textured_pair,
        write_flo=write_flo,
        constant_flow=constant_flow,
        write_flyingchairs=write_flyingchairs,
        write_sintel=write_sintel,
        write_tartanair=write_tartanair,
        small_head=dict(SMALL_HEAD),
    )


@pytest.fixture(autouse=True)
def _mmflow_default_scope():
    """Every test here builds from the mmflow registries, whatever scope an earlier test area left current."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmflow"):
        yield
