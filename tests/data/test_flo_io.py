"""``.flo`` files: this package's numpy reader/writer and mmcv's (used by MMFlow's pipelines) agree both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from midway_plugin.data.synthetic import read_flo, write_flo


def test_flo_files_are_mmcvs_format(tmp_path: Path) -> None:
    mmcv = pytest.importorskip("mmcv")
    flow = np.random.default_rng(0).normal(0, 5, (7, 11, 2)).astype(np.float32)
    write_flo(tmp_path / "ours.flo", flow)
    np.testing.assert_array_equal(mmcv.flowread(str(tmp_path / "ours.flo")), flow)
    mmcv.flowwrite(flow, str(tmp_path / "mmcv.flo"))
    np.testing.assert_array_equal(read_flo(tmp_path / "mmcv.flo"), flow)
    assert (tmp_path / "ours.flo").read_bytes() == (tmp_path / "mmcv.flo").read_bytes()
