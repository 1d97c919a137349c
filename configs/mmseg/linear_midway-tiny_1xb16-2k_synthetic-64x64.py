# Frozen linear readout (BatchNorm + 1x1 conv on the backward-layer features v^1, as the paper's linear readout,
# Table 1 / Table 3 "BDD linear") of a small Midway model on the generated benchmark (`midway make-video`):
# mIoU (mmseg's IoUMetric) over the held-out val videos. Used by `make demo` and `midway bench quality`.
# Not a paper protocol: the tiny model and the 64x64 video need their own schedule (see "Choices" below).
#
# Run (after `midway make-video --out DATA ...` and `midway export CKPT EXPORT`):
#   mim train mmseg configs/mmseg/linear_midway-tiny_1xb16-2k_synthetic-64x64.py --work-dir WORK \
#     --cfg-options model.backbone.export=EXPORT \
#       train_dataloader.dataset.data_root=DATA val_dataloader.dataset.data_root=DATA \
#       test_dataloader.dataset.data_root=DATA
#   mim test mmseg <same config> --checkpoint WORK/iter_2000.pth --cfg-options <same data_root keys>
#
# --cfg-options keys:
#   weights         model.backbone.export=EXPORT   (a `midway export` safetensors file; the export's config
#                   decides the architecture; arch='tiny' applies only when no export is given)
#   embed dim       model.decode_head.in_channels=D model.decode_head.channels=D   (48 for the tiny preset;
#                   set both to the export's width for another model)
#   data            train_dataloader.dataset.data_root=DATA val_dataloader.dataset.data_root=DATA
#                   test_dataloader.dataset.data_root=DATA   (frame subsampling: *.dataset.frame_stride=S)
#   input size      model.backbone.img_size=S   (position embeddings are resampled to S/patch; frames of
#                   another size also work, resampled on the fly)
#   iterations      train_cfg.max_iters=N param_scheduler.1.end=N train_cfg.val_interval=V
#                   default_hooks.checkpoint.interval=V   (the last iteration is always checkpointed)
#   learning rate   optim_wrapper.optimizer.lr=LR
#   features        model.backbone.feature_source=encoder|backward model.backbone.out_blocks=B   (encoder block
#                   numbers as the paper writes them: 1..4 for the tiny preset, 3/6/9/12 for ViT-S/B)
# A model WITHOUT latent dynamics (the DINO-only base, `latent_dynamics: false`) has no backward layers, so
# feature_source='backward' is refused; read its encoder instead: model.backbone.feature_source=encoder
# model.backbone.out_blocks=4 (the tiny preset's top level z^L, which equals v^L for Midway; use the same keys on every
# variant of a comparison to read the same level).
#
# Choices (small scale; the paper's 60k-iteration AdamW 3e-5 readout would not move in 2k iterations):
#   AdamW lr 1e-3, wd 0.05 on the head only (the backbone is frozen), a 100-iteration linear warm-up times a
#   linear decay to 0 over the whole run; batch 16 frames; whole-image inference; validation every 500 iterations.
_base_ = [
    "./_base_/models/linear_midway-vit-s16.py",
    "./_base_/datasets/midway-synthetic-64x64.py",
    "mmseg::_base_/default_runtime.py",
]
custom_imports = dict(imports=["midway_plugin.mmseg"], allow_failed_imports=False)
checkpoint = "demo_output/midway_demo.safetensors"  # written by `make demo` (`midway export`)

model = dict(
    data_preprocessor=dict(size=None, size_divisor=8),
    backbone=dict(arch="tiny", img_size=64, out_blocks=(1,), feature_source="backward", frozen=True, export=checkpoint),
    decode_head=dict(in_channels=48, channels=48, num_classes=4),
    test_cfg=dict(_delete_=True, mode="whole"),
)

max_iters = 2000
warmup_iters = 100
val_interval = 500
optim_wrapper = dict(
    type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05), clip_grad=None
)
# The warm-up and the decay overlap (mmengine chains them: lr = base x warm-up x decay), so a run shorter
# than the warm-up only needs the decay's end changed.
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="PolyLR", eta_min=0.0, power=1.0, begin=0, end=max_iters, by_epoch=False),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
