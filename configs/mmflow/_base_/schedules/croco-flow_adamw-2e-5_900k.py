# CroCo-Flow's optimisation (naver/croco stereoflow/README.MD, docs/paper.md §3.2): AdamW lr 2e-5, betas (0.9, 0.95),
# weight decay 0.05, batch 8, 240 epochs of 30,000 pairs = 900,000 iterations, 1 warm-up epoch (3,750 iterations)
# then a half-cycle cosine. Choices: no weight decay on biases, norms, position embeddings, CLS and motion tokens
# (CroCo/MAE param groups); cosine down to 0.
max_iters = 900000
warmup_iters = 3750
val_interval = 37500

optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=2e-5, betas=(0.9, 0.95), weight_decay=0.05),
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
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type="MultiValLoop")
test_cfg = dict(type="MultiTestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=val_interval, by_epoch=False, max_keep_ckpts=3),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="FlowVisualizationHook"),
)
