"""Every bad input a user can hand the `midway` CLI ends in one message naming the file or key, exit code 2, and
no traceback: config keys and types, data folders, checkpoints to resume or export, export destinations."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from midway_plugin.cli import main
from midway_plugin.data.synthetic import generate_video, write_video
from tests.reliability.midway_process import DEMO, run_midway, tiny_pretrain_args


class _Hostile:
    def __reduce__(self):
        return os.system, ("touch HOSTILE_PICKLE_RAN",)


def _hostile_pickle(path: Path) -> Path:
    torch.save({"state_dict": {}, "payload": _Hostile()}, path)
    return path


def _truncated_copy(source: Path, path: Path, keep: float = 0.5) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# Each case: (arguments, the texts the message must contain). ``t`` = tmp_path, ``v`` = good videos, ``r`` = a
# finished run directory.
Case = Callable[[Path, Path, Path], tuple[list[str], list[str]]]


def _bad_folder(t: Path, v: Path, r: Path) -> tuple[list[str], list[str]]:
    root = t / "bad"
    root.mkdir()
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("not a video\n")
    shutil.copy(next(v.glob("*.mp4")), root / "full.mp4")
    _truncated_copy(root / "full.mp4", root / "truncated.mp4", 0.3)
    (root / "full.mp4").unlink()
    (root / "dir.mp4").mkdir()
    os.symlink(root / "loop_b.mp4", root / "loop_a.mp4")
    os.symlink(root / "loop_a.mp4", root / "loop_b.mp4")
    write_video(root / "too_short.mp4", generate_video(2, (32, 32), seed=1).frames, 30.0)  # demo: >= 3 frames
    # (A 48 px wide video, which decord 0.6.0 garbles, is no longer bad input: PyAV reads it,
    # tests/data/seeking/test_decord_width_fallback.py.)
    return tiny_pretrain_args(v, t / "out", 1, "--data.root", str(root)), [
        str(root),
        "no usable video",
        "all 6 video files were skipped",
        "too short: 1",
        "empty file",
        "unreadable: 2",
    ]


CASES: dict[str, Case] = {
    "unknown key": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--trainer.max_stepz", "3"),
        ["trainer.max_stepz"],
    ),
    "wrong type": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--optim.base_lr", "fast"),
        ["optim.base_lr", "'fast'", "number"],
    ),
    "wrong type in a list": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--data.delta_t", "[a, 3]"),
        ["data.delta_t", "list of 2 numbers"],
    ),
    "wrong type in the YAML file": lambda t, v, r: (
        ["pretrain", "--config", str(_yaml(t, "data:\n  repeat: many\n"))],
        ["repeat", "'many'", "integer", "cfg.yaml"],
    ),
    "missing config file": lambda t, v, r: (["pretrain", "--config", str(t / "nope.yaml")], ["nope.yaml"]),
    "unknown preset": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--model.preset", "vit-x99"),
        ["vit-x99", "preset"],
    ),
    "learning rate beyond float32": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--optim.base_lr", "1e39"),
        ["optim.base_lr", "1e+39"],
    ),
    "missing data root": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--data.root", str(t / "nowhere")),
        [str(t / "nowhere")],
    ),
    "empty data root": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--data.root", str(_mkdir(t / "empty"))),
        [str(t / "empty"), "no usable"],
    ),
    "only bad videos (zero-byte, text, truncated, dir.mp4, symlink loop)": _bad_folder,
    "resume from a text file": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--resume", str(_text(t / "notes.ckpt"))),
        ["notes.ckpt"],
    ),
    "resume from a hostile pickle": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--resume", str(_hostile_pickle(t / "evil.ckpt"))),
        _refused(t / "evil.ckpt"),
    ),
    "resume-official a hostile pickle": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--resume-official", str(_hostile_pickle(t / "evil.pth"))),
        _refused(t / "evil.pth"),
    ),
    "resume from a missing file": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--resume", str(t / "gone.ckpt")),
        ["gone.ckpt"],
    ),
    "resume from an empty directory": lambda t, v, r: (
        tiny_pretrain_args(v, t / "o", 1, "--resume", str(_mkdir(t / "runs"))),
        [str(t / "runs"), "no checkpoint"],
    ),
    "resume from a truncated checkpoint file": lambda t, v, r: (
        tiny_pretrain_args(
            v, t / "o", 1, "--resume", str(_truncated_copy(r / "checkpoints" / "last.ckpt", t / "cut.ckpt"))
        ),
        ["cut.ckpt", "truncated"],
    ),
    "second run into a used output_dir": lambda t, v, r: (tiny_pretrain_args(v, r, 1), [str(r), "--resume last"]),
    "import-official a hostile pickle": lambda t, v, r: (
        ["import-official", str(_hostile_pickle(t / "evil.pth")), str(t / "x.safetensors")],
        _refused(t / "evil.pth"),
    ),
    "analyze a file that is not an export": lambda t, v, r: (
        [
            "analyze",
            "perturb",
            "--weights",
            str(_text(t / "w.safetensors")),
            "--out",
            str(t / "a"),
            "--video",
            str(next(v.glob("*.mp4"))),
        ],
        ["w.safetensors"],
    ),
    "export a hostile pickle": lambda t, v, r: (
        ["export", str(_hostile_pickle(t / "evil.ckpt")), str(t / "x.safetensors")],
        _refused(t / "evil.ckpt"),
    ),
    "export a raw pickle with an opcode the restricted unpickler lacks": lambda t, v, r: (
        ["export", str(_bytes(t / "raw.ckpt", b"\x80\x02\xff.")), str(t / "x.safetensors")],
        [f"refused to load checkpoint {str(t / 'raw.ckpt')!r}: it uses the pickle opcode 255", "nothing in it was run"],
    ),
    "export an empty checkpoint": lambda t, v, r: (
        ["export", str(_touch(t / "zero.ckpt")), str(t / "x.safetensors")],
        ["zero.ckpt", "empty file"],
    ),
    "export to an unwritable path": lambda t, v, r: (
        ["export", str(r / "checkpoints" / "last.ckpt"), str(_text(t / "a_file") / "x.safetensors")],
        [str(t / "a_file" / "x.safetensors")],
    ),
}


def _refused(path: Path) -> list[str]:
    """The one refusal message of every loader (models/refused_pickle.py), whichever command loads the file."""
    return [
        f"refused to load checkpoint {str(path)!r}: it references the global posix.system, which is not on the "
        "allow-list",
        "; nothing in it was run. Only load checkpoints from sources you trust.",
    ]


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _yaml(t: Path, text: str) -> Path:
    (t / "cfg.yaml").write_text(f"output_dir: {t / 'o'}\n" + text)
    return t / "cfg.yaml"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _text(path: Path) -> Path:
    path.write_text("just some text\n")
    return path


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named_with_exit_code_2_and_no_traceback(case, tmp_path, videos, trained_run, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, expected = CASES[case](tmp_path, videos, trained_run)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    message = err.strip().splitlines()[-1]
    assert message.startswith(f"midway {args[0]}: error: "), err
    for text in expected:
        assert text in message, (text, message)
    assert "Traceback" not in out + err
    assert "weights_only=False" not in err  # torch's advice to unpickle anything is never passed on
    assert not (tmp_path / "HOSTILE_PICKLE_RAN").exists()


def test_yaml_1_1_exponent_without_dot_is_a_number(capsys):
    """PyYAML reads ``1e30`` as a string; the schema says float, so it is accepted as one."""
    assert (
        main(
            ["pretrain", "--config", str(DEMO), "--optim.base_lr", "1e-3", "--trainer.epochs", "2e2", "--print-config"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "base_lr: 0.001" in printed and "epochs: 200.0" in printed


def test_the_real_cli_prints_no_traceback(tmp_path):
    """The same contract through a real process (module entry point, exit status)."""
    code, out, err = run_midway("pretrain", "--config", str(DEMO), "--data.num_workers", "many")
    assert code == 2 and "data.num_workers" in err and "'many'" in err and "Traceback" not in err
