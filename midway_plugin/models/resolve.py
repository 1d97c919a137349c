"""The one way to turn a user's model description (preset, dict, config or export file) into a `MidwayConfig`.

Every adapter and command calls :func:`resolve_config`: the Lightning module's ``model`` section, mmseg's
``arch``, mmflow's ``arch`` / ``config_overrides``, ``midway info --config``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Union

from midway_plugin.models.config import PRESET_NAMES, MidwayConfig
from midway_plugin.models.export_header import read_export_config

#: What :func:`resolve_config` accepts.
ConfigSpec = Union[str, "os.PathLike[str]", Mapping[str, Any], MidwayConfig, None]


def resolve_config(
    spec: ConfigSpec = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    where: str = "",
    name: str = "model",
) -> MidwayConfig:
    """The one way to turn a user's model description into a :class:`MidwayConfig`.

    Args:
        spec: ``None`` (the released ViT-S/16), a preset name (:data:`PRESET_NAMES`), a mapping of
            ``MidwayConfig`` fields with an optional ``preset`` key (missing fields: the preset's, else the
            ViT-S/16 defaults), a ``MidwayConfig``, or the path of a ``midway export`` file (its header config;
            the file's format, config bounds and tensor shapes are checked, no tensor is read).
        overrides: fields to change afterwards (e.g. ``{"img_size": 512}``).
        where: prefix of error messages naming the caller (e.g. ``"MidwayViT: "``).
        name: the argument or config key ``spec`` came from, for error messages (e.g. ``"arch"``).

    Raises:
        ValueError: an unknown preset, unknown or invalid fields, or a bad export file (``MidwayExportError``,
            a ``ValueError``); the message names the value, the keys or the file.
    """
    if spec is None:
        cfg = MidwayConfig()
    elif isinstance(spec, MidwayConfig):
        cfg = spec
    elif isinstance(spec, (str, os.PathLike)):
        if isinstance(spec, str) and spec in PRESET_NAMES:
            cfg = MidwayConfig.preset(spec)
        elif isinstance(spec, os.PathLike) or spec.endswith(".safetensors") or os.path.isfile(spec):
            cfg = read_export_config(spec)
        else:
            raise ValueError(
                f"{where}unknown {name}={spec!r}; use a preset {list(PRESET_NAMES)}, a dict of MidwayConfig fields "
                "or the path of a `midway export` file"
            )
    elif isinstance(spec, Mapping):
        fields = dict(spec)
        preset = fields.pop("preset", None)
        _check_keys(fields, where, name, with_preset=True)
        try:
            cfg = MidwayConfig.preset(str(preset), **fields) if preset is not None else MidwayConfig(**fields)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}invalid {name} {dict(spec)!r}: {err}") from err
    else:
        raise ValueError(
            f"{where}{name} must be a preset name {list(PRESET_NAMES)}, a dict of MidwayConfig fields, a "
            f"MidwayConfig or a `midway export` path, got {type(spec).__name__} {spec!r}"
        )
    if overrides:
        _check_keys(dict(overrides), where, f"{name} override", with_preset=False)
        try:
            cfg = cfg.replace(**dict(overrides))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}invalid {name} override {dict(overrides)!r}: {err}") from err
    return cfg


def _check_keys(fields: Mapping[str, Any], where: str, name: str, *, with_preset: bool) -> None:
    known = sorted(f.name for f in dataclasses.fields(MidwayConfig))
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(
            f"{where}unknown {name} key(s) {', '.join(unknown)}; known: {'preset, ' if with_preset else ''}"
            f"{', '.join(known)}"
        )


__all__ = ["ConfigSpec", "resolve_config"]
