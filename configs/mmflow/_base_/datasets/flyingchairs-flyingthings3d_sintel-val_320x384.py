# The "smaller training data" flow setting of CroCo v2 (its Table 11) that Midway's ablations use (Tables 3 and 5,
# docs/paper.md §3.2): finetune on FlyingChairs + FlyingThings3D, report MPI-Sintel clean (and final) EPE.
# Choices where the papers are silent: the Chairs:Things ratio of CroCo's main mix (4x Chairs, 4x Things
# clean+final, both directions, left camera); crop 320x384 and batch 8 as CroCo-Flow; MMFlow's RAFT augmentation
# with RAFT's per-dataset scale ranges; flows >= 1e4 px masked (CroCo's max_gtnorm); evaluation on the whole Sintel
# training set (Sintel is unseen in this setting: the usual C+T -> Sintel protocol).
crop_size = (320, 384)
data_root_chairs = "data/FlyingChairs_release"
data_root_things = "data/flyingthings3d"
data_root_sintel = "data/Sintel"


def _train_pipeline(min_scale, max_scale, loader="LoadAnnotations"):
    return [
        dict(type="LoadImageFromFile"),
        dict(type=loader),
        dict(type="ColorJitter", asymmetric_prob=0.2, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.5 / 3.14),
        dict(type="Erase", prob=0.5, bounds=[50, 100], max_num=3),
        dict(
            type="SpacialTransform",
            spacial_prob=0.8,
            stretch_prob=0.8,
            crop_size=crop_size,
            min_scale=min_scale,
            max_scale=max_scale,
            max_stretch=0.2,
        ),
        dict(type="RandomCrop", crop_size=crop_size),
        dict(type="RandomFlip", prob=0.5, direction="horizontal"),
        dict(type="RandomFlip", prob=0.1, direction="vertical"),
        dict(type="Validation", max_flow=1e4),
        dict(type="PackFlowInputs"),
    ]


test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="InputPad", exponent=3),
    dict(type="PackFlowInputs"),
]

things_train = [
    dict(
        type="RepeatDataset",
        times=4,
        dataset=dict(
            type="FlyingThings3D",
            data_root=data_root_things,
            pass_style=p,
            scene="left",
            double=True,
            test_mode=False,
            pipeline=_train_pipeline(-0.4, 0.8),
        ),
    )
    for p in ("clean", "final")
]
chairs_train = dict(
    type="RepeatDataset",
    times=4,
    dataset=dict(
        type="FlyingChairs",
        data_root=data_root_chairs,
        split_file=data_root_chairs + "/FlyingChairs_train_val.txt",
        pipeline=_train_pipeline(-0.1, 1.0),
    ),
)
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    drop_last=True,
    dataset=dict(type="ConcatDataset", datasets=[*things_train, chairs_train]),
)

val_dataloader = [
    dict(
        batch_size=1,
        num_workers=2,
        persistent_workers=True,
        drop_last=False,
        sampler=dict(type="DefaultSampler", shuffle=False),
        dataset=dict(
            type="SintelSplit", split="train", pass_style=p, data_root=data_root_sintel, pipeline=test_pipeline
        ),
    )
    for p in ("clean", "final")
]
test_dataloader = val_dataloader
val_evaluator = [dict(type="EndPointError", prefix="sintel_clean"), dict(type="EndPointError", prefix="sintel_final")]
test_evaluator = val_evaluator
