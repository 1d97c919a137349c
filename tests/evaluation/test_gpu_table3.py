"""benchmarks/gpu_table3.sh (Table 3 at ViT-S/16 scale on a GPU) runs `midway bench quality`: here on the CPU with
the tiny preset and --quick sizes (the GPU run itself needs a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from midway_plugin.evaluation.quality import QUICK

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_table3.sh"


def run_script(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    full = dict(os.environ, PY=sys.executable, OMP_NUM_THREADS="1", **env)
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def test_bad_video_folder_and_missing_gpu_are_named(tmp_path: Path) -> None:
    proc = run_script({"OUT": str(tmp_path / "out")}, str(tmp_path / "nope"))
    assert proc.returncode == 2 and "VIDEO_DIR" in proc.stdout and "nope" in proc.stdout
    if not _cuda():
        proc = run_script({"OUT": str(tmp_path / "out")})
        assert proc.returncode != 0 and "no CUDA GPU" in proc.stdout, proc.stdout
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_script_runs_base_and_full_on_the_cpu_with_tiny_settings(tmp_path: Path) -> None:
    pytest.importorskip("mmseg")
    pytest.importorskip("mmflow")
    out = tmp_path / "table3"
    env = {
        "OUT": str(out),
        "QUICK": "1",
        "PRESET": "tiny",
        "ACCELERATOR": "cpu",
        "JOBS": "2",
        "PRETRAIN_CONFIG": "configs/pretrain/small_synthetic.yaml",
        "SIZE": "40x40",
        "PRETRAIN_STEPS": "2",
        "NUM_VIDEOS": str(QUICK["num_videos"]),
        "VAL_VIDEOS": str(QUICK["val_videos"]),
        "FRAMES": str(QUICK["frames"]),
        "BATCH": str(QUICK["batch_size"]),
        "SEG_ITERS": str(QUICK["seg_iters"]),
        "FLOW_ITERS": str(QUICK["flow_iters"]),
        "ZS_PAIRS": str(QUICK["zs_pairs"]),
        "SEEDS": "1",
    }
    proc = run_script(env)
    assert proc.returncode == 0, proc.stdout[-5000:]
    results = json.loads((out / "results.json").read_text())
    assert results["failures"] == []
    settings = results["settings"]
    assert settings["recipe"] == "small" and settings["preset"] == "tiny" and settings["pretrain_steps"] == 2
    assert settings["variants"] == ["base", "full"] and settings["zs_gap"] == 2
    assert settings["pretrain_config"].endswith("small_synthetic.yaml")
    assert set(results["summary"]["variants"]) == {"base", "full"}
    table = (out / "results.md").read_text()
    assert "| Full Midway |" in table and table.strip() in proc.stdout  # the script prints the table


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
