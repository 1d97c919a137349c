# Midway ViT-S/16, frozen linear readout on BDD100K (paper Table 1, "BDD Lin": 39.7 mIoU / 90.3 Acc after 300
# epochs of BDD pretraining).
#
# Protocol (docs/paper.md §3.1): PooDLe's ViT version of the FlowE readout: frozen backbone, AdamW lr 3e-5,
# wd 0.05, 512x512 crops, sliding-window inference (512x512 windows, stride 341), 60k iterations, batch 16 on
# 1 GPU (Midway's eval config is named linear_vit-s16_1xb16-60k_bdd100k-512x512.py).
#
# Choices where the paper is silent (docs/paper.md §7):
#   * Features: the backward-layer features (paper: "for linear readout we use the backward-layer features"),
#     level v^3 (out_blocks=(3,)): the bottom of the top-down pathway, which has integrated all higher levels
#     (v^12 -> v^9 -> v^6 -> v^3), as PooDLe's linear readout reads the bottom of its top-down decoder.
#   * Head: per-channel BatchNorm + 1x1 conv (BNLinearHead), i.e. still linear at inference; BN conditions the
#     backward features, which carry no final LayerNorm. No dropout.
#   * Head learning rate: the protocol's 3e-5 (the backbone is frozen, so it is the only LR), with a 1500-iteration
#     linear warm-up and linear decay to 0 (mmseg's ViT schedule).
#
# Weights: `checkpoint` below, a file written by `midway export` (or `midway import-official`); override with
#   --cfg-options model.backbone.export=/path/to/export.safetensors
# The export's config decides the architecture; arch='vit-s16' only applies when no export is given.
_base_ = [
    "./_base_/models/linear_midway-vit-s16.py",
    "./_base_/datasets/bdd100k-512x512.py",
    "mmseg::_base_/default_runtime.py",
    "./_base_/schedules/adamw-3e-5_60k.py",
]
custom_imports = dict(imports=["midway_plugin.mmseg"], allow_failed_imports=False)
checkpoint = "work_dirs/midway_export.safetensors"  # written by `midway export`

model = dict(backbone=dict(export=checkpoint))
