"""The pretraining config's schema: its keys, their defaults and their types, each taken from the code it feeds.

A default is written once. ``method``/``optim`` keys are parameters of :class:`~midway_plugin.lightly.Midway` and
the dataset keys of ``data`` parameters of :class:`~midway_plugin.data.video.VideoPairDataset`: default and type are the
parameter's. The keys no signature holds have their default in ``pretrain_defaults.yaml`` (beside this module)
and their type from the code they are passed to (``model`` → :class:`~midway_plugin.models.MidwayConfig`,
``data.batch_size_per_device`` → ``Midway``, ``data.num_workers`` → ``DataLoader``, ``data.motion``/``data.dino``
→ the two transforms, ``trainer`` → Lightning's ``Trainer``); keys only this package reads (``trainer.epochs``,
``seed``, ...) are typed by their default.

Values are checked when each layer (YAML file, then each override) is read, so the message names the source, the
key, the value and the expected type (:func:`check_types`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from midway_plugin.lightly.config_types import Mismatch, PretrainConfigError, coerce, describe, signature_hints

#: ``method``/``optim`` keys → the ``Midway`` parameter each one is (printed in this order).
MIDWAY_KEYS: dict[str, dict[str, str]] = {
    "method": {
        key: key
        for key in (
            "dino_weight",
            "dynamics_weight",
            "head_output_dim",
            "head_hidden_dim",
            "head_bottleneck_dim",
            "teacher_temp",
            "student_temp",
            "center_momentum",
            "momentum_start",
            "momentum_end",
            "ema_schedule",
            "freeze_last_layer_epochs",
            "freeze_last_layer_steps",
            "health_every",
            "health_warmup_steps",
        )
    },
    "optim": {
        **{
            key: key
            for key in (
                "base_lr",
                "lr_scaling_batch",
                "min_lr",
                "warmup_epochs",
                "weight_decay",
                "weight_decay_end",
                "dynamics_weight_decay",
                "betas",
                "clip_mode",
            )
        },
        "fused": "fused_optimizer",
    },
}
#: ``data`` keys that are ``VideoPairDataset`` parameters of the same name.
DATASET_KEYS = (
    "mode",
    "delta_t",
    "delta_unit",
    "repeat",
    "decode_short_side",
    "index_cache",
    "seek_check",
    "sampling",
    "window",
    "decoder",
)
#: Sections whose keys are free-form (validated by the class they are passed to).
OPEN_SECTIONS = (("model",), ("data", "motion"), ("data", "dino"))
#: Where views are rendered (``data.augment``): workers (PIL), the training device, or the device on CUDA.
AUGMENT_CHOICES = ("auto", "cpu", "device")

_MISSING = object()


def _parameter_defaults(func: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """``{config key: default of parameter}``; tuples as lists (YAML has no tuples)."""
    parameters = inspect.signature(func).parameters
    defaults = {key: parameters[name].default for key, name in names.items()}
    return {key: list(value) if isinstance(value, tuple) else value for key, value in defaults.items()}


def default_config() -> dict[str, Any]:
    """Every key with its default: the shipped YAML plus the defaults of the ``Midway`` / dataset signatures."""
    from midway_plugin.data.video.pairs import VideoPairDataset
    from midway_plugin.lightly.midway import Midway

    config: dict[str, Any] = yaml.safe_load(Path(__file__).with_name("pretrain_defaults.yaml").read_text())
    for section, names in MIDWAY_KEYS.items():
        config[section] = _parameter_defaults(Midway, names)
    data = config["data"]
    config["data"] = {
        "root": data.pop("root"),
        **_parameter_defaults(VideoPairDataset, {key: key for key in DATASET_KEYS}),
        **data,
    }
    return config


@functools.lru_cache(maxsize=1)
def _section_hints() -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Per config section, the annotation tables its keys are looked up in (first match wins)."""
    from pytorch_lightning import Trainer
    from torch.utils.data import DataLoader

    from midway_plugin.data.video.pairs import VideoPairDataset
    from midway_plugin.data.views.dino_transform import MidwayDINOTransform
    from midway_plugin.data.views.motion_transform import MidwayMotionTransform
    from midway_plugin.lightly.midway import Midway
    from midway_plugin.models import MidwayConfig

    model = {f.name: f.type for f in dataclasses.fields(MidwayConfig)}
    model.update(typing.get_type_hints(MidwayConfig))
    model["preset"] = str
    midway = signature_hints(Midway.__init__)
    trainer = signature_hints(Trainer.__init__)
    method, optim = ({key: midway[name] for key, name in MIDWAY_KEYS[s].items()} for s in ("method", "optim"))
    # Keys whose values this package resolves before passing them on (builders.py): "auto" precision, where views
    # are rendered.
    own = {
        # A runtime hint built from Lightning's (typing.Union, not `|`: the checker below reads typing's forms).
        "trainer": {"precision": typing.Union[typing.Literal["auto"], trainer["precision"]]},  # noqa: F821, UP007
        "data": {"augment": typing.Literal[AUGMENT_CHOICES]},
    }
    return {
        ("model",): [model],
        ("method",): [method],
        ("optim",): [optim],
        ("data",): [
            own["data"],
            signature_hints(VideoPairDataset.__init__),
            midway,
            signature_hints(DataLoader.__init__),
        ],
        ("data", "motion"): [signature_hints(MidwayMotionTransform.__init__)],
        ("data", "dino"): [signature_hints(MidwayDINOTransform.__init__)],
        ("trainer",): [own["trainer"], trainer],
    }


