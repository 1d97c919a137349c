# Midway ViT-S/16, frozen UperNet readout on Cityscapes (paper Table 1, "CS UperNet": 58.5 mIoU / 93.5 Acc).
# The Cityscapes crop and schedule are NOT FOUND in the paper: the BDD100K protocol below is reused unchanged
# (19 classes, 512x512 crops of the 2048x1024 images resized x0.5-2).
#
# Protocol (docs/paper.md §3.1): PooDLe's ViT version of the FlowE readout: frozen backbone, AdamW lr 3e-5,
# wd 0.05, 512x512 crops, sliding-window inference (512x512 windows, stride 341), 60k iterations, batch 16 on
# 1 GPU.
#
# Choices where the paper is silent (docs/paper.md §7):
#   * Features: the encoder levels z^3, z^6, z^9, z^12 (the four Midway feature levels, each through the ViT's
#     final LayerNorm as in pretraining), which are also mmseg's ViT-UperNet blocks (out_indices (2, 5, 8, 11));
#     not the backward features: PooDLe drops its top-down decoder for UperNet, and the paper only names the
#     backward features for the linear readout.
#   * Head: mmseg's ViT UperNet as released (MultiLevelNeck scales 4/2/1/0.5, UPerHead with 512 channels,
#     auxiliary FCNHead on the top level, loss weight 0.4), with the widths set to 384.
#   * Head learning rate: the protocol's 3e-5 for all head parameters (the backbone is frozen), 1500-iteration
#     linear warm-up, then linear decay to 0 (mmseg's ViT schedule).
#
# Weights: `checkpoint` below, a file written by `midway export`; override with
#   --cfg-options model.backbone.export=/path/to/export.safetensors
_base_ = [
    "./_base_/models/upernet_midway-vit-s16.py",
    "./_base_/datasets/cityscapes-512x512.py",
    "mmseg::_base_/default_runtime.py",
    "./_base_/schedules/adamw-3e-5_60k.py",
]
custom_imports = dict(imports=["midway_plugin.mmseg"], allow_failed_imports=False)
checkpoint = "work_dirs/midway_export.safetensors"  # written by `midway export`

model = dict(backbone=dict(export=checkpoint))
