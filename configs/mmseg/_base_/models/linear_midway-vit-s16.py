# Linear readout on a frozen Midway ViT-S/16: BatchNorm + 1x1 conv on the backward-layer features v^3.
# Choices where the paper is silent (docs/paper.md §3.1, §7) — see the top-level configs for the full rationale:
#   * level: v^3 (out_blocks=(3,), the lowest backward level): the end of the top-down pathway, which has
#     integrated every higher level through the backward layers, like PooDLe's spatial decoder output that its
#     linear readout reads.
#   * head: BNLinearHead (per-channel BN + 1x1 conv), linear at inference; the backward features carry no final
#     LayerNorm, so the BN conditions them (iBOT / DINOv2 linear readouts do the same). No dropout.
norm_cfg = dict(type="SyncBN", requires_grad=True)
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],  # ImageNet statistics, as in Midway pretraining (docs/paper.md §2.3)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512),
)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type="MidwayViT",
        arch="vit-s16",
        img_size=512,
        out_blocks=(3,),
        feature_source="backward",
        frozen=True,
        drop_path_rate=0.0,
        # 224-px position embeddings -> 512 px: 'timm' (bicubic by size) = MMSegmentation's own ViT resize, which
        # the authors' MMSegmentation evaluation used [inferred]; 'dino' = DINO's +0.1 scale factor
        # (docs/official-code.md).
        pos_embed_interp="timm",
        export=None,
    ),
    decode_head=dict(
        type="BNLinearHead",
        in_channels=384,
        channels=384,
        in_index=0,
        dropout_ratio=0.0,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="slide", crop_size=(512, 512), stride=(341, 341)),
)
