# Not a paper table: midwayflow_tiny_1xb8-2k_synthetic-64x64.py (encoder + pretrained dynamics + DPT head, all
# trained, on `midway make-video` data) with the plain L1 flow loss instead of the paper's bounded Laplacian.
# Why: on small generated data the bounded Laplacian settles within ~25 iterations at zero flow with the largest
# scale b (training loss = mean|g|_1 / b + log b) and no head beat the zero-flow guess; see docs/mmflow.md "Does
# the readout learn? The positive control". MMFlow's own SequenceLoss with one prediction is the L1 loss
# mean |g - f| (midway_plugin/mmflow/flow_losses.py). The confidence channel is not trained: whole-image
# inference only (the base config's test_cfg). Every --cfg-options key as in the base config.
_base_ = ["./midwayflow_tiny_1xb8-2k_synthetic-64x64.py"]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
model = dict(flow_loss=dict(_delete_=True, type="SequenceLoss", gamma=0.8, max_flow=400.0))
