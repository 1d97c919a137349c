# UperNet readout on a Midway ViT-S/16: mmseg's ViT UperNet (MultiLevelNeck + UPerHead + auxiliary FCNHead)
# with the Midway encoder levels z^3, z^6, z^9, z^12 (blocks 3, 6, 9, 12 = mmseg's ViT out_indices (2, 5, 8, 11)),
# frozen by default. Encoder (not backward) features: PooDLe drops its top-down decoder for UperNet, and so does
# Midway (docs/paper.md §3.1).
_base_ = ["mmseg::_base_/models/upernet_vit-b16_ln_mln.py"]
data_preprocessor = dict(size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type="MidwayViT",
        arch="vit-s16",
        img_size=512,
        out_blocks=(3, 6, 9, 12),
        feature_source="encoder",
        frozen=True,
        drop_path_rate=0.0,
        # 224-px position embeddings -> 512 px: 'timm' (bicubic by size) = MMSegmentation's own ViT resize, which
        # the authors' MMSegmentation evaluation used [inferred]; 'dino' = DINO's +0.1 scale factor
        # (docs/official-code.md).
        pos_embed_interp="timm",
        export=None,
    ),
    neck=dict(in_channels=[384, 384, 384, 384], out_channels=384),
    decode_head=dict(in_channels=[384, 384, 384, 384], num_classes=19),
    auxiliary_head=dict(in_channels=384, num_classes=19),
    test_cfg=dict(mode="slide", crop_size=(512, 512), stride=(341, 341)),
)
