# PooDLe's ViT readout optimisation (docs/paper.md §3.1, §6): AdamW, lr 3e-5, weight decay 0.05, 60k iterations
# (Midway's eval config name: ..._1xb16-60k_...). The LR schedule is not given: we use mmseg's ViT recipe, a
# 1500-iteration linear warm-up then linear (power 1) decay to 0. mmseg's default PolyLR (eta_min 1e-4) would sit
# above 3e-5, so the upstream schedule is replaced, not inherited.
_base_ = ["mmseg::_base_/schedules/schedule_80k.py"]
max_iters = 60000
optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=3e-5, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=None,
)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type="PolyLR", eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=6000)
default_hooks = dict(
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=6000, max_keep_ckpts=2, save_best="mIoU")
)
