"""Allow-list loading of mmengine checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7 still calls plain
``torch.load`` and its own checkpoints (``--resume``, ``load_from``, ``mim test``) hold more than
tensors: the message hub's :class:`~mmengine.logging.HistoryBuffer`, the param schedulers' state
(whole scheduler objects for e.g. ``OneCycleParamScheduler``), numpy arrays, dtypes and scalars.
torch refuses those (``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer``).

The tempting fixes (``weights_only=False``, ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) let a checkpoint
run arbitrary code. Instead this module keeps torch's restricted unpickler and widens its allow-list
by exactly the globals an mmengine checkpoint needs.

``builtins.getattr`` is the delicate one: pickle protocol 2 (``torch.save``'s default) stores a
function with a dotted ``__qualname__`` (``HistoryBuffer.mean``, ``OneCycleParamScheduler.
_annealing_cos``) as ``getattr(<class>, "<name>")``. Allowing the real ``getattr`` would let a file
walk attributes from any allowed object to anything in the process (e.g. ``_reconstruct.__self__``
is a numpy module). So the name ``builtins.getattr`` is mapped to :func:`restricted_getattr`, which
only resolves the allow-listed (class, method name) pairs below; torch's unpickler only calls
callables that are on its allow-list, so nothing else can be reached.

Every mmengine checkpoint scheme (local paths, ``http(s)://``, ``open-mmlab://``, ``s3://``, ...)
goes through :class:`mmengine.runner.checkpoint.CheckpointLoader`; :func:`install` re-registers its
loaders so that resume, ``load_from``, ``init_cfg=dict(type='Pretrained')`` and ``mim test`` all use
the allow-list without any change to configs or command lines.
"""
from __future__ import annotations

import functools
import os
import os.path as osp
import pickle
import re
from typing import IO, Any, Callable, Union

import numpy as np
import torch

FileLike = Union[str, os.PathLike, IO[bytes]]

#: Methods a checkpoint may reference through ``getattr(<class>, name)``.
#: HistoryBuffer pickles its ``_statistics_methods`` (mmengine/logging/history_buffer.py);
#: OneCycleParamScheduler stores ``anneal_func`` (mmengine/optim/scheduler/param_scheduler.py).
HISTORY_BUFFER_METHODS = frozenset({"min", "max", "current", "mean"})
PARAM_SCHEDULER_METHODS = frozenset({"_annealing_cos", "_annealing_linear"})

# numpy dtype classes that can only hold plain bytes (no object references).
_NUMPY_DTYPE_CLASS_NAMES = (
    "BoolDType", "Int8DType", "UInt8DType", "Int16DType", "UInt16DType", "Int32DType",
    "UInt32DType", "Int64DType", "UInt64DType", "LongLongDType", "ULongLongDType", "ByteDType",
    "UByteDType", "ShortDType", "UShortDType", "IntDType", "UIntDType", "LongDType", "ULongDType",
    "Float16DType", "Float32DType", "Float64DType", "LongDoubleDType", "Complex64DType",
    "Complex128DType", "CLongDoubleDType", "BytesDType", "StrDType", "DateTime64DType",
    "TimeDelta64DType",
)

_ENV_DISABLING_ALLOW_LIST = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references a global outside the allow-list; nothing from it was executed."""


class _RefusedGetattr(pickle.UnpicklingError):
    """Raised inside the unpickler by :func:`restricted_getattr`."""


def _param_scheduler_base() -> type:
    from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

    return _ParamScheduler


def _history_buffer() -> type:
    from mmengine.logging.history_buffer import HistoryBuffer

    return HistoryBuffer


def _param_scheduler_classes() -> list[type]:
    """All imported subclasses of mmengine's ``_ParamScheduler`` (mmengine's, mmseg's, user ones).

    A subclass can only be here if its module was imported by the running program (upstream,
    or through the config's ``custom_imports``), i.e. it is code the user already runs.
    """
    seen: list[type] = []
    stack = [_param_scheduler_base()]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


def restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to the method references mmengine checkpoints contain.

    Installed in place of ``builtins.getattr`` while a checkpoint is unpickled.

    Only class objects are accepted (that is how pickle protocol 2 refers to ``Class.method``), so
    the result is always code from the class itself, never state an instance got from the file.

    Args:
        obj: The class the pickle asks an attribute of.
        name: The attribute name.

    Returns:
        The attribute, if ``(obj, name)`` is allow-listed.

    Raises:
        pickle.UnpicklingError: For any other object or name.
    """
    if isinstance(obj, type) and isinstance(name, str):
        if issubclass(obj, _history_buffer()) and name in HISTORY_BUFFER_METHODS:
            return getattr(obj, name)
        if issubclass(obj, _param_scheduler_base()) and name in PARAM_SCHEDULER_METHODS:
            return getattr(obj, name)
    raise _RefusedGetattr(
        f"GLOBAL builtins.getattr({_describe(obj)}, {name!r}) is not allow-listed "
        "(only HistoryBuffer statistics and param-scheduler annealing methods are)"
    )


def _describe(obj: Any) -> str:
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str):  # a class or function
        return f"{getattr(obj, '__module__', '?')}.{qualname}"
    return f"<{type(obj).__module__}.{type(obj).__qualname__} object>"


