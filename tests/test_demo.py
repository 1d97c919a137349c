"""README's first command, `make demo` (= scripts/demo.sh), runs end to end (shortened to a few steps)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_script_produces_everything_it_announces(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = dict(os.environ, PY=sys.executable, DEMO_OUT=str(out), DEMO_STEPS="4", MPLBACKEND="Agg")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh")], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert len(list((out / "video" / "videos").glob("*.mp4"))) == 8
    assert (out / "pretrain" / "checkpoints" / "last.ckpt").is_file()
    assert (out / "midway_demo.safetensors").is_file()
    assert (out / "analysis" / "grid.png").is_file() and (out / "analysis" / "heatmaps.npy").is_file()
    assert json.loads((out / "analysis" / "summary.json").read_text())
    assert "done in" in proc.stdout and str(out / "midway_demo.safetensors") in proc.stdout
