"""Loading a pretraining config with OmegaConf: defaults ← the YAML file ← ``--section.key VALUE`` overrides.

A config has six sections; every key is optional (defaults = the paper's BDD100K ViT-S recipe, see
:mod:`.config_schema` for where each default and type comes from) and unknown keys are errors naming the key:

* ``model``: the core :class:`~midway_plugin.models.MidwayConfig` (``preset`` + fields).
* ``method``: loss weights, DINO head, temperatures, EMA (arguments of :class:`~midway_plugin.lightly.Midway`).
* ``optim``: learning rate, warmup, weight decay, clipping (also arguments of ``Midway``).
* ``data``: the video folder or file and :class:`~midway_plugin.data.video.VideoPairDataset` / transform options.
* ``trainer``: epochs (paper epochs), steps, devices, precision, logging and checkpoint frequency.
* ``seed``, ``output_dir``.

As dinov2 does: ``OmegaConf.merge(defaults, file, overrides)`` in struct mode, which refuses unknown keys (except
in the free-form ``model``, ``data.motion`` and ``data.dino``); each layer's values are type-checked before it is
merged, so a message names the layer (file or override), the key, the value and the expected type.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from midway_plugin.lightly import config_values
from midway_plugin.lightly.config_schema import OPEN_SECTIONS, check_types, default_config
from midway_plugin.lightly.config_types import PretrainConfigError


def _schema(defaults: Mapping[str, Any]) -> DictConfig:
    """The defaults as a struct-mode config: unknown keys are refused, except in the free-form sections."""
    config = OmegaConf.create(dict(defaults))
    OmegaConf.set_struct(config, True)
    for path in OPEN_SECTIONS:
        OmegaConf.set_struct(OmegaConf.select(config, ".".join(path)), False)
    return config


def _merge(config: DictConfig, layer: Mapping[str, Any], source: str, defaults: Mapping[str, Any]) -> DictConfig:
    typed = check_types(layer, source, defaults=defaults)
    try:
        return cast(DictConfig, OmegaConf.merge(config, typed))  # a DictConfig merged into one
    except ConfigKeyError as err:
        where = str(err.full_key)
        parent = OmegaConf.select(config, where.rpartition(".")[0]) if "." in where else config
        known = ", ".join(sorted(parent)) if isinstance(parent, DictConfig) else ""
        raise PretrainConfigError(f"{source}: unknown config key '{where}' (known at this level: {known})") from None
    except OmegaConfBaseException as err:
        raise PretrainConfigError(f"{source}: {str(err).splitlines()[0]}") from None


def _read(path: Path) -> dict[str, Any]:
    """One YAML file as a plain dict (OmegaConf's YAML reader: ``5e-4`` is a number)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PretrainConfigError(f"cannot read config {str(path)!r}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise PretrainConfigError(f"cannot read config {str(path)!r}: not UTF-8 text ({err.reason})") from err
    try:
        layer = OmegaConf.load(path)
    except yaml.YAMLError as err:
        raise PretrainConfigError(f"{path}: invalid YAML: {err}") from err
    except OSError:  # OmegaConf refuses a scalar document
        layer = None
    if not isinstance(layer, DictConfig):
        found = type(yaml.safe_load(text)).__name__ if layer is None else "list"
        raise PretrainConfigError(f"{path}: the top level must be a mapping, got {found}")
    return cast(dict[str, Any], OmegaConf.to_container(layer, resolve=False))  # a DictConfig's container


def load_config(path: str | os.PathLike[str] | None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults ← the YAML file ← dotted-key overrides (``{"trainer.max_steps": 10}``), as a plain dict.

    Raises:
        PretrainConfigError: Unreadable file, invalid YAML, unknown key, wrong structure, a value of the wrong
            type (named with its source, key, value and expected type), or a value outside what its key takes
            (:mod:`.config_values`: named with the key, the value and what is valid).
    """
    defaults = default_config()
    config = _schema(defaults)
    if path is not None:
        config = _merge(config, _read(Path(path)), str(path), defaults)
    for dotted, value in (overrides or {}).items():
        source = f"override --{dotted}"
        layer = OmegaConf.create()
        try:
            OmegaConf.update(layer, dotted, value)
        except OmegaConfBaseException as err:
            raise PretrainConfigError(f"{source}: {str(err).splitlines()[0]}") from None
        config = _merge(config, cast(dict[str, Any], OmegaConf.to_container(layer)), source, defaults)
    try:
        loaded = cast(dict[str, Any], OmegaConf.to_container(config, resolve=True))
    except OmegaConfBaseException as err:  # an interpolation (${...}) that does not resolve
        raise PretrainConfigError(f"config key '{err.full_key}': {str(err).splitlines()[0]}") from None
    config_values.check_values(loaded)  # ranges, before any model is built (config_values.py: what each key takes)
    return loaded


def to_yaml(config: Mapping[str, Any]) -> str:
    """The config as YAML (``midway pretrain --print_config``); loads back with :func:`load_config`."""
    return OmegaConf.to_yaml(OmegaConf.create(dict(config)))


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["--trainer.max_steps", "10", "--data.root=x"]`` → ``{"trainer.max_steps": 10, "data.root": "x"}``.

    Values are parsed as YAML (numbers, booleans, lists, null).

    Raises:
        PretrainConfigError: A token is not ``--key value`` / ``--key=value``.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise PretrainConfigError(f"unexpected argument {token!r}: overrides are --section.key VALUE")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise PretrainConfigError(f"override --{key} needs a value")
            value = tokens[i + 1]
            i += 1
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise PretrainConfigError(f"override --{key}: value {value!r} is not valid YAML ({err})") from err
        i += 1
    return out


__all__ = ["PretrainConfigError", "load_config", "parse_overrides", "to_yaml"]
