# Reproduces: Midway Table 3 and Table 5 (ablations, BDD 100-epoch ViT-S exports): MPI-Sintel clean EPE after
# finetuning on FlyingChairs + FlyingThings3D (CroCo v2's "smaller training data" setting, docs/paper.md §3.2).
# Use one export per ablation row (`midway export` of each pretraining run); "Base model" exports without
# dynamics get randomly initialised dynamics networks automatically.
# Where the paper is silent: the schedule. CroCo-Flow's optimiser is kept (AdamW 2e-5, (0.9, 0.95), wd 0.05,
# batch 8, 1 warm-up epoch, cosine) and shortened to 100k iterations; validation every 10k iterations.
_base_ = [
    "./_base_/models/midwayflow_vit-s16.py",
    "./_base_/datasets/flyingchairs-flyingthings3d_sintel-val_320x384.py",
    "./_base_/schedules/croco-flow_adamw-2e-5_900k.py",
    "mmflow::_base_/default_runtime.py",
]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
max_iters = 100000
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=3750),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=3750, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=10000)
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=10000, by_epoch=False, max_keep_ckpts=3))
