"""The allow-list checkpoint loader: mmengine checkpoints load, code-running pickles are refused."""
from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import midway_plugin.mmseg  # noqa: F401  (activates the loader)
from midway_plugin.compat.safe_checkpoint import UnsafeCheckpointError, safe_torch_load


def _mmengine_like_checkpoint() -> dict[str, Any]:
    """What mmengine's Runner.save_checkpoint writes, with the objects that need the allow-list."""
    from mmengine.logging import MessageHub
    from mmengine.optim.scheduler import OneCycleLR, PolyLR

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    one_cycle = OneCycleLR(optimizer, eta_max=4e-4, total_steps=100, anneal_strategy="linear", by_epoch=False)
    poly = PolyLR(optimizer, eta_min=1e-4, power=0.9, end=100, by_epoch=False)
    hub = MessageHub.get_instance("compat-test")
    for value in (1.0, 0.5):
        hub.update_scalar("train/loss", value)
    hub.update_info("iter", 2)
    hub.update_info("seed", np.int64(7))
    return {
        "meta": {"iter": 2, "epoch": 0, "seed": np.int64(7), "mean": np.float32(0.5),
                 "hist": np.arange(4, dtype=np.float64)},
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "param_schedulers": [one_cycle.state_dict(), poly.state_dict()],
        "message_hub": hub.state_dict(),
    }


def test_plain_weights_only_load_refuses_mmengine_checkpoints(tmp_path: Path) -> None:
    """The reason the allow-list exists (torch >= 2.6 default)."""
    path = tmp_path / "iter_2.pth"
    torch.save(_mmengine_like_checkpoint(), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_mmengine_checkpoint_loads_through_mmengine(tmp_path: Path) -> None:
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import _load_checkpoint

    path = tmp_path / "iter_2.pth"
    saved = _mmengine_like_checkpoint()
    torch.save(saved, path)
    loaded = _load_checkpoint(str(path), map_location="cpu")
    assert torch.equal(loaded["state_dict"]["weight"], saved["state_dict"]["weight"])
    np.testing.assert_array_equal(loaded["meta"]["hist"], np.arange(4.0))
    assert loaded["meta"]["seed"] == 7 and loaded["meta"]["mean"].dtype == np.float32
    one_cycle = loaded["param_schedulers"][0]
    assert one_cycle["anneal_func"].__name__ == "_annealing_linear"
    buffer = loaded["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer) and buffer.mean() == pytest.approx(0.75)
    assert buffer.statistics("current") == 0.5


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


class _RunsSubprocess(_RunsShell):
    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return subprocess.check_call, (["touch", self.command.split()[-1]],)


class _Evals(_RunsShell):
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return eval, (f"__import__('os').system({self.command!r})",)


@pytest.mark.parametrize(("payload", "refused"), [
    (_RunsShell, "posix.system"), (_RunsSubprocess, "check_call"), (_Evals, "eval"),
])
def test_code_running_checkpoint_is_refused_and_nothing_runs(tmp_path: Path, payload: type, refused: str) -> None:
    from mmengine.runner.checkpoint import _load_checkpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": payload(f"touch {marker}")}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path), map_location="cpu")
    assert str(path) in str(err.value) and refused in str(err.value)
    assert not marker.exists()


class _GetattrGadget:
    def __init__(self, target: Any, name: str) -> None:
        self.target, self.name = target, name

    def __reduce__(self) -> tuple[Any, tuple[Any, str]]:
        return getattr, (self.target, self.name)


def _gadgets() -> list[tuple[Any, str]]:
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler import OneCycleParamScheduler
    from numpy._core.multiarray import _reconstruct

    return [
        (_reconstruct, "__self__"),  # would hand out a numpy module ...
        (HistoryBuffer, "__init__"),  # ... or a function whose __globals__ reach everything
        (OneCycleParamScheduler, "step"),  # allowed class, method not on the list
        (np.ndarray, "min"),  # allowed name, class not on the list
        (HistoryBuffer([1.0], [1]), "mean"),  # an instance: its attributes may come from the file
    ]


@pytest.mark.parametrize("gadget", range(5))
def test_getattr_is_limited_to_allow_listed_methods(tmp_path: Path, gadget: int) -> None:
    target, name = _gadgets()[gadget]
    path = tmp_path / "gadget.pth"
    torch.save({"meta": _GetattrGadget(target, name)}, path)
    with pytest.raises(UnsafeCheckpointError, match=rf"getattr\(.*{name}"):
        safe_torch_load(path)


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.pth"
    torch.save({"meta": np.array([{"a": 1}], dtype=object)}, path)
    with pytest.raises(UnsafeCheckpointError, match="objects.pth"):
        safe_torch_load(path)


def test_loader_refuses_to_run_with_the_allow_list_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmengine.runner.checkpoint import _load_checkpoint

    path = tmp_path / "plain.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    assert torch.equal(_load_checkpoint(str(path))["state_dict"]["w"], torch.ones(1))
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(UnsafeCheckpointError, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):
        _load_checkpoint(str(path))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    from mmengine.runner.checkpoint import _load_checkpoint

    with pytest.raises(FileNotFoundError, match="nope.pth"):
        _load_checkpoint(str(tmp_path / "nope.pth"))
