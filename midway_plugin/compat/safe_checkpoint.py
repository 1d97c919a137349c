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

import contextvars
import functools
import os
import os.path as osp
import pickle
from collections.abc import Callable
from typing import IO, Any, cast

import numpy as np
import torch

# The package's one wording of a refused checkpoint (stdlib only; the only module of the package compat uses).
from midway_plugin.models.refused_pickle import refusal_message

FileLike = str | os.PathLike[str] | IO[bytes]

#: Methods a checkpoint may reference through ``getattr(<class>, name)``.
#: HistoryBuffer pickles its ``_statistics_methods`` (mmengine/logging/history_buffer.py);
#: OneCycleParamScheduler stores ``anneal_func`` (mmengine/optim/scheduler/param_scheduler.py).
HISTORY_BUFFER_METHODS = frozenset({"min", "max", "current", "mean"})
PARAM_SCHEDULER_METHODS = frozenset({"_annealing_cos", "_annealing_linear"})

# numpy dtype classes that can only hold plain bytes (no object references).
_NUMPY_DTYPE_CLASS_NAMES = (
    "BoolDType",
    "Int8DType",
    "UInt8DType",
    "Int16DType",
    "UInt16DType",
    "Int32DType",
    "UInt32DType",
    "Int64DType",
    "UInt64DType",
    "LongLongDType",
    "ULongLongDType",
    "ByteDType",
    "UByteDType",
    "ShortDType",
    "UShortDType",
    "IntDType",
    "UIntDType",
    "LongDType",
    "ULongDType",
    "Float16DType",
    "Float32DType",
    "Float64DType",
    "LongDoubleDType",
    "Complex64DType",
    "Complex128DType",
    "CLongDoubleDType",
    "BytesDType",
    "StrDType",
    "DateTime64DType",
    "TimeDelta64DType",
    "VoidDType",
)

