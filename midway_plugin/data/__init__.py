"""Video data for Midway pretraining, in three sub-packages (docs/data.md)::

    midway_plugin.data.video       # reading video exactly: folder scan, readers, seek checks, frame pairs
    midway_plugin.data.views       # making the views: DINO and motion crops, on the CPU or the training device
    midway_plugin.data.synthetic   # synthetic video with exact ground truth (`midway make-video`), read back
    midway_plugin.data.motion_tokens  # how far content moves between the crops of a pair, in tokens (all three use it)

Nothing is imported here, so that `midway make-video` (numpy only) does not load torch.
The package uses torch, torchvision, PIL, numpy, decord and Lightly's *transforms* (plain torchvision transforms),
never Lightly's or Lightning's training framework.
"""
