# Reproduces: Midway Table 1 (BDD100K ViT-S, "Midway" row: FlyingThings / Sintel EPE clean/final) and, with a
# WT-Venice export, Table 2 / Table 4 flow columns. For ViT-B, use a ViT-B export (the DPT widths are unchanged).
# Protocol: CroCo-Flow finetuning (paper App. B.4, docs/paper.md §3.2) with the Midway encoder + pretrained dynamics
# + DPT head: TartanAir + Sintel (clean+final) + FlyingThings3D + FlyingChairs, crop 320x384, AdamW 2e-5
# (0.9, 0.95) wd 0.05, batch 8, 900k iterations; EPE on FlyingThings3D test and Sintel subval, tiled inference.
# Where the paper is silent (it does not say whether Midway changed CroCo's epochs or crop): CroCo's values kept;
# see the _base_ files for the remaining choices.
_base_ = [
    "./_base_/models/midwayflow_vit-s16.py",
    "./_base_/datasets/croco-flow-mix_320x384.py",
    "./_base_/schedules/croco-flow_adamw-2e-5_900k.py",
    "mmflow::_base_/default_runtime.py",
]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
