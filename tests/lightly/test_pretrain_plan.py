"""The pretraining config is resolved once, into a PretrainPlan; the builders and the run read the plan only."""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from midway_plugin.data.synthetic import write_synthetic_dataset
from midway_plugin.lightly import pretrain
from midway_plugin.lightly.builders import build_transform
from midway_plugin.lightly.pretrain import run_pretraining
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config
from midway_plugin.lightly.pretrain_plan import PretrainPlan

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"
#: Keys the plan resolves (device, precision, augmentation, repeat and epochs, paths, batch): read once, there.
RESOLVED = (
    "trainer.accelerator",
    "trainer.precision",
    "data.augment",
    "data.mode",
    "data.repeat",
    "data.root",
    "trainer.epochs",
    "output_dir",
    "data.batch_size_per_device",
    "trainer.torch_threads",
    "seed",
    "trainer.checkpoint_every_n_steps",
)


class _Recorded(Mapping):
    """A config section that records every key read: (dotted key, module that read it)."""

    def __init__(self, data: Mapping[str, Any], reads: list[tuple[str, str]], path: tuple[str, ...] = ()) -> None:
        self._data, self._reads, self._path = data, reads, path

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        frame = sys._getframe(1)
        # Skip Mapping.get / __contains__ (and this class) to the module that asked.
        while frame.f_globals.get("__name__") in ("_collections_abc", "collections.abc", __name__):
            frame = frame.f_back
        self._reads.append((".".join((*self._path, key)), frame.f_globals["__name__"]))
        return _Recorded(value, self._reads, (*self._path, key)) if isinstance(value, Mapping) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video")
    write_synthetic_dataset(out, num_videos=2, num_frames=16, size=(64, 64), seed=0, num_objects=2)
    return out / "videos"


def _config(videos: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    base = {
        "data.root": str(videos), "output_dir": str(out), "data.batch_size_per_device": 2, "data.repeat": 1,
        "data.num_workers": 0, "trainer.max_steps": 1, "trainer.checkpoint_every_n_steps": 1,
        "trainer.progress_bar": False, "method.head_output_dim": 64, "method.head_hidden_dim": 32,
        "method.head_bottleneck_dim": 16,
    }  # fmt: skip
    return load_config(DEMO, {**base, **overrides})


def test_following_the_config_enters_one_module(videos, tmp_path, monkeypatch) -> None:
    """A whole run (views rendered on the device, the path that used to build the transform twice) reads its
    config in the plan only, each resolved key once, and builds one transform."""
    reads: list[tuple[str, str]] = []
    built = []
    monkeypatch.setattr(pretrain, "build_transform", lambda plan: built.append(plan) or build_transform(plan))
    result = run_pretraining(_Recorded(_config(videos, tmp_path, **{"data.augment": "device"}), reads))
    assert result["global_step"] == 1 and result["augment"] == "device"
    assert {module for _, module in reads} == {"midway_plugin.lightly.pretrain_plan"}
    counts = Counter(key for key, _ in reads)
    assert {key: counts[key] for key in RESOLVED} == dict.fromkeys(RESOLVED, 1)
    assert len(built) == 1


def test_the_plan_resolves_mode_repeat_and_epochs(videos, tmp_path) -> None:
    folder = PretrainPlan.from_config(
        _config(videos, tmp_path, **{"data.repeat": 2, "data.mode": "auto", "trainer.epochs": 5})
    )
    assert folder.mode == "folder" and folder.repeat == 2 and folder.max_epochs == 3  # ceil(5 / 2) passes
    assert folder.midway_kwargs["repeat_sample"] == 2 and folder.midway_kwargs["epochs"] == 5
    video = next(videos.iterdir())
    single = PretrainPlan.from_config(_config(video, tmp_path, **{"data.mode": "auto", "trainer.epochs": 5}))
    assert single.mode == "single" and single.repeat == 1 and single.max_epochs == 5
    assert single.dataset_options["mode"] == "single" and single.data_root == video
    assert folder.checkpoint_dir == tmp_path / "checkpoints"
    with pytest.raises(dataclasses.FrozenInstanceError):
        folder.repeat = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("data.batch_size_per_device", 0, r"'data.batch_size_per_device' = 0 is not valid \(too small\)"),
        ("trainer.epochs", 0, r"'trainer.epochs' = 0(\.0)? is not valid \(too small\)"),
        ("trainer.checkpoint_every_n_steps", 0, r"'trainer.checkpoint_every_n_steps' = 0 is not valid \(too small\)"),
        ("trainer.torch_threads", 0, r"'trainer.torch_threads' = 0 is not valid \(too small\)"),
        ("model.preset", "vit-z99", "model"),
    ],
)
def test_values_no_type_catches_are_named(videos, tmp_path, key, value, message) -> None:
    # The value rules (config_values.py) run once, in load_config; the plan re-checks nothing.
    with pytest.raises(PretrainConfigError, match=message):
        PretrainPlan.from_config(_config(videos, tmp_path, **{key: value}))


def test_a_batch_no_process_fills_is_refused(videos, tmp_path) -> None:
    plan = PretrainPlan.from_config(_config(videos, tmp_path, **{"data.batch_size_per_device": 3}))
    plan.check_batch(items=6, world_size=2)
    with pytest.raises(PretrainConfigError, match=r"batch_size_per_device=3 exceeds the 2 item\(s\)"):
        plan.check_batch(items=4, world_size=2)
