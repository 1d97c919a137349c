"""Shared fixtures of the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from midway_plugin.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> Path:
    """Four 16-frame 64x64 synthetic videos."""
    out = tmp_path_factory.mktemp("video")
    write_synthetic_dataset(out, num_videos=4, num_frames=16, size=(64, 64), seed=0, num_objects=2)
    return out / "videos"


@pytest.fixture(scope="session")
def trained_run(videos, tmp_path_factory) -> Path:
    """A finished 4-step tiny run: ``checkpoints/{step-00000002,step-00000004,last}.ckpt``."""
    from midway_plugin.cli import main
    from tests.reliability.midway_process import tiny_pretrain_args

    out = tmp_path_factory.mktemp("trained")
    assert main(tiny_pretrain_args(videos, out, 4)) == 0
    return out