def _default(path: tuple[str, ...], defaults: Mapping[str, Any]) -> Any:
    default: Any = defaults
    for key in path:
        default = default.get(key, _MISSING) if isinstance(default, Mapping) else _MISSING
    return default


def expected_type(path: tuple[str, ...], defaults: Mapping[str, Any] | None = None) -> Any:
    """The annotation that ``path`` (``("optim", "base_lr")``) is checked against; ``Any`` when unknown.

    A key whose default is ``null`` ("not set", e.g. ``data.root``) also accepts ``null``.

    Args:
        path: The key's path.
        defaults: :func:`default_config` (computed when not given).
    """
    default = _default(path, default_config() if defaults is None else defaults)
    for table in _section_hints().get(path[:-1], []):
        if path[-1] in table:
            return typing.Optional[table[path[-1]]] if default is None else table[path[-1]]  # noqa: UP045 (as above)
    if default is _MISSING or default is None:
        return Any
    return {bool: bool, int: int, float: float, str: str, list: list, dict: Mapping}.get(type(default), Any)


def check_types(
    fragment: Mapping[str, Any],
    source: str,
    path: tuple[str, ...] = (),
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of a config layer with every known value checked and numbers in strings converted.

    Unknown keys are kept as they are (:func:`~midway_plugin.lightly.pretrain_config.load_config` names them).

    Raises:
        PretrainConfigError: ``"{source}: config key 'optim.base_lr' = 'a' (str) must be a number"``.
    """
    defaults = default_config() if defaults is None else defaults
    out: dict[str, Any] = {}
    for key, value in fragment.items():
        where = path + (str(key),)
        annotation = expected_type(where, defaults)
        if isinstance(value, Mapping) and (where in _section_hints() or annotation is Any and not path):
            out[key] = check_types(value, source, where, defaults)
            continue
        try:
            out[key] = coerce(value, annotation)
        except Mismatch:
            raise PretrainConfigError(
                f"{source}: config key '{'.'.join(where)}' = {value!r} ({type(value).__name__}) must be "
                f"{describe(annotation)}"
            ) from None
    return out


__all__ = [
    "AUGMENT_CHOICES",
    "DATASET_KEYS",
    "MIDWAY_KEYS",
    "OPEN_SECTIONS",
    "check_types",
    "default_config",
    "expected_type",
]
