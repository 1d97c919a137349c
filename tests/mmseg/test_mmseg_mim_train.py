"""End to end: `midway export` weights -> `mim train mmseg` (2 iterations + validation mIoU) -> `mim test mmseg`.

The test config inherits the real BDD100K linear-readout config and overrides only the data root, the image /
crop sizes, the iteration counts, the batch / loader settings, and the architecture of the tiny test model (whose
export decides the backbone anyway). The weights are passed on the command line as docs/mmseg.md ("From
pretraining to mmseg") shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmseg", reason="the OpenMMLab stack is not installed (scripts/install.sh)")

from mmengine.config import Config  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from midway_plugin.compat.safe_checkpoint import safe_torch_load  # noqa: E402
from tests.mmseg_pipelines import shrink_pipeline  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "mmseg"
REAL = CONFIG_DIR / "linear_midway-vit-s16_1xb16-60k_bdd100k-512x512.py"
CROP = (64, 64)


def write_test_config(path: Path, data_root: Path) -> Path:
    real = Config.fromfile(REAL)
    train_pipeline = shrink_pipeline(real.train_dataloader.dataset.pipeline, CROP)
    test_pipeline = shrink_pipeline(real.val_dataloader.dataset.pipeline, CROP)
    loader = "num_workers=0, persistent_workers=False"
    dataset = f"data_root={str(data_root)!r}"
    path.write_text(f"""\
_base_ = [{str(REAL)!r}]
crop_size = {CROP!r}
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='tiny', img_size=64),
    decode_head=dict(in_channels=48, channels=48),
    test_cfg=dict(crop_size=crop_size, stride=(43, 43)))
train_dataloader = dict(batch_size=2, {loader}, dataset=dict({dataset}, pipeline={train_pipeline!r}))
val_dataloader = dict({loader}, dataset=dict({dataset}, pipeline={test_pipeline!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
""")
    return path


def test_mim_train_and_test_from_a_midway_export(tmp_path: Path, bdd_root: Path, tiny_export, mim) -> None:
    export, _ = tiny_export
    config = write_test_config(tmp_path / "linear_tiny_bdd100k.py", bdd_root)
    work_dir = tmp_path / "work"

    # The weights are given as in docs/mmseg.md; the config's own `checkpoint` does not exist in tmp_path.
    train = mim(
        [
            "train",
            "mmseg",
            str(config),
            "--work-dir",
            str(work_dir),
            "--cfg-options",
            f"model.backbone.export={export}",
        ],
        cwd=tmp_path,
    )
    out = train.stdout
    assert f"MidwayViT: loaded {export}" in out, out[-4000:]
    assert "resampled pos_embed" in out  # 32 px export -> 64 px grid
    assert re.search(r"Iter\(train\) \[2/2\]", out), out[-3000:]
    val = re.search(r"Iter\(val\) \[2/2\].*mIoU: (\d+\.\d+)", out)
    assert val, out[-3000:]
    checkpoint = work_dir / "iter_2.pth"
    assert checkpoint.is_file()

    # The frozen backbone in the trained checkpoint is exactly the exported encoder (pos_embed aside: resampled).
    state = safe_torch_load(checkpoint, map_location="cpu")["state_dict"]
    exported = load_file(str(export))
    for key in ("blocks.0.attn.qkv.weight", "blocks.3.mlp.fc2.bias", "cls_token", "norm.weight"):
        torch.testing.assert_close(state[f"backbone.encoder.vit.{key}"], exported[key])
    backward = {k[len("dynamics.backward.") :]: v for k, v in exported.items() if k.startswith("dynamics.backward.")}
    assert backward
    for key, value in backward.items():
        torch.testing.assert_close(state[f"backbone.backward_blocks.{key}"], value)

    # `mim test` needs no export: the model is built from `arch` and the trained checkpoint supplies the weights.
    test = mim(
        ["test", "mmseg", str(config), "--checkpoint", str(checkpoint), "--work-dir", str(tmp_path / "test")],
        cwd=tmp_path,
    )
    assert "Load checkpoint from" in test.stdout, test.stdout[-3000:]
    assert "midway_export.safetensors does not exist (yet)" in test.stdout
    tested = re.search(r"Iter\(test\) \[2/2\].*mIoU: (\d+\.\d+)", test.stdout)
    assert tested, test.stdout[-3000:]
    assert tested.group(1) == val.group(1)  # same weights, same data, deterministic inference
