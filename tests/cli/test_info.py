"""``midway info`` (issue 3): parameter counts and FLOPs beside Table 9."""

from __future__ import annotations

import re

import pytest

from midway_plugin.cli import main
from midway_plugin.models import MidwayConfig
from midway_plugin.models.flops import measure_training_cost


def test_info_vit_s_matches_table9(capsys) -> None:
    assert main(["info", "--config", "vit-s16"]) == 0
    out = capsys.readouterr().out
    print(out)
    assert re.search(r"dynamics networks\s+36\.6\d M\s+paper 36\.6 M", out)
    assert re.search(r"encoder\s+21\.6\d M\s+paper 21\.7 M", out)
    midway = float(re.search(r"Midway: forward\s+([\d.]+) GMACs", out).group(1))
    dino = float(re.search(r"DINO base \(no latent dynamics\): forward\s+([\d.]+) GMACs", out).group(1))
    assert abs(midway - 90.8) / 90.8 < 0.03 and abs(dino - 50.4) / 50.4 < 0.03


def test_dynamics_cost_more_and_backward_counted() -> None:
    cfg = MidwayConfig.tiny()
    full = measure_training_cost(cfg, num_local=2, local_size=16)
    base = measure_training_cost(cfg.replace(latent_dynamics=False), num_local=2, local_size=16)
    assert full.forward_flops > base.forward_flops > 0
    assert full.backward_flops > full.forward_flops


def test_info_bad_config(tmp_path, capsys) -> None:
    assert main(["info", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such config file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  preset: tiny\n  midway_width: 3\n")
    assert main(["info", "--config", str(bad)]) == 2
    assert "midway_width" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["info", "--bogus"])
