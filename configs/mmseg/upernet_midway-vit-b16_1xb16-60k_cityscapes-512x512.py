# Midway ViT-B/16, frozen UperNet readout on Cityscapes (paper Table 1, ViT-B "CS UperNet": 62.2 mIoU / 94.0 Acc).
# Same protocol and choices as the ViT-S config it inherits (see its header), widths 768.
# Weights: `checkpoint` below (a `midway export` file of the ViT-B model); or
#   --cfg-options model.backbone.export=/path/to/export.safetensors
_base_ = ["./upernet_midway-vit-s16_1xb16-60k_cityscapes-512x512.py"]
checkpoint = "work_dirs/midway_export_vit-b16.safetensors"  # written by `midway export`

model = dict(
    backbone=dict(arch="vit-b16", export=checkpoint),
    neck=dict(in_channels=[768, 768, 768, 768], out_channels=768),
    decode_head=dict(in_channels=[768, 768, 768, 768]),
    auxiliary_head=dict(in_channels=768),
)
