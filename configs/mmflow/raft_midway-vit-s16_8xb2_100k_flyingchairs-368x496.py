# Not a paper table: MMFlow's RAFT decoder on Midway encoder features (the paper evaluates flow only with the DPT
# protocol). Starts from MMFlow's RAFT FlyingChairs config and replaces both RAFT encoders (feature and context)
# by MidwayViTEncoder: the block-12 tokens (stride 16) are projected to 256 channels and upsampled x2 to RAFT's
# stride 8. Choices: the two encoders start from the same export and are trained (not shared); ImageNet
# normalisation instead of RAFT's [-1, 1]; everything else (decoder, loss, schedule, data, 8 GPUs x batch 2) is
# upstream RAFT's.
_base_ = ["mmflow::raft/raft_8xb2_100k_flyingchairs-368x496.py"]
custom_imports = dict(imports=["midway_plugin.mmflow"], allow_failed_imports=False)
midway_export = "checkpoints/midway_bdd100k_vit-s16.safetensors"
model = dict(
    data_preprocessor=dict(
        type="FlowDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True
    ),
    encoder=dict(
        _delete_=True, type="MidwayViTEncoder", export=midway_export, arch="vit-s16", out_channels=256, out_stride=8
    ),
    cxt_encoder=dict(
        _delete_=True, type="MidwayViTEncoder", export=midway_export, arch="vit-s16", out_channels=256, out_stride=8
    ),
)
