"""`mim train mmflow` runs upstream RAFT (with its ColorJitter) on numpy >= 1.24; `mim test` gives EPE.

The config inherits ``mmflow::raft/raft_8xb2_100k_flyingchairs-368x496.py`` and overrides only the
data root / split file, the crop size, iteration counts (training iterations, and RAFT's recurrent
refinement iterations 12 -> 3, which cuts the CPU time per step about 4x), batch size and
workers. The training
pipeline is upstream's, ColorJitter included (without the compat layer every sample raises
``AttributeError: module 'numpy' has no attribute 'int'``).
"""

from __future__ import annotations

import re
from pathlib import Path

UPSTREAM = "mmflow::raft/raft_8xb2_100k_flyingchairs-368x496.py"
# RAFT's 4-level correlation pyramid at 1/8 resolution needs >= 64 px per side.
CROP = (64, 96)


def load_upstream():
    """The upstream config, read from the installed package (what ``_base_ = 'PKG::...'`` resolves)."""
    from mmengine.config import Config
    from mmengine.utils import get_installed_path

    package, relative = UPSTREAM.split("::")
    return Config.fromfile(Path(get_installed_path(package)) / ".mim" / "configs" / relative)


def write_config(path: Path, data_root: Path, split_file: Path) -> tuple[Path, list[dict]]:
    upstream = load_upstream()
    pipeline = [dict(step, crop_size=CROP) if "crop_size" in step else dict(step) for step in upstream.train_pipeline]
    loader = "num_workers=0, persistent_workers=False"
    dataset = f"data_root={str(data_root)!r}, split_file={str(split_file)!r}"
    path.write_text(f"""\
_base_ = [{UPSTREAM!r}]
custom_imports = dict(imports=['midway_plugin.mmflow'], allow_failed_imports=False)
model = dict(decoder=dict(iters=3))
train_dataloader = dict(batch_size=2, {loader}, dataset=dict({dataset}, pipeline={pipeline!r}))
val_dataloader = dict({loader}, dataset=dict({dataset}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
""")
    return path, pipeline


def test_raft_trains_with_color_jitter_and_tests_with_mim(tmp_path: Path, flyingchairs, mim) -> None:
    data_root, split_file = flyingchairs
    config, pipeline = write_config(tmp_path / "raft_tiny.py", data_root, split_file)
    upstream_jitter = [s for s in load_upstream().train_pipeline if s["type"] == "ColorJitter"]
    assert upstream_jitter and [s for s in pipeline if s["type"] == "ColorJitter"] == upstream_jitter
    work_dir = tmp_path / "work"

    train = mim(["train", "mmflow", str(config), "--work-dir", str(work_dir)], cwd=tmp_path)
    assert re.search(r"Iter\(train\) \[2/2\]", train.stdout), train.stdout[-3000:]
    assert re.search(r"Iter\(val\) \[2/2\].*EPE: \d", train.stdout), train.stdout[-3000:]
    checkpoint = work_dir / "iter_2.pth"
    assert checkpoint.is_file()

    test = mim(
        ["test", "mmflow", str(config), "--checkpoint", str(checkpoint), "--work-dir", str(tmp_path / "test")],
        cwd=tmp_path,
    )
    assert "Load checkpoint from" in test.stdout
    epe = re.search(r"Iter\(test\) \[2/2\].*EPE: (\d+\.\d+)", test.stdout)
    assert epe, test.stdout[-3000:]
    assert 0.0 <= float(epe.group(1)) < 100.0
