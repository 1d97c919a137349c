# Not a paper table: the frozen readout (midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64.py: encoder and latent
# dynamics frozen, only the DPT head trains, lr 1e-3) with the plain L1 flow loss (MMFlow's SequenceLoss with one
# prediction) instead of the bounded Laplacian; why: midwayflow-l1_tiny_1xb8-2k_synthetic-64x64.py and
# docs/mmflow.md "Does the readout learn? The positive control". Every --cfg-options key as in the base config.
_base_ = ["./midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64.py"]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
model = dict(flow_loss=dict(_delete_=True, type="SequenceLoss", gamma=0.8, max_flow=400.0))
