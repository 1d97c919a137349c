"""`midway bench quality --quick` end to end: every stage runs and every number is finite (not that Midway wins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mmseg")
pytest.importorskip("mmflow")

from midway_plugin.evaluation.tool_outputs import finite_numbers  # noqa: E402

STEPS = (
    "pretrain",
    "export",
    "zeroshot",
    "seg-train",
    "seg-test",
    "flow-train",
    "flow-test",
    "flow-frozen-train",
    "flow-frozen-test",
)


def test_quick_benchmark_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "midway_plugin.cli", "bench", "quality", "--quick", "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - start
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-5000:]
    results = json.loads((out / "results.json").read_text())
    assert results["failures"] == []
    units = results["units"]
    assert set(units) == {"data", "reference", "base/seed0", "full/seed0"}
    for unit in ("base/seed0", "full/seed0"):
        assert set(units[unit]) == set(STEPS)
        assert all(units[unit][step]["status"] == "ok" for step in STEPS), units[unit]
        assert Path(units[unit]["seg-test"]["log"]).is_file()
    # one line per stage as it goes, naming unit, step, status and seconds
    assert proc.stdout.count(" ok ") == sum(len(u) for u in units.values())
    summary = results["summary"]
    for name in ("base", "full"):
        row = summary["variants"][name]
        for metric in ("miou", "epe_finetune", "epe_frozen", "epe_feature", "s_per_step"):
            assert row[metric] is not None and row[metric]["n"] == 1, (name, metric)
    assert summary["variants"]["full"]["epe_tracking"] is not None  # the base has no dynamics to perturb
    assert summary["variants"]["base"]["epe_tracking"] is None
    assert all(summary["reference"][m] is not None for m in ("zero", "farneback", "token-oracle"))
    assert finite_numbers(summary) == []
    assert "| Full Midway |" in (out / "results.md").read_text()
    assert (out / "results.png").stat().st_size > 10_000
    assert elapsed < 600, f"--quick took {elapsed:.0f} s (about 3 min on 2 idle cores)"
