"""The summary `midway pretrain` prints names only files that exist."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from midway_plugin.cli import main
from tests.reliability.midway_process import tiny_pretrain_args


def test_resuming_a_finished_run_prints_no_missing_log_path(trained_run, videos, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert main(tiny_pretrain_args(videos, run, 4, "--resume", "last")) == 0  # already at step 4: nothing to train
    out = capsys.readouterr().out
    assert "global step 4" in out and "this run logged no step" in out
    for path in re.findall(r"(/\S+\.(?:csv|ckpt))", out):
        assert Path(path).exists(), (path, out)