_ENV_DISABLING_ALLOW_LIST = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references a global outside the allow-list; nothing from it was executed."""


class _RefusedGetattr(pickle.UnpicklingError):
    """Raised inside the unpickler by :func:`restricted_getattr`."""


def _param_scheduler_base() -> type:
    from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

    base: type = _ParamScheduler
    return base


def _history_buffer() -> type:
    from mmengine.logging.history_buffer import HistoryBuffer

    buffer: type = HistoryBuffer
    return buffer


def _param_scheduler_classes() -> list[type]:
    """All imported subclasses of mmengine's ``_ParamScheduler`` (mmengine's, mmseg's, user ones).

    A subclass can only be here if its module was imported by the running program (upstream,
    or through the config's ``custom_imports``), i.e. it is code the user already runs.
    """
    seen: list[type] = []
    stack: list[type] = [_param_scheduler_base()]
    while stack:
        cls = stack.pop()
        subclasses: list[type] = cls.__subclasses__()
        for sub in subclasses:
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


#: The dtypes the unpickler built during the current load, checked once their state is set (see _checked_dtype).
_BUILT_DTYPES: contextvars.ContextVar[list[np.dtype] | None] = contextvars.ContextVar("_BUILT_DTYPES", default=None)


def _canonical_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy itself builds from ``dtype``'s description (its flags are the true ones)."""
    if dtype.fields is not None:
        names = list(dtype.fields)
        return np.dtype(
            {
                "names": names,
                "formats": [_canonical_dtype(dtype.fields[n][0]) for n in names],
                "offsets": [dtype.fields[n][1] for n in names],
                "itemsize": dtype.itemsize,
            },
            align=dtype.isalignedstruct,
        )
    if dtype.subdtype is not None:
        return np.dtype((_canonical_dtype(dtype.subdtype[0]), dtype.subdtype[1]))
    return np.dtype(dtype.str)


def _dtype_problem(dtype: Any) -> str | None:
    """Why a dtype built from a file is not plain data (None if it is): object references, or flags (set by a
    ``BUILD``/``__setstate__`` after the dtype was created) that its description does not have."""
    if not isinstance(dtype, np.dtype):
        return f"{type(dtype).__name__} where a numpy dtype belongs"
    if dtype.hasobject:
        return f"numpy dtype {dtype} holds Python objects"
    try:
        canonical = _canonical_dtype(dtype)
    except (TypeError, ValueError) as err:
        return f"numpy dtype {dtype} does not rebuild from its description ({err})"
    if dtype.flags != canonical.flags or dtype.itemsize != canonical.itemsize:
        return (
            f"numpy dtype {dtype} has flags {dtype.flags:#x} and itemsize {dtype.itemsize} where numpy builds it "
            f"with {canonical.flags:#x} and {canonical.itemsize} (its state was rewritten)"
        )
    return None


def _checked_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` that refuses dtypes holding Python object references.

    Always a new dtype object (``copy=True``), never numpy's shared one for the type, so that the ``BUILD`` that
    follows in the pickle cannot rewrite a dtype the whole process uses. Its state is only set after this returns,
    so every dtype built is recorded and checked again when the load ends (:class:`allow_listed_globals`).
    """
    dtype: np.dtype[Any] = np.dtype(args[0], bool(args[1]) if len(args) > 1 else False, True)
    problem = _dtype_problem(dtype)
    if problem is not None:
        raise pickle.UnpicklingError(f"GLOBAL numpy.dtype({args[0]!r}): {problem}")
    built = _BUILT_DTYPES.get()
    if built is not None:
        built.append(dtype)
    return dtype


def _check_built(dtype: Any, where: str) -> None:
    problem = _dtype_problem(dtype)
    if problem is not None:
        raise pickle.UnpicklingError(f"{where}: {problem}")


class _CheckedArray(np.ndarray):
    """What the unpickler builds an ndarray as: its state's dtype is checked before numpy reads the data with it
    (the ``BUILD`` that sets the state may carry a dtype rewritten since it was created). Turned back into plain
    ``ndarray`` views before the checkpoint is returned (:func:`_plain_arrays`)."""

    def __setstate__(self, state: Any) -> None:
        dtypes = [item for item in state if isinstance(item, np.dtype)] if isinstance(state, tuple) else []
        if len(dtypes) != 1:
            raise pickle.UnpicklingError("numpy.ndarray state without exactly one dtype")
        _check_built(dtypes[0], "numpy.ndarray state")
        super().__setstate__(state)


class _NdarrayName:
    """What the name ``numpy.ndarray`` resolves to in a checkpoint: the subtype argument of ``_reconstruct``; it
    cannot be called (``numpy.ndarray(...)`` would build an array whose state nothing checks)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("GLOBAL numpy.ndarray may only be rebuilt through numpy's _reconstruct")


_NDARRAY = _NdarrayName()


def _checked_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` for plain ``ndarray``s only, built as :class:`_CheckedArray`."""
    from numpy._core import multiarray

    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError(f"GLOBAL numpy _reconstruct of {_describe(subtype)} (only numpy.ndarray)")
    if isinstance(dtype, np.dtype):  # numpy writes a typecode (b"b") here; the array's dtype comes in its state
        _check_built(dtype, "GLOBAL numpy _reconstruct")
    return cast(np.ndarray, multiarray._reconstruct(_CheckedArray, shape, dtype))


def _plain_arrays(obj: Any, seen: dict[int, Any] | None = None) -> Any:
    """``obj`` with every :class:`_CheckedArray` in it (containers, allow-listed objects' attributes) a plain
    ``ndarray`` view again; shared references stay shared."""
    seen = {} if seen is None else seen
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, _CheckedArray):
        out: Any = obj.view(np.ndarray)
    elif isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        out = tuple(_plain_arrays(item, seen) for item in obj)
    elif isinstance(obj, (dict, list)):
        seen[id(obj)] = obj
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in list(items):
            obj[key] = _plain_arrays(value, seen)
        return obj
    elif isinstance(obj, set):
        out = obj  # a set cannot hold arrays (unhashable)
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, torch.Tensor)) and not callable(obj):
        seen[id(obj)] = obj
        for key, value in list(vars(obj).items()):
            setattr(obj, key, _plain_arrays(value, seen))
        return obj
    else:
        out = obj
    seen[id(obj)] = out
    return out


def _checked_scalar(dtype: Any, *args: Any) -> Any:
    """``numpy.core.multiarray.scalar`` with a checked dtype (its state is set by now: it is an argument)."""
    from numpy._core import multiarray

    _check_built(dtype, "GLOBAL numpy scalar")
    return multiarray.scalar(dtype, *args)


@functools.lru_cache(maxsize=1)
def _numpy_globals() -> tuple[Any, ...]:
    # numpy >= 2 names numpy._core; checkpoints from numpy 1.x numpy.core. The classes built here are allow-listed
    # for BUILD only, under names no GLOBAL opcode can spell (a line break): a file gets them through the
    # checked callables alone.
    entries: list[Any] = [(_NDARRAY, "numpy.ndarray"), (_CheckedArray, "build only\nnumpy.ndarray (checked)")]
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        entries += [(_checked_reconstruct, f"{module}._reconstruct"), (_checked_scalar, f"{module}.scalar")]
    entries.append((_checked_dtype, "numpy.dtype"))
    # The dtype classes must be allow-listed for the BUILD that sets a dtype's state, but calling one returns
    # numpy's shared dtype, which that BUILD would rewrite for the whole process.
    entries += [
        (getattr(np.dtypes, name), f"build only\nnumpy.dtypes.{name}")
        for name in _NUMPY_DTYPE_CLASS_NAMES
        if hasattr(np.dtypes, name)
    ]
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
        return _plain_arrays(torch.load(source, map_location=map_location, weights_only=True))


class allow_listed_globals:  # noqa: N801 (used like torch.serialization.safe_globals)
    """Context manager: widen torch's weights_only allow-list; translate refusals.

    Args:
        source: Name of the checkpoint (for error messages).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._inner = torch.serialization.safe_globals(allowed_globals())
        self._built: list[np.dtype] = []
        self._token: contextvars.Token[list[np.dtype] | None] | None = None

    def __enter__(self) -> allow_listed_globals:
        self._inner.__enter__()
        self._token = _BUILT_DTYPES.set(self._built)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._inner.__exit__(exc_type, exc, tb)
        if self._token is not None:
            _BUILT_DTYPES.reset(self._token)
            self._token = None
        if exc is None or isinstance(exc, Exception) and not isinstance(exc, pickle.UnpicklingError):
            # check what was built, not only what was named: a dtype's state is set after its check
            problems = [p for p in map(_dtype_problem, self._built) if p is not None]
            if problems:
                exc = pickle.UnpicklingError(f"a numpy dtype was rewritten while loading: {problems[0]}")
        if isinstance(exc, pickle.UnpicklingError) and not isinstance(exc, UnsafeCheckpointError):
            raise UnsafeCheckpointError(
                f"{refusal_message(self.source, exc)} If this file is trusted and legitimately needs another "
                "class, add it in midway_plugin/compat/safe_checkpoint.py."
            ) from None


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
            return _plain_arrays(loader(filename, map_location, *args, **kwargs))

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

    return all(getattr(loader, "_midway_allow_list", False) for loader in CheckpointLoader._schemes.values())
