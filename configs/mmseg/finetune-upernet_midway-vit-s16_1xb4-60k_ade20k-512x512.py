# Midway ViT-S/16, UperNet *finetuning* (backbone trained) on ADE20K (paper Table 2 after WT-Venice pretraining:
# 33.4 mIoU / 76.9 Acc at 100 epochs, 36.9 / 78.2 at 300 epochs, Table 4).
#
# Protocol (docs/paper.md §3.1): UperNet finetuning following DoRA / PooDLe / iBOT; Midway's eval config is named
# finetune-upernet_vit-s16_1xb4-60k_ade20k-flowe-512x512.py: batch 4 on 1 GPU, 60k iterations, 512x512 crops.
# mmseg's ADE20K base already uses 512x512 crops and batch 4; inference is sliding-window (512x512, stride 341).
#
# Choices where the paper is silent (docs/paper.md §7):
#   * Features: encoder levels z^3, z^6, z^9, z^12 (= mmseg's ViT-UperNet blocks (2, 5, 8, 11)), not the
#     backward features (those are only named for the linear readout); the backward layers are not loaded.
#   * Optimiser: AdamW lr 3e-5, wd 0.05 for backbone and head alike (PooDLe's ViT settings; also mmseg's
#     ViT-UperNet recipe, lr 6e-5 at batch 16, scaled to batch 4 by the square-root rule), no weight decay on
#     position embedding, CLS token and norms (mmseg's ViT recipe). No layer-wise LR decay: mmseg's
#     LayerDecayOptimizerConstructor only recognises its own ViT/BEiT/MAE parameter names.
#   * Schedule: 1500-iteration linear warm-up, then linear decay to 0 (mmseg's ViT recipe); drop path 0.1
#     (as in pretraining, paper Table 8, and mmseg's DeiT-S UperNet).
#   * Head: mmseg's ViT UperNet as released (MultiLevelNeck + UPerHead 512 channels + auxiliary FCNHead, 0.4).
#
# Weights: `checkpoint` below, a file written by `midway export`; override with
#   --cfg-options model.backbone.export=/path/to/export.safetensors
_base_ = [
    "./_base_/models/upernet_midway-vit-s16.py",
    "mmseg::_base_/datasets/ade20k.py",
    "mmseg::_base_/default_runtime.py",
    "./_base_/schedules/adamw-3e-5_60k.py",
]
custom_imports = dict(imports=["midway_plugin.mmseg"], allow_failed_imports=False)
checkpoint = "work_dirs/midway_export.safetensors"  # written by `midway export`

model = dict(
    backbone=dict(frozen=False, drop_path_rate=0.1, export=checkpoint),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={"pos_embed": dict(decay_mult=0.0), "cls_token": dict(decay_mult=0.0), "norm": dict(decay_mult=0.0)}
    )
)
train_dataloader = dict(batch_size=4)
