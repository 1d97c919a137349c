"""Type checking of pretraining config values, derived from the classes the values are passed to.

No second list of keys: the expected type of ``section.key`` is the annotation of the parameter or field it
ends up in (``model`` → :class:`~midway_plugin.models.MidwayConfig`; ``method``/``optim`` → the
:class:`~midway_plugin.lightly.Midway` constructor; ``data`` → :class:`~midway_plugin.data.VideoPairDataset`,
``DataLoader``; ``data.motion``/``data.dino`` → the two transforms; ``trainer`` → Lightning's ``Trainer``), and
for the keys only this package reads (``trainer.epochs``, ``seed``, ...) the type of their default in
:data:`~midway_plugin.lightly.pretrain.DEFAULTS`.

Values are checked when each layer (YAML file, then each override) is read, so the message names the source, the
key, the value and the expected type. One coercion is deliberate: YAML 1.1 (PyYAML) reads ``1e30`` and ``5e-4``
without a dot as *strings*, so a string that parses as a number is accepted where a number is expected.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Callable

_MISSING = object()


class ConfigTypeError(ValueError):
    """A config value of the wrong type; the message names the source, key, value and expected type."""


def _signature_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # an annotation that does not resolve at runtime: fall back to the raw ones
        return {name: p.annotation for name, p in inspect.signature(func).parameters.items()
                if p.annotation is not inspect.Parameter.empty and not isinstance(p.annotation, str)}


@functools.lru_cache(maxsize=1)
def _section_hints() -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Per config section, the annotation tables its keys are looked up in (first match wins)."""
    from pytorch_lightning import Trainer
    from torch.utils.data import DataLoader

    from midway_plugin.data import MidwayDINOTransform, MidwayMotionTransform, VideoPairDataset
    from midway_plugin.lightly.midway import Midway
    from midway_plugin.models import MidwayConfig

    model = {f.name: f.type for f in dataclasses.fields(MidwayConfig)}
    model.update(typing.get_type_hints(MidwayConfig))
    model["preset"] = str
    midway = _signature_hints(Midway.__init__)
    trainer = _signature_hints(Trainer.__init__)
    # Keys whose values this package resolves before passing them on (pretrain.py): "auto" precision, the fused
    # switch (Midway's fused_optimizer), where views are rendered.
    own = {
        "trainer": {"precision": typing.Union[typing.Literal["auto"], trainer["precision"]]},
        "optim": {"fused": typing.Optional[bool]},
        "data": {"augment": typing.Literal["auto", "cpu", "device"]},
    }
    return {
        ("model",): [model],
        ("method",): [midway],
        ("optim",): [own["optim"], midway],
        ("data",): [own["data"], _signature_hints(VideoPairDataset.__init__), midway,
                    _signature_hints(DataLoader.__init__)],
        ("data", "motion"): [_signature_hints(MidwayMotionTransform.__init__)],
        ("data", "dino"): [_signature_hints(MidwayDINOTransform.__init__)],
        ("trainer",): [own["trainer"], trainer],
    }


def _default(path: tuple[str, ...]) -> Any:
    from midway_plugin.lightly.pretrain import DEFAULTS

    default: Any = DEFAULTS
    for key in path:
        default = default.get(key, _MISSING) if isinstance(default, Mapping) else _MISSING
    return default


def expected_type(path: tuple[str, ...]) -> Any:
    """The annotation that ``path`` (``("optim", "base_lr")``) is checked against; ``Any`` when unknown.

    A key whose default is ``null`` ("not set", e.g. ``data.root``) also accepts ``null``.
    """
    default = _default(path)
    for table in _section_hints().get(path[:-1], []):
        if path[-1] in table:
            return typing.Optional[table[path[-1]]] if default is None else table[path[-1]]
    if default is _MISSING or default is None:
        return Any
    return {bool: bool, int: int, float: float, str: str, list: list, dict: Mapping}.get(type(default), Any)


