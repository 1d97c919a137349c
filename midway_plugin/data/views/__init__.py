"""Making Midway's views of a frame pair: the DINO crops, the motion crops, on the CPU or the device.

Imports torch, torchvision and Lightly's transforms.
"""

from __future__ import annotations

from midway_plugin.data.views.batch_views import VIEW_ORDER, MidwayViews, flatten_pairs, unpack_batch
from midway_plugin.data.views.device_augment import DeviceAugment, PairGeometryTransform, collate_decoded
from midway_plugin.data.views.dino_transform import MidwayDINOTransform
from midway_plugin.data.views.midway_transform import MidwayTransform
from midway_plugin.data.views.motion_transform import MidwayMotionTransform

__all__ = [
    "DeviceAugment",
    "MidwayDINOTransform",
    "MidwayMotionTransform",
    "MidwayTransform",
    "MidwayViews",
    "PairGeometryTransform",
    "VIEW_ORDER",
    "collate_decoded",
    "flatten_pairs",
    "unpack_batch",
]
