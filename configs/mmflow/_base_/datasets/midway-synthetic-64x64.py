# The generated benchmark (`midway make-video`): consecutive frame pairs (t, t + 1) of the train / val videos
# (split by video, recorded in dataset.json) with their exact forward flow (.flo), read unchanged by
# MidwaySyntheticFlow. Whole 64x64 frames (no crop); random flips (MMFlow flips the flow with the images).
# EPE (MMFlow's EndPointError) over every pixel of the val pairs, occluded ones included.
# Generate many short videos rather than a few long ones: each video has its own camera pan, and with few training
# videos the head learns their pans instead of motion (6 training videos of 48 frames: held-out EPE 16-20 % above
# the zero-flow guess after 200-300 iterations; 24 videos of 12 frames: 2-4 %). `make demo` uses 24 x 16 frames.
dataset_type = "MidwaySyntheticFlow"
data_root = "demo_output/video"  # written by `midway make-video --out demo_output/video` (`make demo`)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomFlip", prob=0.5, direction="horizontal"),
    dict(type="RandomFlip", prob=0.1, direction="vertical"),
    dict(type="PackFlowInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="InputPad", exponent=3),
    dict(type="PackFlowInputs"),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,  # tiny PNGs: worker processes cost more than they save on a 2-core CPU
    persistent_workers=False,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    drop_last=True,
    dataset=dict(type=dataset_type, data_root=data_root, split="train", frame_stride=1, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split="val", frame_stride=1, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="EndPointError")
test_evaluator = val_evaluator
