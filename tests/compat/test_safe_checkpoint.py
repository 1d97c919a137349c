"""The allow-list checkpoint loader: mmengine checkpoints load, code-running pickles are refused."""

from __future__ import annotations

import io
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
        "meta": {
            "iter": 2,
            "epoch": 0,
            "seed": np.int64(7),
            "mean": np.float32(0.5),
            "hist": np.arange(4, dtype=np.float64),
        },
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


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        (_RunsShell, "posix.system"),
        (_RunsSubprocess, "check_call"),
        (_Evals, "eval"),
    ],
)
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


class _RewrittenDtype:
    """A dtype the allow-list passes when it is created, whose ``BUILD`` then sets object flags (or any flags)."""

    def __init__(self, code: str, flags: int, copy: bool = True) -> None:
        self.code, self.flags, self.copy = code, flags, copy

    def __reduce__(self) -> tuple[Any, ...]:
        state = list(np.dtype(self.code).__reduce__()[2])
        state[7] = self.flags
        return np.dtype, (self.code, False, self.copy), tuple(state)


class _ArrayOfRewrittenDtype:
    def __reduce__(self) -> tuple[Any, ...]:
        reconstruct, args, state = np.zeros(2, dtype="S8").__reduce__()
        return reconstruct, args, (state[0], state[1], _RewrittenDtype("S8", 0x3F), state[3], [b"a", b"b"])


class _CallsDtypeClass:
    def __reduce__(self) -> tuple[Any, ...]:
        return np.dtypes.Float64DType, ()


@pytest.mark.parametrize(
    "payload",
    [
        _RewrittenDtype("S8", 0x01),  # the reported case: hasobject set after the dtype check passed
        _RewrittenDtype("S8", 0x3F),
        _RewrittenDtype("f8", 0x01),
        _ArrayOfRewrittenDtype(),  # the array would be read with the rewritten dtype
    ],
    ids=["S8-hasobject", "S8-object-flags", "f8-hasobject", "array-of-it"],
)
def test_a_dtype_rewritten_after_its_check_is_refused(tmp_path: Path, payload: Any) -> None:
    path = tmp_path / "dtype.pth"
    torch.save({"meta": payload}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"dtype.pth.*holds Python objects.*nothing in it was run"):
        safe_torch_load(path)


def test_a_file_cannot_rewrite_numpy_s_shared_dtypes(tmp_path: Path) -> None:
    """``numpy.dtype('f8', copy=False)`` is the process-wide float64; the BUILD after it must not reach it."""
    path = tmp_path / "shared.pth"
    torch.save({"meta": _RewrittenDtype("f8", 0x01, copy=False)}, path)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path)
    assert not np.dtype("f8").hasobject and np.dtype("f8").flags == 0
    torch.save({"meta": _CallsDtypeClass()}, path)  # calling the dtype class also returns the shared one
    with pytest.raises(UnsafeCheckpointError, match="Float64DType"):
        safe_torch_load(path)


def test_loaded_arrays_are_plain_ndarrays(tmp_path: Path) -> None:
    path = tmp_path / "arrays.pth"
    shared = np.arange(3.0)
    torch.save(
        {
            "a": shared,
            "b": [shared, (np.zeros((2, 2), dtype=[("x", "<f4"), ("y", "<i8")]),)],
            "s": np.float32(2.5),
            "u": np.array(["ab"]),
        },
        path,
    )
    loaded = safe_torch_load(path)
    assert type(loaded["a"]) is np.ndarray and loaded["b"][0] is loaded["a"]
    assert type(loaded["b"][1][0]) is np.ndarray and loaded["b"][1][0].dtype.names == ("x", "y")
    assert loaded["s"] == np.float32(2.5) and loaded["u"][0] == "ab"


def test_an_unsupported_opcode_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "raw.pkl"
    path.write_bytes(b"\x80\x02\xff.")
    with pytest.raises(UnsafeCheckpointError, match=r"pickle opcode 255 \(0xff.*does not implement") as err:
        safe_torch_load(path)
    assert "global" not in str(err.value)


def test_refusals_are_worded_as_everywhere_else_in_the_package(tmp_path: Path) -> None:
    """compat may not import the package, so it keeps its own copy of the wording: the two must agree."""
    from midway_plugin.compat.safe_checkpoint import refusal_message
    from midway_plugin.models.refused_pickle import refusal_message as core_message

    for data in (pickle.dumps({"a": _RunsShell("true")}, protocol=2), b"\x80\x02\xff."):
        try:
            torch.load(io.BytesIO(data), weights_only=True)
        except pickle.UnpicklingError as err:
            assert refusal_message("x.ckpt", err) == core_message("x.ckpt", err)
            assert "weights_only" not in refusal_message("x.ckpt", err)
        else:
            raise AssertionError("torch loaded a refused pickle")
