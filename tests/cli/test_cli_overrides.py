"""`midway` hands unknown ``--section.key VALUE`` tokens to subcommands that take config overrides, and only those."""

from __future__ import annotations

import pytest

from midway_plugin.cli import main


def test_pretrain_receives_dotted_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "pretrain",
            "--config",
            "configs/pretrain/demo.yaml",
            "--trainer.max_steps",
            "7",
            "--data.root=some/videos",
            "--print_config",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "max_steps: 7" in out and "root: some/videos" in out


def test_unknown_override_key_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pretrain", "--config", "configs/pretrain/demo.yaml", "--trainer.max_stepz", "7"]) == 2
    assert "trainer.max_stepz" in capsys.readouterr().err


def test_other_subcommands_refuse_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "--config", "tiny", "--trainer.max_steps", "7"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --trainer.max_steps 7" in capsys.readouterr().err
