# Midway ViT-B/16, frozen linear readout on Cityscapes (paper Table 1, ViT-B "CS Lin": 51.1 mIoU / 92.1 Acc).
# Same protocol and choices as the ViT-S config it inherits (see its header): frozen backward feature v^3,
# BN + 1x1 conv head, AdamW 3e-5 / wd 0.05, 512x512, slide inference, 60k iterations, batch 16 on 1 GPU.
# Weights: `checkpoint` below (a `midway export` file of the ViT-B model); or
#   --cfg-options model.backbone.export=/path/to/export.safetensors
_base_ = ["./linear_midway-vit-s16_1xb16-60k_cityscapes-512x512.py"]
checkpoint = "work_dirs/midway_export_vit-b16.safetensors"  # written by `midway export`

model = dict(backbone=dict(arch="vit-b16", export=checkpoint), decode_head=dict(in_channels=768, channels=768))
