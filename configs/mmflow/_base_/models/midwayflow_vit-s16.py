# MidwayFlow (docs/paper.md §3.2): Midway encoder + midway path + forward predictor + DPT head, CroCo-Flow's
# bounded Laplacian loss and confidence-weighted tiled inference.
# Where the paper is silent: ImageNet normalisation (the pretraining's DINO transforms), DPT width 256 with
# reassemble channels (96, 192, 384, 768) and 'project' readout (DPT's ViT defaults), validation tiles of the
# training crop with overlap 0.7 (CroCo validates with 0.7 and tests with 0.9: add
# `--cfg-options model.test_cfg.overlap=0.9` to `mim test` for final numbers); the encoder keeps the export's
# stochastic depth (0.1 for the released configs) during finetuning.
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)

# `midway export CHECKPOINT OUT` (or `midway import-official`) writes this file; override with
# `--cfg-options model.export=PATH`.
midway_export = "checkpoints/midway_bdd100k_vit-s16.safetensors"

model = dict(
    type="MidwayFlow",
    export=midway_export,
    arch="vit-s16",  # only used by `mim test` when the export file is absent
    init_dynamics="pretrained",
    frozen=False,
    # 320x384 crops: the 14x14 position embeddings are interpolated on the fly as DINO's ViT class (the only one in
    # the official code) does it, bicubic with its +0.1 scale factor [inferred: flow code unreleased]; 'timm' =
    # timm's size-based resampling (docs/official-code.md).
    config_overrides=dict(pos_embed_interp="dino"),
    data_preprocessor=dict(
        type="FlowDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True
    ),
    head=dict(features=256, reassemble_channels=(96, 192, 384, 768), readout="project"),
    flow_loss=dict(type="LaplacianLossBounded", a=0.25, b=4.0, max_gtnorm=1e4),
    train_cfg=dict(),
    test_cfg=dict(mode="tile", crop_size=(320, 384), overlap=0.7, conf_beta=10.0, conf_beta_sigmoid=5.0),
)
