"""Every config key × every kind of bad value ends in one message naming the key and the value, or is a value the
schema documents as valid; never a traceback. Derived from the schema, so a new key is covered when it is added.

The matrix runs through the validation entry that ``midway pretrain`` runs before any model is built
(``load_config`` → ``config_values.check_values``); a few cases go end to end through ``main()`` and a real
process, and one test shows that ``main()`` reaches the same entry.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from midway_plugin.cli import main
from midway_plugin.lightly import config_values
from midway_plugin.lightly.config_schema import default_config, expected_type
from midway_plugin.lightly.config_types import Mismatch, coerce
from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config
from midway_plugin.models import MidwayConfig
from tests.reliability.midway_process import DEMO, run_midway


def _leaves(tree: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out += _leaves(value, path + (key,))
        else:
            out.append(path + (key,))
    return out


KEYS = list(
    dict.fromkeys(
        [".".join(path) for path in _leaves(default_config())]
        + [f"model.{field.name}" for field in dataclasses.fields(MidwayConfig)]
    )
)

#: The kinds of bad value, each as the override value the CLI would parse from YAML.
BAD_VALUES: dict[str, Any] = {
    "wrong type (text)": "not-a-value",
    "wrong type (bool)": True,
    "wrong type (mapping)": {"a": 1},
    "empty": "",
    "empty list": [],
    "zero": 0,
    "negative": -1,
    "NaN": math.nan,
    "+inf": math.inf,
    "-inf": -math.inf,
    "huge": 1e300,
    "huge integer": 10**30,
    "wrong length (1)": [0.5],
    "wrong length (3)": [0.5, 0.5, 0.5],
    "null": None,
}


def _names_value(message: str, value: Any) -> bool:
    """The message shows the value as given or as the key's type made it (``-1`` → ``-1.0``)."""
    shown = {repr(value), str(value)}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shown |= {repr(float(value))}
        if isinstance(value, float) and value.is_integer():
            shown |= {repr(int(value))}
    if isinstance(value, list):
        shown |= {repr([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value])}
    return any(text in message for text in shown)


def _documented_valid(key: str, value: Any) -> bool:
    """Valid by the schema's documentation: the value rule of the key (docs/pretraining.md prints the table) if it
    has one, else its type (the annotation of the code it is passed to)."""
    if key in config_values.rules():
        return config_values.value_problem(key, value) is None
    try:
        coerce(value, expected_type(tuple(key.split("."))))
    except Mismatch:
        return False
    return True


def _get(config: Mapping[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = value[part]
    return value


@pytest.mark.parametrize("key", KEYS)
def test_every_bad_value_is_refused_naming_key_and_value_or_documented_as_valid(key, tmp_path):
    accepted, refused = [], []
    for kind, value in BAD_VALUES.items():
        overrides = {key: value} if key == "output_dir" else {key: value, "output_dir": str(tmp_path)}
        try:
            config = load_config(None, overrides)
        except PretrainConfigError as err:
            message = str(err)
            assert key in message, (kind, value, message)
            assert _names_value(message, value) or value == {"a": 1} and "a" in message, (kind, value, message)
            assert "Traceback" not in message and "\n" not in message, message
            refused.append(kind)
            continue
        loaded = _get(config, key)
        assert _documented_valid(key, loaded), (kind, value, loaded)
        accepted.append(kind)
    assert refused, f"{key}: no bad value refused (accepted: {accepted})"


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("optim.base_lr", -1, "a number > 0"),
        ("optim.betas", [0.9], "1 item(s), 2 expected"),
        ("trainer.max_steps", -5, "-1 (no limit: epochs decide)"),
        ("data.delta_t", [30, 15], "its items decrease"),
        ("method.teacher_temp", math.nan, "not finite"),
        ("data.num_workers", 10**30, "too large"),
        ("trainer.torch_threads", "many", "not a number"),
    ],
)
def test_the_issue_s_values_are_named_with_what_is_valid(key, value, expected):
    with pytest.raises(PretrainConfigError) as err:
        load_config(None, {key: value})
    assert f"config key '{key}'" in str(err.value) and expected in str(err.value)


