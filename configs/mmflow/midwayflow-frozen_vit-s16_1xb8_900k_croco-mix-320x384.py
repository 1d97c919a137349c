# Reproduces: Midway Table 7 (App. A.4), optical-flow frozen readout: encoder and dynamics frozen (eval mode, no
# gradients), only the DPT head is trained, "on the same flow data" as the finetuning protocol.
# Where the paper is silent: the schedule and learning rate are those of the finetuning protocol; the "Midway
# (enc. only)" row of Table 7 = this config with `--cfg-options model.init_dynamics=random` (frozen random
# dynamics, as the paper's wording implies).
_base_ = ["./midwayflow_vit-s16_1xb8_900k_croco-mix-320x384.py"]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
model = dict(frozen=True)
