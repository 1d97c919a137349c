"""Every config under configs/mmseg/ parses, follows the paper's protocol, and builds its model on the CPU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmseg", reason="the OpenMMLab stack is not installed (scripts/install.sh)")

from mmengine.config import Config  # noqa: E402
from mmengine.model import revert_sync_batchnorm  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "mmseg"
# The paper-protocol configs; the generated-benchmark ones (*_synthetic-*) are tested in test_mmseg_synthetic.py.
CONFIGS = sorted(p for p in CONFIG_DIR.glob("*.py") if "_synthetic-" not in p.name)
BASES = sorted((CONFIG_DIR / "_base_").rglob("*.py"))
# mmseg's naming convention: {algorithm}_{backbone}_{gpus}xb{batch}-{schedule}_{dataset}-{crop}.py
NAME = re.compile(
    r"^(?P<finetune>finetune-)?(?P<head>linear|upernet)_midway-vit-(?P<arch>s16|b16)_1xb(?P<batch>\d+)"
    r"-(?P<kiters>\d+)k_(?P<dataset>bdd100k|cityscapes|ade20k)-(?P<h>\d+)x(?P<w>\d+)\.py$"
)
DATASETS = {
    "bdd100k": ("BDD100KDataset", 19),
    "cityscapes": ("CityscapesDataset", 19),
    "ade20k": ("ADE20KDataset", 150),
}
WIDTH = {"s16": 384, "b16": 768}


def test_the_paper_readouts_all_have_configs() -> None:
    names = {p.name for p in CONFIGS}
    expected = {
        f"{head}_midway-vit-{arch}_1xb16-60k_{ds}-512x512.py"
        for head in ("linear", "upernet")
        for arch in ("s16", "b16")
        for ds in ("bdd100k", "cityscapes")
    } | {"finetune-upernet_midway-vit-s16_1xb4-60k_ade20k-512x512.py"}
    assert expected <= names, sorted(expected - names)
    assert all(NAME.match(n) for n in names), [n for n in names if not NAME.match(n)]


@pytest.mark.parametrize("path", BASES, ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_base_config_parses(path: Path) -> None:
    assert Config.fromfile(path).filename == str(path)


def _train_crop(cfg: Config) -> tuple[int, int]:
    crops = [tuple(s["crop_size"]) for s in cfg.train_dataloader.dataset.pipeline if s["type"] == "RandomCrop"]
    assert len(crops) == 1
    return crops[0]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_follows_protocol_and_builds(path: Path) -> None:
    from mmseg.registry import MODELS

    from midway_plugin.mmseg import BNLinearHead, MidwayViT

    m = NAME.match(path.name)
    assert m, f"{path.name} does not follow mmseg's naming convention"
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=["midway_plugin.mmseg"], allow_failed_imports=False)
    assert cfg.model.backbone.type == "MidwayViT"
    assert cfg.model.backbone.export == cfg.checkpoint and cfg.checkpoint.endswith(".safetensors")
    assert cfg.model.pretrained is None

    # Protocol (docs/paper.md §3.1): AdamW 3e-5 / wd 0.05, 60k iterations, batch 16 (4 for ADE20K finetuning),
    # 512x512 crops, sliding-window inference.
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ("AdamW", 3e-5, 0.05)
    assert cfg.train_cfg.max_iters == int(m["kiters"]) * 1000 == 60000
    assert cfg.train_dataloader.batch_size == int(m["batch"])
    crop = (int(m["h"]), int(m["w"]))
    assert crop == (512, 512) == _train_crop(cfg) == tuple(cfg.model.data_preprocessor.size)
    assert cfg.model.test_cfg == dict(mode="slide", crop_size=(512, 512), stride=(341, 341))
    dataset_type, num_classes = DATASETS[m["dataset"]]
    assert cfg.train_dataloader.dataset.type == cfg.val_dataloader.dataset.type == dataset_type
    assert cfg.model.decode_head.num_classes == num_classes
    backbone = cfg.model.backbone
    assert backbone.arch == f"vit-{m['arch']}"
    assert backbone.frozen is (m["finetune"] is None)
    if m["head"] == "linear":  # the paper's linear readout reads the backward-layer features v^3
        assert (backbone.feature_source, tuple(backbone.out_blocks)) == ("backward", (3,))
    else:
        assert backbone.feature_source == "encoder" and tuple(backbone.out_blocks) == (3, 6, 9, 12)
        assert (cfg.model.neck.type, cfg.model.decode_head.type) == ("MultiLevelNeck", "UPerHead")

    init_default_scope("mmseg")
    torch.manual_seed(0)
    # The export does not exist: the backbone is built from `arch`. SyncBN -> BN as mmengine's runner does in a
    # single process.
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    assert isinstance(model.backbone, MidwayViT)
    assert model.backbone.embed_dim == WIDTH[m["arch"]]
    assert model.backbone.encoder.vit.pos_embed.shape[1] == 1 + (512 // 16) ** 2  # laid out for 512x512
    params = list(model.backbone.parameters())
    assert all(p.requires_grad is (m["finetune"] is not None) for p in params)
    if m["head"] == "linear":
        assert isinstance(model.decode_head, BNLinearHead)
    model.eval()
    image = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model.encode_decode(image, [dict(img_shape=(64, 96))])
    assert logits.shape == (1, num_classes, 64, 96)

    # `pretrained` (the deprecated name of the export, which mmseg's EncoderDecoder passes down) builds the same
    # model: same tensors under the same seed, identical logits.
    old = cfg.model.copy()
    old.backbone = {k: v for k, v in cfg.model.backbone.items() if k != "export"}
    old.backbone.update(pretrained=cfg.checkpoint)
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="use `export`"):
        old_model = revert_sync_batchnorm(MODELS.build(old)).eval()
    assert old_model.backbone.out_blocks == model.backbone.out_blocks
    new_state, old_state = model.state_dict(), old_model.state_dict()
    assert list(new_state) == list(old_state)
    assert all(torch.equal(new_state[k], old_state[k]) for k in new_state)
    with torch.no_grad():
        assert torch.equal(old_model.encode_decode(image, [dict(img_shape=(64, 96))]), logits)