def test_valid_edge_values_are_accepted():
    """What the schema documents as valid stays valid: 0 workers, max_steps -1, no gradient clipping, 0 = off."""
    config = load_config(
        None,
        {
            "data.num_workers": 0,
            "trainer.max_steps": -1,
            "trainer.gradient_clip_val": 0,
            "method.health_every": 0,
            "optim.betas": [0.0, 0.5],
            "trainer.devices": "0,1",
            "data.delta_t": 2.5,
        },
    )
    assert config["data"]["num_workers"] == 0 and config["trainer"]["max_steps"] == -1


def test_every_rule_is_of_a_schema_key():
    assert set(config_values.rules()) <= set(KEYS)


def test_the_docs_print_the_rules_table():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "pretraining.md").read_text()
    assert config_values.rules_table() in docs


def test_main_validates_through_the_same_entry(monkeypatch, tmp_path, capsys):
    """The matrix above calls what `midway pretrain` calls: the spy sees main()'s config, and main() reports
    the entry's own message."""
    calls = []
    original = config_values.check_values

    def spy(config):
        calls.append(config)
        return original(config)

    monkeypatch.setattr(config_values, "check_values", spy)
    code = main(["pretrain", "--config", str(DEMO), "--output-dir", str(tmp_path / "o"), "--optim.base_lr", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and len(calls) == 1 and calls[0]["optim"]["base_lr"] == -1.0
    with pytest.raises(PretrainConfigError) as expected:
        original(calls[0])
    assert err.strip() == f"midway pretrain: error: {expected.value}"
    assert not (tmp_path / "o").exists()  # refused before anything was created


# --------------------------------------------------------------------------------------------------------------
# End to end: the issue's cases through main() (and one real process)


def _a_file(t: Path) -> Path:
    (t / "a_file").write_text("not a folder\n")
    return t / "a_file"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--optim.base_lr", "-1"], ["optim.base_lr", "-1.0"]),
        (["--optim.betas", "[0.9]"], ["optim.betas", "[0.9]"]),
        (["--trainer.max_steps", "-5"], ["trainer.max_steps", "-5"]),
        (["--max-steps", "-5"], ["trainer.max_steps", "-5"]),
        (["--data.num_workers", ".nan"], ["data.num_workers", "nan"]),
    ],
)
def test_bad_values_end_to_end(args, expected, tmp_path, capsys):
    code = main(["pretrain", "--config", str(DEMO), "--output-dir", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_output_dir_that_cannot_be_a_folder(where, tmp_path, videos, capsys):
    from tests.reliability.midway_process import tiny_pretrain_args

    out = _a_file(tmp_path) if where == "a file" else _a_file(tmp_path) / "run"
    assert main(tiny_pretrain_args(videos, out, 1)) == 2
    err = capsys.readouterr().err
    assert f"output_dir {str(out)!r} cannot be written" in err and "not a folder" in err and "Traceback" not in err


def _read_only(folder: Path, monkeypatch) -> None:
    """chmod 0o555; as root (which writes anyway) the check's answer is simulated as a read-only mount's."""
    from midway_plugin import output_lock

    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real = output_lock._unwritable_reason
        monkeypatch.setattr(
            output_lock,
            "_unwritable_reason",
            lambda f: "it is on a read-only file system" if Path(f) == folder else real(f),
        )


def test_output_dir_on_a_read_only_mount(tmp_path, videos, monkeypatch, capsys):
    from tests.reliability.midway_process import tiny_pretrain_args

    _read_only(tmp_path / "ro", monkeypatch)
    try:
        assert main(tiny_pretrain_args(videos, tmp_path / "ro", 1)) == 2
    finally:
        (tmp_path / "ro").chmod(0o755)
    err = capsys.readouterr().err
    assert f"output_dir {str(tmp_path / 'ro')!r} cannot be written" in err and "Traceback" not in err


def test_a_real_process_prints_no_traceback(tmp_path):
    code, _, err = run_midway(
        "pretrain", "--config", str(DEMO), "--output-dir", str(tmp_path / "o"), "--optim.betas", "[0.9]"
    )
    assert code == 2 and "optim.betas" in err and "[0.9]" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------------------
# Every output path option of the CLI: a file where a folder belongs, a path under a file, a read-only folder


def _perturb(out: str) -> list[str]:
    return ["analyze", "perturb", "--weights", "missing.safetensors", "--video", "v.mp4", "--out", out]


#: (command line with OUT where the path goes, the option's name in the message, OUT is a folder)
OUTPUT_OPTIONS: dict[str, tuple[list[str], str, bool]] = {
    "pretrain --output-dir": (
        ["pretrain", "--config", str(DEMO), "--output-dir", "OUT", "--data.root", "."],
        "output_dir",
        True,
    ),
    "export OUT": (["export", "CKPT", "OUT"], "export file", False),
    "import-official OUT": (["import-official", "CKPT", "OUT"], "export file", False),
    "make-video --out": (
        ["make-video", "--out", "OUT", "--num-videos", "1", "--frames", "4", "--size", "16x16"],
        "--out",
        True,
    ),
    "bench quality --out": (["bench", "quality", "--out", "OUT", "--quick"], "--out", True),
    "analyze perturb --out": (_perturb("OUT"), "--out", True),
    "analyze track --out": (
        ["analyze", "track", "--weights", "missing.safetensors", "--video", "v.mp4", "--start", "1,1", "--out", "OUT"],
        "--out",
        True,
    ),
    "check-videos --index-cache": (["check-videos", "VIDEOS", "--index-cache", "OUT"], "--index-cache", False),
    "bench learnability --json": (["bench", "learnability", "--json", "OUT"], "--json", False),
}


def _command(template: list[str], out: Path, trained_run: Path, videos: Path) -> list[str]:
    values = {"OUT": str(out), "CKPT": str(trained_run / "checkpoints" / "last.ckpt"), "VIDEOS": str(videos)}
    return [values.get(arg, arg) for arg in template]


@pytest.mark.parametrize("option", list(OUTPUT_OPTIONS))
@pytest.mark.parametrize("where", ["under a file", "read-only folder", "a file where a folder belongs"])
def test_every_output_path_option(option, where, tmp_path, trained_run, videos, monkeypatch, capsys):
    template, name, is_folder = OUTPUT_OPTIONS[option]
    if where == "under a file":
        out = _a_file(tmp_path) / "out"
    elif where == "read-only folder":
        _read_only(tmp_path / "ro", monkeypatch)
        out = tmp_path / "ro" / "out" if not is_folder else tmp_path / "ro"
    else:
        if not is_folder:
            pytest.skip("a file option: an existing file is overwritten")
        out = _a_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    try:
        code = main(_command(template, out, trained_run, videos))
    finally:
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    err = capsys.readouterr().err
    message = err.strip().splitlines()[-1] if err.strip() else ""
    assert code == 2, (option, where, err)
    assert f"{name} {str(out)!r} cannot be written" in message, (option, where, message)
    assert "Traceback" not in err


def test_every_path_option_of_the_cli_is_in_the_table():
    """A new output option must join OUTPUT_OPTIONS (input options are checked where they are read)."""
    from midway_plugin.cli import build_parser

    outputs = {"--out", "--output-dir", "--json", "--index-cache", "output"}
    found = set()
    parser = build_parser()
    for sub in parser._subparsers._group_actions[0].choices.items():  # type: ignore[union-attr]
        stack = [sub]
        while stack:
            name, sp = stack.pop()
            for action in sp._actions:
                if action.choices and isinstance(action.choices, dict):
                    stack += [(f"{name} {k}", v) for k, v in action.choices.items()]
                for flag in action.option_strings or [action.dest]:
                    if flag in outputs:
                        found.add(f"{name} {flag if flag != 'output' else 'OUT'}")
    assert found == set(OUTPUT_OPTIONS), found ^ set(OUTPUT_OPTIONS)
