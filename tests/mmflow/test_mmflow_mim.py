"""`mim train mmflow` / `mim test mmflow` with MidwayFlow from a `save_export` file, on generated datasets.

The configs inherit the repository's ablation config and override only the export, the head width, the crop /
tile size, the data roots, batch size, workers and iteration counts: the model, loss, optimiser and
augmentation pipelines are the real ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("mmflow")

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "configs/mmflow/midwayflow_vit-s16_1xb8_100k_flyingchairs-flyingthings3d-320x384.py"
CROP = (48, 64)
LOADER = "num_workers=0, persistent_workers=False"


def _train_pipeline() -> list[dict]:
    from mmengine.config import Config

    base = Config.fromfile(str(BASE))
    return [
        dict(step, crop_size=CROP) if "crop_size" in step else dict(step) for step in base.chairs_train.dataset.pipeline
    ]


def _write(path: Path, export: Path, head: dict, train: str, vals: list[tuple[str, str]]) -> Path:
    from midway_plugin.models import load_export

    arch = dict(_delete_=True, **load_export(export).config.to_dict())  # replaces the base's "vit-s16"
    val_loaders = ", ".join(
        f"dict(batch_size=1, {LOADER}, drop_last=False, sampler=dict(type='DefaultSampler', shuffle=False), "
        f"dataset={ds})"
        for _, ds in vals
    )
    evaluators = ", ".join(f"dict(type='EndPointError', prefix={p!r})" for p, _ in vals)
    path.write_text(f"""\
_base_ = [{str(BASE)!r}]
custom_imports = dict(imports=['midway_plugin.mmflow'], allow_failed_imports=False)
model = dict(export={str(export)!r}, arch={arch!r}, head={head!r},
             test_cfg=dict(mode='tile', crop_size=(32, 48), overlap=0.5))
train_dataloader = dict(batch_size=2, {LOADER}, dataset=dict(_delete_=True, **{train}))
val_dataloader = [{val_loaders}]
test_dataloader = val_dataloader
val_evaluator = [{evaluators}]
test_evaluator = val_evaluator
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
""")
    return path


def test_mim_train_and_test_flyingchairs(tmp_path, tiny16_export, flowdata, mim) -> None:
    """FlyingChairs layout, a tiny patch-16 export (stride-16 tokens behind InputPad(exponent=3) as for ViT-S/16)."""
    root = tmp_path / "FlyingChairs_release"
    split = flowdata.write_flyingchairs(root)
    common = dict(type="FlyingChairs", data_root=str(root), split_file=str(split))
    test_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations"),
        dict(type="InputPad", exponent=3),
        dict(type="PackFlowInputs"),
    ]
    config = _write(
        tmp_path / "midwayflow_tiny_chairs.py",
        tiny16_export,
        flowdata.small_head,
        repr(dict(common, pipeline=_train_pipeline())),
        [("chairs", repr(dict(common, test_mode=True, pipeline=test_pipeline)))],
    )
    work = tmp_path / "work"
    train = mim(["train", "mmflow", str(config), "--work-dir", str(work)], cwd=tmp_path)
    assert re.search(r"Iter\(train\) \[2/2\].*loss_flow: \d", train.stdout), train.stdout[-3000:]
    val_epe = re.search(r"chairs/EPE: (\d+\.\d+)", train.stdout)
    assert val_epe, train.stdout[-3000:]
    checkpoint = work / "iter_2.pth"
    assert checkpoint.is_file()

    # The export is gone at test time: the model is built from `arch` and every weight comes from the checkpoint,
    # so the test EPE equals the validation EPE of the same weights after iteration 2.
    test = mim(
        [
            "test",
            "mmflow",
            str(config),
            "--checkpoint",
            str(checkpoint),
            "--work-dir",
            str(tmp_path / "test"),
            "--cfg-options",
            f"model.export={tmp_path / 'absent.safetensors'}",
        ],
        cwd=tmp_path,
    )
    assert "Load checkpoint from" in test.stdout and "absent.safetensors' not found" in test.stdout
    epe = re.search(r"chairs/EPE: (\d+\.\d+)", test.stdout)
    assert epe, test.stdout[-3000:]
    assert float(epe.group(1)) == pytest.approx(float(val_epe.group(1)), rel=1e-3, abs=1e-4)


def test_mim_train_sintel_layout(tmp_path, tiny_export, flowdata, mim) -> None:
    """Sintel layout, exactly ``MidwayConfig.tiny()`` (patch 8), two validation sets through MultiValLoop."""
    root = flowdata.write_sintel(tmp_path / "Sintel")
    test_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations"),
        dict(type="InputPad", exponent=3),
        dict(type="PackFlowInputs"),
    ]
    train = dict(
        type="SintelSplit", split="subtrain", pass_style="clean", data_root=str(root), pipeline=_train_pipeline()
    )
    vals = [
        (
            f"sintel_{p}",
            repr(dict(type="SintelSplit", split="subval", pass_style=p, data_root=str(root), pipeline=test_pipeline)),
        )
        for p in ("clean", "final")
    ]
    config = _write(tmp_path / "midwayflow_tiny_sintel.py", tiny_export, flowdata.small_head, repr(train), vals)
    out = mim(["train", "mmflow", str(config), "--work-dir", str(tmp_path / "work")], cwd=tmp_path)
    assert re.search(r"Iter\(train\) \[2/2\]", out.stdout), out.stdout[-3000:]
    assert re.search(r"sintel_clean/EPE: \d+\.\d+.*sintel_final/EPE: \d+\.\d+", out.stdout), out.stdout[-3000:]
