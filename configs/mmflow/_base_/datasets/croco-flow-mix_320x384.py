# CroCo-Flow's main training mix (naver/croco stereoflow/README.MD; Midway Table 1/2, docs/paper.md §3.2):
#   40x Sintel subtrain clean + 40x Sintel subtrain final + 4x FlyingThings3D train (clean+final, both directions,
#   left camera) + 4x FlyingChairs train + 1x TartanAir, random 320x384 crops, batch 8.
# Evaluation (the paper's "FlyingThings and MPI-Sintel validation splits"): FlyingThings3D TEST clean/final and
# Sintel subval (scenes temple_2, temple_3; CroCo's split) clean/final, EPE (see the loaders at the bottom).
# Choices where the paper/CroCo are silent here: augmentation follows MMFlow's RAFT pipelines (colour jitter with
# asymmetric p 0.2, erasing, random scaling/stretching, flips h 0.5 / v 0.1) with RAFT's per-dataset scale ranges,
# TartanAir with Sintel's; flows with a component >= 1e4 px are masked (CroCo's max_gtnorm); TartanAir trains on
# every pixel as CroCo does (use_mask=False).
crop_size = (320, 384)
data_root_chairs = "data/FlyingChairs_release"
data_root_things = "data/flyingthings3d"
data_root_sintel = "data/Sintel"
data_root_tartanair = "data/TartanAir"


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

sintel_train = [
    dict(
        type="RepeatDataset",
        times=40,
        dataset=dict(
            type="SintelSplit",
            split="subtrain",
            pass_style=p,
            data_root=data_root_sintel,
            pipeline=_train_pipeline(-0.2, 0.6),
        ),
    )
    for p in ("clean", "final")
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
tartanair_train = dict(
    type="TartanAir",
    data_root=data_root_tartanair,
    use_mask=False,
    pipeline=_train_pipeline(-0.2, 0.6, loader="LoadFlowAnnotations"),
)

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    drop_last=True,
    dataset=dict(type="ConcatDataset", datasets=[*sintel_train, *things_train, chairs_train, tartanair_train]),
)


def _val_loader(dataset):
    return dict(
        batch_size=1,
        num_workers=2,
        persistent_workers=True,
        drop_last=False,
        sampler=dict(type="DefaultSampler", shuffle=False),
        dataset=dataset,
    )


# Validation during training: Sintel subval clean/final (what CroCo validates on); `mim test`: FlyingThings3D test
# clean/final as well (tiled inference over 1k+ full-resolution frames is too slow to repeat during training).
sintel_val = [
    _val_loader(
        dict(type="SintelSplit", split="subval", pass_style=p, data_root=data_root_sintel, pipeline=test_pipeline)
    )
    for p in ("clean", "final")
]
things_test = [
    _val_loader(
        dict(
            type="FlyingThings3D",
            data_root=data_root_things,
            pass_style=p,
            scene="left",
            double=True,
            test_mode=True,
            pipeline=test_pipeline,
        )
    )
    for p in ("clean", "final")
]
val_dataloader = sintel_val
val_evaluator = [dict(type="EndPointError", prefix="sintel_clean"), dict(type="EndPointError", prefix="sintel_final")]
test_dataloader = [*things_test, *sintel_val]
test_evaluator = [
    dict(type="EndPointError", prefix="things_clean"),
    dict(type="EndPointError", prefix="things_final"),
    dict(type="EndPointError", prefix="sintel_clean"),
    dict(type="EndPointError", prefix="sintel_final"),
]
