# Not a paper table: optical-flow finetuning of a small Midway model on the generated benchmark
# (`midway make-video`), the paper's protocol (App. B.4) at small scale: Midway encoder + PRETRAINED latent
# dynamics (midway path, forward predictor) + DPT head, everything trained, CroCo-Flow's bounded Laplacian loss;
# EPE (MMFlow's EndPointError) over the held-out val videos. Used by `make demo` and `midway bench quality`. The
# frozen readout (App. A.4) is midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64.py.
#
# Run (after `midway make-video --out DATA ...` and `midway export CKPT EXPORT`):
#   mim train mmflow configs/mmflow/midwayflow_tiny_1xb8-2k_synthetic-64x64.py --work-dir WORK \
#     --cfg-options model.export=EXPORT \
#       train_dataloader.dataset.data_root=DATA val_dataloader.dataset.data_root=DATA \
#       test_dataloader.dataset.data_root=DATA
#   mim test mmflow <same config> --checkpoint WORK/iter_2000.pth --cfg-options <same keys>
#
# --cfg-options keys:
#   weights         model.export=EXPORT   (a `midway export` safetensors file; its config decides the
#                   architecture. At `mim test` the checkpoint supplies every weight; if EXPORT is gone the model
#                   is built from model.arch='tiny', so keep the export or set model.arch for another model)
#   data            train_dataloader.dataset.data_root=DATA val_dataloader.dataset.data_root=DATA
#                   test_dataloader.dataset.data_root=DATA   (pair subsampling: *.dataset.frame_stride=S)
#   iterations      train_cfg.max_iters=N param_scheduler.1.end=N train_cfg.val_interval=V
#                   default_hooks.checkpoint.interval=V   (the last iteration is always checkpointed)
#   learning rate   optim_wrapper.optimizer.lr=LR
#   dynamics        model.init_dynamics=random   (encoder weights only: Table 1 "Midway (enc. only)")
# A model WITHOUT latent dynamics (the DINO-only base, `latent_dynamics: false`) needs no change: MidwayFlow
# builds the same architecture (the export's encoder + midway path + forward predictor + DPT head) with randomly
# initialised dynamics, as the paper does for its baselines, and logs it.
#
# Choices (small scale; CroCo's AdamW 2e-5 over 900k iterations would barely move in 2k): AdamW lr 2e-4,
# betas (0.9, 0.95), wd 0.05 (none on biases, norms, position embeddings, CLS and motion tokens), a 100-iteration
# warm-up times a cosine decay to 0 over the whole run; batch 8 pairs; DPT width 64 with reassemble channels
# (32, 64, 128, 128) (DPT's 256 / (96, 192, 384, 768) is sized for ViT-S/B); whole-image inference; validation
# every 500 iterations.
_base_ = [
    "./_base_/models/midwayflow_vit-s16.py",
    "./_base_/datasets/midway-synthetic-64x64.py",
    "mmflow::_base_/default_runtime.py",
]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
midway_export = "demo_output/midway_demo.safetensors"  # written by `make demo` (`midway export`)

model = dict(
    export=midway_export,
    arch="tiny",
    head=dict(features=64, reassemble_channels=(32, 64, 128, 128), readout="project"),
    test_cfg=dict(_delete_=True, mode="whole"),
)

max_iters = 2000
warmup_iters = 100
val_interval = 500
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=2e-4, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            "pos_embed": dict(decay_mult=0.0),
            "cls_token": dict(decay_mult=0.0),
            "motion_tokens": dict(decay_mult=0.0),
        },
    ),
)
# The warm-up and the decay overlap (mmengine chains them: lr = base x warm-up x decay), so a run shorter
# than the warm-up only needs the decay's end changed.
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=max_iters, by_epoch=False, max_keep_ckpts=1),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="FlowVisualizationHook"),
)