class _Mismatch(Exception):
    pass


def _number(value: Any) -> float | None:
    """``value`` as a number: ints, floats, and strings YAML 1.1 left unparsed (``"1e30"``); never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def coerce(value: Any, annotation: Any) -> Any:
    """``value`` checked against ``annotation`` (numbers in strings converted); raises ``_Mismatch``."""
    if annotation is Any or annotation is inspect.Parameter.empty or isinstance(annotation, (str, typing.TypeVar)):
        return value
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for member in args:
            if member is type(None):
                continue
            try:
                return coerce(value, member)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is typing.Literal:
        if value in args:
            return value
        raise _Mismatch
    if annotation is type(None):
        if value is None:
            return None
        raise _Mismatch
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if annotation is float:
        number = _number(value)
        if number is None:
            raise _Mismatch
        return float(number)
    if annotation is int:
        number = _number(value)
        if number is None or not math.isfinite(number) or float(number) != int(number):
            raise _Mismatch
        return int(number)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (tuple, list, collections.abc.Sequence) or annotation in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _Mismatch
            return [coerce(v, a) for v, a in zip(value, args)]
        item = args[0] if args else Any
        return [coerce(v, item) for v in value]
    if origin in (dict, collections.abc.Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch
        return value
    if isinstance(annotation, type):
        if annotation.__module__ in ("os", "pathlib") and isinstance(value, str):
            return value  # os.PathLike, Path: a string path
        if isinstance(value, annotation):
            return value
        if annotation.__module__.split(".")[0] in ("builtins", "os", "pathlib", "collections"):
            raise _Mismatch
    return value  # a library class (Accelerator, Strategy, ...): left to the library


def describe(annotation: Any) -> str:
    """``float``, ``int or null``, ``one of 'sum', 'mean'``, ``list of 2 numbers`` ... for messages."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        choices = [c for a in args if typing.get_origin(a) is typing.Literal for c in typing.get_args(a)]
        members = [describe(a) for a in args if a is not type(None) and typing.get_origin(a) is not typing.Literal]
        if choices:
            members.append(describe(typing.Literal[tuple(choices)]))
        text = " or ".join(dict.fromkeys(members))
        return text + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} " + (f"{_noun(args[0])}s" if len(set(args)) == 1 else "values")
    if origin in (tuple, list, collections.abc.Sequence):
        return f"a list of {_noun(args[0])}s" if args else "a list"
    if origin in (dict, collections.abc.Mapping) or annotation in (dict, Mapping):
        return "a mapping"
    if annotation is type(None):
        return "null"
    return {float: "a number", int: "an integer", bool: "true/false", str: "a string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _noun(annotation: Any) -> str:
    """``describe`` without the article: "number", "integer"."""
    text = describe(annotation)
    return text.split(" ", 1)[1] if text.startswith(("a ", "an ")) else text


def check_types(fragment: Mapping[str, Any], source: str, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """A copy of a config layer with every known value checked and numbers in strings converted.

    Unknown keys are kept as they are (:func:`~midway_plugin.lightly.pretrain.load_config` names them).

    Raises:
        ConfigTypeError: ``"{source}: config key 'optim.base_lr' = 'a' (str) must be a number"``.
    """
    out: dict[str, Any] = {}
    for key, value in fragment.items():
        where = path + (str(key),)
        annotation = expected_type(where)
        if isinstance(value, Mapping) and (where in _section_hints() or annotation is Any and not path):
            out[key] = check_types(value, source, where)
            continue
        try:
            out[key] = coerce(value, annotation)
        except _Mismatch:
            raise ConfigTypeError(
                f"{source}: config key '{'.'.join(where)}' = {value!r} ({type(value).__name__}) must be "
                f"{describe(annotation)}"
            ) from None
    return out


__all__ = ["ConfigTypeError", "check_types", "coerce", "describe", "expected_type"]
