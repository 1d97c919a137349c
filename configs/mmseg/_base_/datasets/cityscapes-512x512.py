# Cityscapes (fine annotations, 19 classes) with 512x512 training crops, as the BDD100K readouts (docs/paper.md
# §3.1: the Cityscapes crop and schedule are NOT FOUND in the paper; the BDD protocol is reused). Everything else
# is mmseg's upstream pipeline; evaluation uses sliding-window inference (model.test_cfg).
_base_ = ["mmseg::_base_/datasets/cityscapes.py"]
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