def _checked_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` that refuses dtypes holding Python object references."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"GLOBAL numpy.dtype({args[0]!r}) holds Python objects")
    return dtype


@functools.lru_cache(maxsize=1)
def _numpy_globals() -> tuple[Any, ...]:
    from numpy._core import multiarray  # numpy >= 2; checkpoints from numpy 1.x use numpy.core

    entries: list[Any] = [np.ndarray]
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        entries += [(multiarray._reconstruct, f"{module}._reconstruct"),
                    (multiarray.scalar, f"{module}.scalar")]
    entries.append((_checked_dtype, "numpy.dtype"))
    entries += [getattr(np.dtypes, name) for name in _NUMPY_DTYPE_CLASS_NAMES
                if hasattr(np.dtypes, name)]
    return tuple(entries)


def allowed_globals() -> list[Any]:
    """The globals (or ``(callable, "module.name")`` pairs) added to torch's allow-list.

    Returns:
        A list for :func:`torch.serialization.safe_globals`.
    """
    return [
        _history_buffer(),
        *_param_scheduler_classes(),
        *_numpy_globals(),
        (restricted_getattr, "builtins.getattr"),
    ]


def _refusal_reason(exc: pickle.UnpicklingError) -> tuple[str, str]:
    """(refused global, unpickler message) of a weights_only failure.

    torch re-raises the unpickler's error with a long advice text (``from None``); the original,
    short message is kept in ``__context__``.
    """
    original = exc.__context__ if isinstance(exc.__context__, pickle.UnpicklingError) else exc
    detail = str(original).strip().split("\n", 1)[0]
    found = re.search(r"GLOBAL ([\w.]+(?:\([^)]*\))?)", detail) or re.search(
        r"unrecognized function (.+?)(?: which belongs|$)", detail)
    return (found.group(1) if found else "a global outside the allow-list"), detail


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", repr(source))


def _refuse_if_allow_list_disabled() -> None:
    if os.environ.get(_ENV_DISABLING_ALLOW_LIST, "0").lower() in ("1", "y", "yes", "true"):
        raise UnsafeCheckpointError(
            f"{_ENV_DISABLING_ALLOW_LIST} is set, which makes torch unpickle checkpoints without "
            "any allow-list; midway_plugin refuses to load checkpoints while it is set. Unset it."
        )


def safe_torch_load(source: FileLike, map_location: Any = None) -> Any:
    """``torch.load`` with torch's restricted unpickler and the mmengine allow-list.

    Args:
        source: A path or a binary file object.
        map_location: As in :func:`torch.load`.

    Returns:
        The unpickled checkpoint.

    Raises:
        UnsafeCheckpointError: When the file references a global outside the allow-list (the
            message names the file and the global); nothing from the file has run.
    """
    _refuse_if_allow_list_disabled()
    with allow_listed_globals(_source_name(source)):
        return torch.load(source, map_location=map_location, weights_only=True)


class allow_listed_globals:  # noqa: N801 (used like torch.serialization.safe_globals)
    """Context manager: widen torch's weights_only allow-list; translate refusals.

    Args:
        source: Name of the checkpoint (for error messages).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._inner = torch.serialization.safe_globals(allowed_globals())

    def __enter__(self) -> "allow_listed_globals":
        self._inner.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._inner.__exit__(exc_type, exc, tb)
        if isinstance(exc, pickle.UnpicklingError) and not isinstance(exc, UnsafeCheckpointError):
            refused, detail = _refusal_reason(exc)
            raise UnsafeCheckpointError(
                f"refused to load checkpoint {self.source!r}: it references {refused}, which is "
                f"not on midway_plugin's allow-list, so nothing in it was run ({detail}). Only "
                "load checkpoints from sources you trust; if this file is trusted and legitimately "
                "needs another class, add it in midway_plugin/compat/safe_checkpoint.py."
            ) from None
        return False


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """Replacement for ``mmengine.runner.checkpoint.load_from_local`` (same contract)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"{filename} can not be found.")
    return safe_torch_load(filename, map_location=map_location)


def _guarded(loader: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a remote-scheme loader (which calls torch.load with torch's default weights_only)."""
    if getattr(loader, "_midway_allow_list", False):
        return loader

    @functools.wraps(loader)
    def load(filename: str, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        _refuse_if_allow_list_disabled()
        with allow_listed_globals(filename):
            return loader(filename, map_location, *args, **kwargs)

    load._midway_allow_list = True  # type: ignore[attr-defined]
    return load


def install() -> None:
    """Routes every mmengine checkpoint scheme through the allow-list (idempotent).

    Local files use :func:`safe_torch_load` (``weights_only=True`` passed explicitly); remote
    schemes keep mmengine's download code and run inside :class:`allow_listed_globals`.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    local = CheckpointLoader._schemes.get("")
    if not getattr(local, "_midway_allow_list", False):
        load_from_local._midway_allow_list = True  # type: ignore[attr-defined]
        CheckpointLoader.register_scheme(prefixes="", loader=load_from_local, force=True)
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if prefix:
            CheckpointLoader.register_scheme(prefixes=prefix, loader=_guarded(loader), force=True)


def is_installed() -> bool:
    """Whether :func:`install` has routed mmengine's local checkpoint loader here."""
    from mmengine.runner.checkpoint import CheckpointLoader

    return all(getattr(loader, "_midway_allow_list", False)
               for loader in CheckpointLoader._schemes.values())
