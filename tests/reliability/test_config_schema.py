"""The pretraining config's types come from the classes its values are passed to, not from a second key list."""
from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import pytest

from midway_plugin.lightly.config_schema import expected_type
from midway_plugin.lightly.pretrain import DEFAULTS, PretrainConfigError, load_config, run_pretraining

#: Keys whose type nothing declares (default null, read only by run_pretraining, which checks it itself).
UNTYPED = {("trainer", "torch_threads")}


def leaves(tree: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out += leaves(value, path + (key,))
        elif not isinstance(value, Mapping):
            out.append(path + (key,))
    return out


def test_every_default_key_has_a_type_derived_from_the_code():
    untyped = {path for path in leaves(DEFAULTS) if expected_type(path) is Any}
    assert untyped == UNTYPED


@pytest.mark.parametrize("path, annotation_text", [
    (("optim", "base_lr"), "float"),                       # Midway.__init__
    (("model", "feature_levels"), "tuple[int, ...]"),     # MidwayConfig
    (("data", "delta_t"), "tuple[float, float] | float"),  # VideoPairDataset.__init__
    (("data", "motion", "crop_size"), "int"),              # MidwayMotionTransform.__init__
    (("trainer", "max_steps"), "int"),                     # lightning's Trainer.__init__
])
def test_types_are_the_annotations_of_the_receiving_code(path, annotation_text):
    annotation = expected_type(path)
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else str(annotation)
    assert text.replace("typing.", "") == annotation_text


def test_torch_threads_of_the_wrong_type_is_named(tmp_path):
    config = load_config(None, {"trainer.torch_threads": "many", "output_dir": str(tmp_path)})
    with pytest.raises(PretrainConfigError, match="trainer.torch_threads must be an integer >= 1 or null, got 'many'"):
        run_pretraining(config)
