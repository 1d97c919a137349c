"""The pretraining config's defaults and types come from the classes its values are passed to, not from a second
key list."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any

import pytest

from midway_plugin.data.video import VideoPairDataset
from midway_plugin.lightly.config_schema import DATASET_KEYS, MIDWAY_KEYS, default_config, expected_type
from midway_plugin.lightly.midway import Midway
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config

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
    untyped = {path for path in leaves(default_config()) if expected_type(path) is Any}
    assert untyped == UNTYPED


@pytest.mark.parametrize(
    "path, annotation_text",
    [
        (("optim", "base_lr"), "float"),  # Midway.__init__
        (("model", "feature_levels"), "tuple[int, ...]"),  # MidwayConfig
        (("data", "delta_t"), "tuple[float, float] | float"),  # VideoPairDataset.__init__
        (("data", "motion", "crop_size"), "int"),  # MidwayMotionTransform.__init__
        (("trainer", "max_steps"), "int"),  # lightning's Trainer.__init__
    ],
)
def test_types_are_the_annotations_of_the_receiving_code(path, annotation_text):
    annotation = expected_type(path)
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else str(annotation)
    assert text.replace("typing.", "") == annotation_text


def test_torch_threads_of_the_wrong_type_is_named(tmp_path):
    """No annotation types it: its value rule (config_values.py) refuses it when the config is loaded."""
    with pytest.raises(PretrainConfigError, match=r"config key 'trainer.torch_threads' = 'many' is not valid"):
        load_config(None, {"trainer.torch_threads": "many", "output_dir": str(tmp_path)})


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def test_method_optim_and_dataset_defaults_are_the_signature_defaults():
    config = load_config(None)
    midway = inspect.signature(Midway).parameters
    for section, names in MIDWAY_KEYS.items():
        assert list(config[section]) == list(names)  # no key the schema does not map
        for key, name in names.items():
            assert config[section][key] == _plain(midway[name].default), (section, key)
    dataset = inspect.signature(VideoPairDataset).parameters
    for key in DATASET_KEYS:
        assert config["data"][key] == _plain(dataset[key].default), key


def test_a_changed_signature_default_shows_up_in_the_config(monkeypatch):
    """The defaults are read from the signatures when a config is loaded: no copy of them to keep in step."""
    for cls, name, value in (
        (Midway, "teacher_temp", 0.07),
        (Midway, "fused_optimizer", True),
        (VideoPairDataset, "repeat", 3),
    ):
        signature = inspect.signature(cls)
        changed = [p.replace(default=value) if p.name == name else p for p in signature.parameters.values()]
        monkeypatch.setattr(cls, "__signature__", signature.replace(parameters=changed), raising=False)
    config = load_config(None)
    assert config["method"]["teacher_temp"] == 0.07
    assert config["optim"]["fused"] is True
    assert config["data"]["repeat"] == 3
    assert load_config(None, {"method.teacher_temp": 0.05})["method"]["teacher_temp"] == 0.05
