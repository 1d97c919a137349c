"""``midway configs``: every shipped config listed, the path of one by name, clear errors, and where it looks
(the wheel's ``.mim/configs`` first, else the checkout's ``configs/``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from midway_plugin.cli import main
from midway_plugin.commands.configs import FAMILIES, config_root, find_config, list_configs
from midway_plugin.commands.errors import CommandError

REPO = Path(__file__).resolve().parents[2]
TINY_SEG = "linear_midway-tiny_1xb16-2k_synthetic-64x64"


def test_lists_every_config_of_every_family(capsys) -> None:
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shipped = sorted(
        p for fam in FAMILIES for p in (REPO / "configs" / fam).glob("*.*") if p.suffix in (".py", ".yaml")
    )
    assert sorted(Path(line.split()[1]) for line in lines) == shipped
    assert all(line.split()[0].split("/")[0] in FAMILIES for line in lines)
    assert not any("_base_" in line for line in lines)
    assert main(["configs", "list", "--family", "pretrain"]) == 0
    assert all(line.startswith("pretrain/") for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("name", [TINY_SEG, f"{TINY_SEG}.py", f"mmseg/{TINY_SEG}", f"configs/mmseg/{TINY_SEG}.py"])
def test_path_by_any_spelling_of_the_name(name: str, capsys) -> None:
    assert main(["configs", "path", name]) == 0
    assert capsys.readouterr().out.strip() == str(REPO / "configs" / "mmseg" / f"{TINY_SEG}.py")


def test_unknown_and_ambiguous_names_are_clear_errors(tmp_path: Path, capsys) -> None:
    assert main(["configs", "path", "linear_midway-tiny"]) == 2
    err = capsys.readouterr().err
    assert "midway configs: error: no config named 'linear_midway-tiny'" in err and f"mmseg/{TINY_SEG}" in err
    for fam in FAMILIES:
        (tmp_path / fam).mkdir()
    (tmp_path / "mmseg" / "same.py").write_text("")
    (tmp_path / "mmflow" / "same.py").write_text("")
    with pytest.raises(CommandError, match="'same' is ambiguous: mmseg/same.py, mmflow/same.py"):
        find_config("same", tmp_path)
    assert find_config("mmflow/same", tmp_path) == tmp_path / "mmflow" / "same.py"


def test_root_prefers_the_wheel_layout_then_the_checkout(tmp_path: Path, capsys) -> None:
    assert main(["configs", "root"]) == 0
    assert capsys.readouterr().out.strip() == str(REPO / "configs")  # source checkout / editable install
    package = tmp_path / "site-packages" / "midway_plugin"
    for fam in FAMILIES:
        (package / ".mim" / "configs" / fam).mkdir(parents=True)
    assert config_root(package) == package / ".mim" / "configs"
    assert list_configs(config_root(package)) == []
    with pytest.raises(CommandError, match=r"no configs found: looked in .*\.mim/configs and .*configs"):
        config_root(tmp_path / "elsewhere" / "midway_plugin")
