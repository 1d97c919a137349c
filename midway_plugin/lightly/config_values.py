"""Which values each pretraining config key takes, beyond its type: ranges, choices, lengths.

:mod:`.config_schema` says what type a key has (from the code it is passed to); this table says which values of
that type are valid, so that a bad value ends in one message naming the key and the value when the config is
loaded (:func:`check_values`, called by :func:`~midway_plugin.lightly.pretrain_config.load_config`), before any
model is built, instead of a traceback from torch or Lightning later. Numbers are always finite (NaN and ±inf are
refused everywhere). Upper bounds are where a larger value cannot be meant (an allocation or a step count no
machine runs) and would otherwise fail far from its cause.

``docs/pretraining.md`` prints this table (:func:`rules_table`); ``tests/reliability/test_bad_value_matrix.py``
tries every key with wrong types, empty, zero, negative, NaN, ±inf, huge and wrong-length values and requires
each to be either accepted here and valid by this table, or refused naming the key and the value.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from midway_plugin.lightly.config_types import PretrainConfigError

_UNSET = object()


@dataclass(frozen=True)
class Rule:
    """What a key takes beyond its type (checked on the loaded, type-checked value).

    Attributes:
        low, high: Inclusive bounds of a number (``low_open``/``high_open``: exclusive).
        special: Values accepted outside the bounds, with their meaning (``{-1: "no limit"}``).
        length: A list must have this many items (each checked by ``item``).
        item: The rule of each list item (lists only).
        ordered: A list's items must not decrease (``[low, high]`` pairs).
        nonempty: A string must not be empty or blank.
        choices: The only valid values.
        nullable: ``null`` is valid (with the meaning ``null_means``).
        integer: The value must be an integer (for keys nothing else types).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    special: Mapping[Any, str] | None = None
    length: int | None = None
    item: Rule | None = None
    ordered: bool = False
    nonempty: bool = False
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    null_means: str = ""
    integer: bool = False

    def describe(self) -> str:
        """In words: ``a number > 0``, ``an integer in [1, 1048576]``, ``-1 (no limit) or an integer >= 1``."""
        parts = []
        if self.special:
            parts += [f"{value!r} ({meaning})" for value, meaning in self.special.items()]
        if self.nullable:
            parts.append(f"null ({self.null_means})" if self.null_means else "null")
        if self.item is not None:
            count = f"{self.length} " if self.length else ""
            order = ", not decreasing" if self.ordered else ""
            main = f"a list of {count}values, each {self.item.describe()}{order}"
        elif self.choices is not None:
            main = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.nonempty:
            main = "a non-empty string"
        else:
            main = ("an integer" if self.integer else "a number") + self._bounds()
        return " or ".join(parts + [main]) if parts else main

    def _bounds(self) -> str:
        low = None if self.low is None else f"{_num(self.low)}"
        high = None if self.high is None else f"{_num(self.high)}"
        if low is not None and high is not None:
            return f" in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if low is not None:
            return f" {'>' if self.low_open else '>='} {low}"
        if high is not None:
            return f" {'<' if self.high_open else '<='} {high}"
        return " (finite)"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid (None if it is)."""
        if value is None:
            return None if self.nullable else "null is not valid here"
        if self.special and _hashable(value) and value in self.special and not isinstance(value, bool):
            return None
        if self.item is not None:
            values = value if isinstance(value, (list, tuple)) else None
            if values is None:
                return "not a list"
            if self.length is not None and len(values) != self.length:
                return f"{len(values)} item(s), {self.length} expected"
            if not values:
                return "an empty list"
            for position, item in enumerate(values):
                problem = self.item.problem(item)
                if problem is not None:
                    return f"item {position} ({item!r}): {problem}"
            if self.ordered and any(b < a for a, b in zip(values, values[1:], strict=False)):
                return "its items decrease"
            return None
        if self.choices is not None:
            return None if value in self.choices and not isinstance(value, bool) else "not one of the choices"
        if self.nonempty:
            if not isinstance(value, str):
                return "not a string"
            return None if value.strip() else "empty"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "not a number"
        if self.integer and not isinstance(value, int):
            return "not an integer"
        if not math.isfinite(value):
            return "not finite"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return "too small"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return "too large"
        return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _rules() -> dict[str, Rule]:
    from midway_plugin.lightly.midway import CLIP_MODES, EMA_SCHEDULES

    positive = Rule(low=0, low_open=True)
    non_negative = Rule(low=0)
    unit = Rule(low=0, high=1)
    dim = Rule(low=1, high=2**20, integer=True)
    return {
        "seed": Rule(low=0, high=2**32 - 1, integer=True),
        "output_dir": Rule(nonempty=True),
        "model.preset": Rule(nonempty=True),
        # model: MidwayConfig fields (free-form section: checked when set; the core checks how they fit together)
        "model.encoder": Rule(nonempty=True),
        "model.img_size": Rule(low=1, high=2**14, integer=True),
        "model.drop_path_rate": Rule(low=0, high=1, high_open=True),
        "model.feature_levels": Rule(item=Rule(low=1, high=1024, integer=True)),
        "model.midway_dim": dim,
        "model.midway_depth": Rule(low=1, high=1024, integer=True),
        "model.midway_heads": Rule(low=1, high=2**12, integer=True),
        "model.num_motion_tokens": Rule(low=1, high=2**16, integer=True),
        "model.forward_depth": Rule(low=1, high=1024, integer=True),
        "model.forward_heads": Rule(low=1, high=2**12, integer=True),
        "model.backward_heads": Rule(low=1, high=2**12, integer=True),
        "model.gating_bias": Rule(),
        "method.dino_weight": non_negative,
        "method.dynamics_weight": non_negative,
        "method.head_output_dim": dim,
        "method.head_hidden_dim": dim,
        "method.head_bottleneck_dim": dim,
        "method.teacher_temp": positive,
        "method.student_temp": positive,
        "method.center_momentum": unit,
        "method.momentum_start": unit,
        "method.momentum_end": unit,
        "method.ema_schedule": Rule(choices=EMA_SCHEDULES),
        "method.freeze_last_layer_epochs": non_negative,
        "method.freeze_last_layer_steps": Rule(
            low=0, integer=True, nullable=True, null_means="freeze_last_layer_epochs decides"
        ),
        "method.health_every": Rule(
            low=1, integer=True, nullable=True, null_means="trainer.log_every_n_steps", special={0: "off"}
        ),
        "method.health_warmup_steps": Rule(low=0, integer=True, nullable=True, null_means="automatic"),
        "optim.base_lr": positive,
        "optim.lr_scaling_batch": Rule(low=1, integer=True, nullable=True, null_means="the pairs per step"),
        "optim.min_lr": non_negative,
        "optim.warmup_epochs": non_negative,
        "optim.weight_decay": non_negative,
        "optim.weight_decay_end": non_negative,
        "optim.dynamics_weight_decay": Rule(low=0, nullable=True, null_means="optim.weight_decay"),
        "optim.clip_mode": Rule(choices=CLIP_MODES),
        "optim.betas": Rule(length=2, item=Rule(low=0, high=1, high_open=True)),
        "data.root": Rule(nonempty=True, nullable=True, null_means="not set: required to train"),
        "data.delta_t": Rule(low=0, low_open=True, high=1e6),
        "data.repeat": Rule(low=1, high=10**6, integer=True),
        "data.decode_short_side": Rule(low=1, high=2**15, integer=True, nullable=True, null_means="full size"),
        "data.index_cache": Rule(nonempty=True, nullable=True, null_means="no cache"),
        "data.batch_size_per_device": Rule(low=1, high=2**16, integer=True),
        "data.num_workers": Rule(low=0, high=1024, integer=True),
        "trainer.epochs": Rule(low=0, low_open=True, high=1e6),
        "trainer.max_steps": Rule(low=1, high=10**12, integer=True, special={-1: "no limit: epochs decide"}),
        "trainer.accelerator": Rule(nonempty=True),
        "trainer.devices": Rule(low=1, high=2**16, integer=True, special={-1: "all", "auto": "all"}),
        "trainer.num_nodes": Rule(low=1, high=10**5, integer=True),
        "trainer.strategy": Rule(nonempty=True),
        "trainer.gradient_clip_val": Rule(
            low=0, low_open=True, nullable=True, null_means="no clipping", special={0: "no clipping"}
        ),
        "trainer.log_every_n_steps": Rule(low=1, high=10**12, integer=True, nullable=True, null_means="Lightning's 50"),
        "trainer.checkpoint_every_n_steps": Rule(low=1, high=10**12, integer=True),
        "trainer.torch_threads": Rule(low=1, high=4096, integer=True, nullable=True, null_means="torch's default"),
    }


#: Keys whose value is a list or a number: the rule for the list form (``data.delta_t: [15, 30]``), and for a
#: list of device indices.
_LIST_FORMS: dict[str, Rule] = {
    "data.delta_t": Rule(length=2, item=Rule(low=0, low_open=True, high=1e6), ordered=True),
    "trainer.devices": Rule(item=Rule(low=0, high=2**16, integer=True)),
}


@functools.lru_cache(maxsize=1)
def rules() -> dict[str, Rule]:
    """``{"optim.base_lr": Rule(...), ...}``: every key with a value rule."""
    return _rules()


def rule_text(key: str) -> str:
    """What ``key`` takes, in words (its list form too)."""
    text = rules()[key].describe()
    return f"{text}, or {_LIST_FORMS[key].describe()}" if key in _LIST_FORMS else text


def value_problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not valid for ``key`` (None if it is, or if the key has no rule)."""
    rule = rules().get(key)
    if rule is None:
        return None
    if isinstance(value, (list, tuple)) and key in _LIST_FORMS:
        return _LIST_FORMS[key].problem(value)
    if isinstance(value, str) and key == "trainer.devices":
        return None if value.strip() and (value == "auto" or _device_string(value)) else "not 'auto' or devices"
    return rule.problem(value)


