"""README's first command, `make demo` (= scripts/demo.sh), runs end to end (shortened to a few steps)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from midway_plugin.evaluation.recipes import RECIPES
from midway_plugin.lightly.health import health_verdict

REPO = Path(__file__).resolve().parents[1]


def test_demo_script_produces_everything_it_announces(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = dict(
        os.environ,
        PY=sys.executable,
        DEMO_OUT=str(out),
        DEMO_STEPS="4",
        DEMO_SEG_ITERS="2",
        DEMO_FLOW_ITERS="2",
        DEMO_FRAMES="8",
        MPLBACKEND="Agg",
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh")],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert len(list((out / "video" / "videos").glob("*.mp4"))) == 18  # pretraining never sees the 6 val videos
    assert len(list((out / "video" / "videos_val").glob("*.mp4"))) == 6
    assert (out / "pretrain" / "checkpoints" / "last.ckpt").is_file()
    assert (out / "midway_demo.safetensors").is_file()
    assert (out / "seg" / "iter_2.pth").is_file() and (out / "flow" / "iter_2.pth").is_file()
    assert list((out / "seg" / "pictures").rglob("*.png")) and list((out / "flow" / "pictures").rglob("*.png"))
    assert (out / "analysis" / "grid.png").is_file() and (out / "analysis" / "heatmaps.npy").is_file()
    assert json.loads((out / "analysis" / "summary.json").read_text())
    summary = proc.stdout[proc.stdout.index("done in") :]
    miou = re.search(r"mIoU (\d+\.\d) on the held-out videos", summary)
    epe = re.search(r"EPE (\d+\.\d\d) px on the held-out pairs .*zero-flow guess (\d+\.\d\d) px", summary)
    assert miou and epe, summary
    assert 0 <= float(miou.group(1)) <= 100 and float(epe.group(1)) > 0
    assert str(out / "seg" / "test.log") in summary and str(out / "flow" / "test.log") in summary
    assert str(out / "midway_demo.safetensors") in summary
    # the small-scale recipe's data and model, and the learning-health verdict of the run's health.json
    frame = next((out / "video" / "frames").rglob("*.png"))
    assert Image.open(frame).size == RECIPES["small"]["size"][::-1]
    assert str(out / "pretrain" / "health.json") in summary
    health = json.loads((out / "pretrain" / "health.json").read_text())
    for line in health_verdict(health):
        assert line in summary
    assert re.search(r"dynamics use the target: (yes|partly|no) \(", summary), summary
    assert re.search(
        r"in short +dynamics use the target: .*; mIoU \d+\.\d \(all background \d+\.\d\); EPE "
        r"\d+\.\d\d px \(zero flow \d+\.\d\d px\)",
        summary,
    ), summary
