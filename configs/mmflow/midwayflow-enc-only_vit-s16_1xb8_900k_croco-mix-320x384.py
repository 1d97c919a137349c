# Reproduces: Midway Table 1, "Midway (enc. only)" row: the pretrained Midway encoder with randomly initialised
# midway path and forward predictor (docs/paper.md §3.2), same CroCo-Flow protocol as the main config. The same
# config with a baseline's encoder converted by `midway import-official` gives the baselines' protocol (their
# dynamics networks are randomly initialised too).
_base_ = ["./midwayflow_vit-s16_1xb8_900k_croco-mix-320x384.py"]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
model = dict(init_dynamics="random")