def _device_string(value: str) -> bool:
    """Lightning's device strings: ``"2"``, ``"0,1"``, ``"-1"``."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return bool(parts) and all(p.lstrip("-").isdigit() for p in parts)


def check_values(config: Mapping[str, Any]) -> None:
    """Every key with a rule checked against it (the CLI calls this through ``load_config``).

    Raises:
        PretrainConfigError: ``"config key 'optim.base_lr' = -1.0 is not valid (too small): it takes a number > 0"``.
    """
    for key in rules():
        value: Any = config
        for part in key.split("."):
            value = value.get(part, _UNSET) if isinstance(value, Mapping) else _UNSET
        if value is _UNSET:  # a free-form key left to its default
            continue
        problem = value_problem(key, value)
        if problem is not None:
            raise PretrainConfigError(
                f"config key '{key}' = {value!r} is not valid ({problem}): it takes {rule_text(key)}"
            )


def rules_table() -> str:
    """The Markdown table of every rule (``docs/pretraining.md`` holds it; a test keeps the two equal)."""
    lines = ["| key | valid values |", "|---|---|"]
    lines += [f"| `{key}` | {rule_text(key)} |" for key in rules()]
    return "\n".join(lines)


__all__ = ["Rule", "check_values", "rule_text", "rules", "rules_table", "value_problem"]
