# Not a paper table: the frozen-backbone flow readout (paper App. A.4, Table 7) on the generated benchmark: the
# small Midway model's encoder and latent dynamics are frozen (eval mode, no gradients); only the DPT head is
# trained. EPE over the held-out val videos. Everything else, and every --cfg-options key, as in
# midwayflow_tiny_1xb8-2k_synthetic-64x64.py (model.export=EXPORT, *_dataloader.dataset.data_root=DATA,
# train_cfg.max_iters=N param_scheduler.1.end=N train_cfg.val_interval=V default_hooks.checkpoint.interval=V,
# optim_wrapper.optimizer.lr=LR).
# A model without latent dynamics (the DINO-only base) gets frozen RANDOM dynamics here (the paper's "enc. only"
# reading of Table 7): the head then reads the encoder's level-L tokens plus randomly projected ones.
# Choice: the head alone learns with lr 1e-3 (the finetuning config's 2e-4 is for the whole network).
_base_ = ["./midwayflow_tiny_1xb8-2k_synthetic-64x64.py"]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
model = dict(frozen=True)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
