"""A pretraining run through the accelerator-augment path (on CPU tensors), fused AdamW and the config switches."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from midway_plugin.data.synthetic import write_synthetic_dataset
from midway_plugin.lightly.pretrain import run_pretraining
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config
from midway_plugin.lightly.pretrain_plan import PretrainPlan

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video")
    write_synthetic_dataset(out, num_videos=2, num_frames=16, size=(64, 64), seed=0, num_objects=2)
    return out / "videos"


def _config(videos: Path, out: Path, **overrides) -> dict:
    base = {
        "data.root": str(videos), "output_dir": str(out), "data.batch_size_per_device": 2, "data.repeat": 1,
        "data.num_workers": 0, "trainer.max_steps": 2, "trainer.checkpoint_every_n_steps": 2,
        "trainer.log_every_n_steps": 1, "trainer.progress_bar": False, "method.head_output_dim": 64,
        "method.head_hidden_dim": 32, "method.head_bottleneck_dim": 16,
    }  # fmt: skip
    base.update(overrides)
    return load_config(DEMO, base)


def test_device_augment_run_trains_with_fused_adamw(videos, tmp_path) -> None:
    result = run_pretraining(_config(videos, tmp_path, **{"data.augment": "device"}))
    assert result["global_step"] == 2
    assert result["augment"] == "device" and result["optimizer"] == "fused"
    rows = result["csv_log"].read_text().splitlines()
    header = rows[0].split(",")
    losses = [float(v) for row in rows[1:] for k, v in zip(header, row.split(",")) if k == "train_loss" and v]
    assert losses and all(math.isfinite(v) for v in losses)


def test_switches_resolve_on_a_cpu_machine(videos, tmp_path) -> None:
    config = _config(videos, tmp_path, **{"trainer.accelerator": "cpu", "trainer.precision": "auto"})
    plan = PretrainPlan.from_config(config)
    assert not plan.on_cuda and not plan.augment_on_device  # "auto": the device path only where training runs on CUDA
    assert plan.precision == "32-true"
    assert PretrainPlan.from_config(_config(videos, tmp_path, **{"data.augment": "device"})).augment_on_device
    with pytest.raises(PretrainConfigError, match="data.augment"):  # refused as the config loads
        _config(videos, tmp_path, **{"data.augment": "gpu-please"})


def test_step_keyed_seeds_fix_the_decoded_pairs_and_crop_boxes(videos) -> None:
    """Under SeededSamples the same (index, sample seed) gives the same pairs and boxes in any order."""
    from midway_plugin.data.video import VideoPairDataset
    from midway_plugin.data.views import MidwayTransform
    from midway_plugin.data.views.device_augment import PairGeometryTransform
    from midway_plugin.lightly.reproducible import SeededSamples

    dataset = SeededSamples(
        VideoPairDataset(videos, transform=PairGeometryTransform(MidwayTransform.small()), repeat=2, delta_t=(2, 4))
    )
    first = dataset[(0, 1234)]
    dataset[(1, 99)]  # other draws in between must not matter
    again = dataset[(0, 1234)]
    other = dataset[(0, 1235)]
    assert torch.equal(first["frame_indices"], again["frame_indices"])
    for key, value in first["views"].items():
        assert torch.equal(value, again["views"][key]), key
    assert not torch.equal(first["views"]["local_boxes"], other["views"]["local_boxes"])


def test_resumed_device_augment_run_repeats_the_uninterrupted_one(videos, tmp_path) -> None:
    """Views rendered on the device draw from the per-step seeds: resuming at step 1 gives step 2's exact weights."""
    from midway_plugin.lightly.checkpoint import load_lightning_checkpoint

    # One worker: with none, building the items in the training process would reseed it before each transfer.
    settings = {"data.augment": "device", "trainer.checkpoint_every_n_steps": 1, "data.num_workers": 1}
    straight = run_pretraining(_config(videos, tmp_path / "straight", **settings))
    resumed = run_pretraining(
        _config(videos, tmp_path / "resumed", **settings), resume=straight["checkpoint_dir"] / "step-00000001.ckpt"
    )
    assert straight["global_step"] == resumed["global_step"] == 2
    a = load_lightning_checkpoint(straight["checkpoint_dir"] / "step-00000002.ckpt")["state_dict"]
    b = load_lightning_checkpoint(resumed["checkpoint_dir"] / "step-00000002.ckpt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
