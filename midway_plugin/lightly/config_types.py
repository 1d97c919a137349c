"""Checking a config value against a type annotation, for messages a user can act on.

The pretraining config's types are the annotations of the code its values are passed to
(:mod:`.config_schema`); this module only answers "does this value fit this annotation" (:func:`coerce`) and says
what was expected in words (:func:`describe`). OmegaConf's own typed configs cannot express the annotations used
there (unions, ``Literal`` choices, library classes), hence this small checker.

One coercion is deliberate: YAML 1.1 (PyYAML) reads ``1e30`` and ``5e-4`` without a dot as *strings*, so a
string that parses as a number is accepted where a number is expected.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any


class PretrainConfigError(ValueError):
    """A bad pretraining input: config file, key, type or value, or a ``--resume`` target; the message names it.

    The one error of the configuration path (types here, values in :mod:`.config_values`, resume targets in
    :mod:`.resume`, the file in :mod:`.pretrain_config`): ``midway pretrain`` turns it into exit 2.
    """


class Mismatch(Exception):
    """``value`` does not fit ``annotation`` (raised by :func:`coerce`)."""


def signature_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of ``func``'s parameters (the raw ones where they do not resolve)."""
    try:
        return typing.get_type_hints(func)
    except Exception:  # an annotation that does not resolve at runtime: fall back to the raw ones
        return {
            name: p.annotation
            for name, p in inspect.signature(func).parameters.items()
            if p.annotation is not inspect.Parameter.empty and not isinstance(p.annotation, str)
        }


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
    """``value`` checked against ``annotation`` (numbers in strings converted); raises ``Mismatch``."""
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
            except Mismatch:
                continue
        raise Mismatch
    if origin is typing.Literal:
        if value in args:
            return value
        raise Mismatch
    if annotation is type(None):
        if value is None:
            return None
        raise Mismatch
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise Mismatch
    if annotation is float:
        number = _number(value)
        if number is None:
            raise Mismatch
        return float(number)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # exactly, also beyond float precision (range checks say "too large", not "not an integer")
        number = _number(value)
        if number is None or not math.isfinite(number) or float(number) != int(number):
            raise Mismatch
        return int(number)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise Mismatch
    if origin in (tuple, list, collections.abc.Sequence) or annotation in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise Mismatch
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise Mismatch
            return [coerce(v, a) for v, a in zip(value, args)]
        item = args[0] if args else Any
        return [coerce(v, item) for v in value]
    if origin in (dict, collections.abc.Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise Mismatch
        return value
    if isinstance(annotation, type):
        if annotation.__module__ in ("os", "pathlib") and isinstance(value, str):
            return value  # os.PathLike, Path: a string path
        if isinstance(value, annotation):
            return value
        if annotation.__module__.split(".")[0] in ("builtins", "os", "pathlib", "collections"):
            raise Mismatch
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
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _noun(annotation: Any) -> str:
    """``describe`` without the article: "number", "integer"."""
    text = describe(annotation)
    return text.split(" ", 1)[1] if text.startswith(("a ", "an ")) else text


__all__ = ["Mismatch", "coerce", "describe", "signature_hints"]
