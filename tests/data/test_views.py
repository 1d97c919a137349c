"""The view contract: what the data produces (dict or flat list) is what the method unpacks, crop for crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.data.views import (
    VIEW_ORDER,
    DeviceAugment,
    MidwayTransform,
    collate_decoded,
    flatten_pairs,
    unpack_batch,
)


def test_dataset_batches_unpack_in_the_transforms_order(video_dir: Path) -> None:
    torch.manual_seed(0)
    transform = MidwayTransform.small(n_local_views=3)
    ds = VideoPairDataset(video_dir, transform=transform, delta_t=(3, 6), repeat=2)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    views = unpack_batch(batch)
    assert views.batch_size == 4  # B * R pairs
    assert [v.shape for v in views.motion] == [(4, 3, 32, 32)] * 2
    assert len(views.globals_) == 4 and len(views.locals_) == 6 and views.locals_[0].shape == (4, 3, 16, 16)
    # Item-major: pair r of item b is row b * R + r; each crop keeps its position in the transform's lists.
    stacked_views = batch["views"]["dino_global"] + batch["views"]["dino_local"]
    for got, stacked in zip(views.globals_ + views.locals_, stacked_views):
        assert torch.equal(got[1], stacked[0, 1]) and torch.equal(got[2], stacked[1, 0])
    assert torch.equal(views.motion[1][3], batch["views"]["motion"][1][1, 1])


def test_flat_lists_follow_view_order() -> None:
    n, k = 3, 2
    crops = [torch.full((n, 3, 8, 8), float(i)) for i in range(2 + 4 + 2 * k)]
    views = unpack_batch((crops, torch.arange(n), ["f"] * n))
    named = dict(zip(VIEW_ORDER[:6], [views.motion[0], views.motion[1], *views.globals_]))
    assert [int(named[name][0, 0, 0, 0]) for name in VIEW_ORDER[:6]] == [0, 1, 2, 3, 4, 5]
    assert [int(v[0, 0, 0, 0]) for v in views.locals_] == [6, 7, 8, 9]  # locals of x, then of y
    assert torch.equal(views.targets, torch.arange(n))
    with pytest.raises(ValueError, match="equal number of local crops"):
        unpack_batch((crops[:-1], None, None))


def test_rendered_views_are_not_flattened_again() -> None:
    transform = MidwayTransform.small(n_local_views=1)
    augment = DeviceAugment(transform)
    frames = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    worker = augment.worker_transform()
    items = [{"views": {k: v.unsqueeze(0) for k, v in worker(frames, frames).items()}} for _ in range(3)]
    batch = collate_decoded(items)
    with pytest.raises(ValueError, match="no augmenter rendered them"):
        unpack_batch(batch)
    rendered = {"views": augment(flatten_pairs(batch["views"]))}
    views = unpack_batch(rendered)
    assert views.batch_size == 3 and views.globals_[0].shape == (3, 3, 32, 32) and len(views.locals_) == 2


def test_flatten_pairs_rank() -> None:
    batch = {"views": [torch.zeros(2, 5, 3, 4, 4), torch.zeros(6, 3, 4, 4)], "index": torch.zeros(2, 5), "p": "x"}
    every = flatten_pairs(batch)
    assert every["views"][0].shape == (10, 3, 4, 4) and every["views"][1].shape == (18, 4, 4)
    assert every["index"].shape == (10,) and every["p"] == "x"
    images = flatten_pairs(batch, rank=5)
    assert images["views"][0].shape == (10, 3, 4, 4) and images["views"][1].shape == (6, 3, 4, 4)
    assert images["index"].shape == (2, 5)


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        ({"frames": torch.zeros(1)}, "must hold 'views'"),
        ({"views": torch.zeros(2, 3, 8, 8)}, "must be a dict of crops"),
        ({"views": {"dino_local": [torch.zeros(2, 3, 8, 8)]}}, "neither 'motion' nor 'dino_global'"),
        ({"views": {"motion": [torch.zeros(2, 3, 8, 8)] * 3}}, "2 crops"),
        ({"views": {"motion": torch.zeros(2, 8, 8)}}, r"views\['motion'\] must be \(N, C, H, W\)"),
        (torch.zeros(2, 3, 8, 8), "unsupported batch"),
    ],
)
def test_bad_batches_are_named(batch: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        unpack_batch(batch)
