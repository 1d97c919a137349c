"""`mim train mmseg` / `--resume` / `mim test mmseg` on an upstream config (torch >= 2.6 checkpoints).

The config inherits ``mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py`` and overrides only
the data root, crop/resize sizes, iteration counts, batch size and workers (plus
``pretrained=None``: no download). Its ``custom_imports`` is the one line a user adds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tests.mmseg_pipelines import shrink_pipeline

UPSTREAM = "mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py"
CROP = (32, 64)  # (h, w); the generated images are 64 x 128


def load_upstream():
    """The upstream config, read from the installed package (what ``_base_ = 'PKG::...'`` resolves)."""
    from mmengine.config import Config
    from mmengine.utils import get_installed_path

    package, relative = UPSTREAM.split("::")
    return Config.fromfile(Path(get_installed_path(package)) / ".mim" / "configs" / relative)


def write_config(path: Path, data_root: Path) -> Path:
    upstream = load_upstream()
    train_pipeline = shrink_pipeline(upstream.train_pipeline, CROP)
    test_pipeline = shrink_pipeline(upstream.test_pipeline, CROP)
    loader = "num_workers=0, persistent_workers=False"
    dataset = f"data_root={str(data_root)!r}"
    path.write_text(f"""\
_base_ = [{UPSTREAM!r}]
custom_imports = dict(imports=['midway_plugin.mmseg'], allow_failed_imports=False)
crop_size = {CROP!r}
model = dict(pretrained=None, data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=2, {loader}, dataset=dict({dataset}, pipeline={train_pipeline!r}))
val_dataloader = dict({loader}, dataset=dict({dataset}, pipeline={test_pipeline!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
""")
    return path


def test_train_resume_and_test_with_mim(tmp_path: Path, cityscapes_root: Path, mim) -> None:
    config = write_config(tmp_path / "fcn_tiny.py", cityscapes_root)
    work_dir = tmp_path / "work"

    train = mim(["train", "mmseg", str(config), "--work-dir", str(work_dir)], cwd=tmp_path)
    assert re.search(r"Iter\(train\) \[2/2\]", train.stdout), train.stdout[-3000:]
    assert re.search(r"Iter\(val\) \[2/2\].*mIoU: \d", train.stdout), train.stdout[-3000:]
    checkpoint = work_dir / "iter_2.pth"
    assert checkpoint.is_file()
    with pytest.raises(Exception, match="HistoryBuffer|Unsupported global"):
        torch.load(checkpoint, weights_only=True)  # what mmengine alone would hit

    resume = mim(
        [
            "train",
            "mmseg",
            str(config),
            "--work-dir",
            str(work_dir),
            "--resume",
            "--cfg-options",
            "train_cfg.max_iters=3",
        ],
        cwd=tmp_path,
    )
    assert "resumed epoch: 0, iter: 2" in resume.stdout, resume.stdout[-3000:]
    assert re.search(r"Iter\(train\) \[3/3\]", resume.stdout)
    assert not re.search(r"Iter\(train\) \[1/3\]", resume.stdout)
    assert (work_dir / "iter_3.pth").is_file()

    test = mim(
        [
            "test",
            "mmseg",
            str(config),
            "--checkpoint",
            str(work_dir / "iter_3.pth"),
            "--work-dir",
            str(tmp_path / "test"),
        ],
        cwd=tmp_path,
    )
    assert "Load checkpoint from" in test.stdout
    assert re.search(r"Iter\(test\) \[2/2\].*mIoU: \d", test.stdout), test.stdout[-3000:]


def test_mim_test_refuses_a_malicious_checkpoint(tmp_path: Path, cityscapes_root: Path, mim) -> None:
    class RunsShell:
        def __reduce__(self):
            return __import__("os").system, (f"touch {marker}",)

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": RunsShell()}, evil)
    config = write_config(tmp_path / "fcn_tiny.py", cityscapes_root)

    test = mim(
        ["test", "mmseg", str(config), "--checkpoint", str(evil), "--work-dir", str(tmp_path / "t")],
        cwd=tmp_path,
        check=False,
    )
    assert test.returncode != 0
    assert "UnsafeCheckpointError" in test.stdout and "posix.system" in test.stdout
    assert str(evil) in test.stdout
    assert not marker.exists()
