# BDD100K semantic segmentation (10k images, 19 Cityscapes classes) with 512x512 training crops: the PooDLe ViT
# protocol replaces FlowE's 512x1024 crops by square ones (docs/paper.md §3.1). Everything else is mmseg's
# upstream pipeline; evaluation runs on the full resized image with sliding-window inference (model.test_cfg).
_base_ = ["mmseg::_base_/datasets/bdd100k.py"]
crop_size = (512, 512)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomResize", scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
