"""``midway pretrain`` on make-video output reports the motion of its pairs in tokens (lightly/generated_motion.py)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from midway_plugin.data.motion_tokens import SubTokenMotionWarning
from midway_plugin.lightly.builders import build_transform
from midway_plugin.lightly.generated_motion import report_generated_motion
from midway_plugin.lightly.pretrain_config import load_config
from midway_plugin.lightly.pretrain_plan import PretrainPlan

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"


def _report(config: dict) -> dict | None:
    plan = PretrainPlan.from_config(config)
    return report_generated_motion(plan, build_transform(plan).motion)


def _folder(tmp_path: Path, px: float, frame_gap: int = 1) -> Path:
    (tmp_path / "videos").mkdir()
    index = {
        "height": 64,
        "width": 64,
        "num_frames": 48,
        "fps": 30.0,
        "frame_gap": frame_gap,
        "flow_stats": {"train": {"percentiles": [px] * 101}},
    }
    (tmp_path / "dataset.json").write_text(json.dumps(index))
    return tmp_path / "videos"


def test_demo_recipe_in_tokens(tmp_path: Path, capsys) -> None:
    config = load_config(DEMO, {"data.root": str(_folder(tmp_path, 8.0, frame_gap=2))})
    per_px = 32 / math.sqrt(0.45 * 64 * 64) / 8  # demo: 32 px crops at scale 0.3-0.6, tiny patch 8
    with warnings.catch_warnings():
        warnings.simplefilter("error", SubTokenMotionWarning)
        stats = _report(config)
    # 8 px over 2 frames = 4 px per frame; dt 2-6 frames, median dt 4: about 1.5 tokens
    assert stats["median"] == pytest.approx(4 * 4 * per_px, rel=1e-3) and stats["split"] == "train"
    assert stats["delta_t"] == [2, 6] and stats["patch_size"] == 8 and stats["input_size"] == 32
    assert "motion of the generated train videos" in capsys.readouterr().out


def test_sub_token_motion_warns_and_other_folders_are_skipped(tmp_path: Path) -> None:
    config = load_config(DEMO, {"data.root": str(_folder(tmp_path, 0.5))})
    with pytest.warns(SubTokenMotionWarning, match="data.delta_t"):
        assert _report(config)["median"] < 1
    (tmp_path / "other").mkdir()
    assert _report(load_config(DEMO, {"data.root": str(tmp_path / "other")})) is None
