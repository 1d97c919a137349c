# The generated benchmark (`midway make-video`): frames and class masks (background, disc, square, triangle) of
# the train / val videos (split by video, recorded in dataset.json), read unchanged by MidwaySyntheticDataset.
# No resize or crop: the frames are small (64x64 in the demo); random horizontal flips only.
dataset_type = "MidwaySyntheticDataset"
data_root = "demo_output/video"  # written by `midway make-video --out demo_output/video` (`make demo`)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,  # tiny PNGs: worker processes cost more than they save on a 2-core CPU
    persistent_workers=False,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split="train", frame_stride=1, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split="val", frame_stride=1, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
