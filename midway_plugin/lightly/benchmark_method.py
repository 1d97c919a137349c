"""A ``METHODS`` entry so Midway drops into Lightly's benchmark ``main.py`` unchanged.

Lightly's ImageNet benchmarks (``benchmarks/imagenet/vitb16/main.py``) look methods up in a plain dict and call
``METHODS[name]["model"](batch_size_per_device=..., num_classes=...)`` and apply ``METHODS[name]["transform"]`` to
every image of a ``LightlyDataset`` (collated by ``MultiViewCollate``); kNN / linear / finetune evaluations then
read ``model.forward(images)`` and ``model.online_classifier.feature_dim``. To add Midway there::

    from midway_plugin.lightly.benchmark_method import METHODS as MIDWAY_METHODS
    METHODS.update(MIDWAY_METHODS)      # then: python main.py --methods midway ...

An image dataset has no second frame: :class:`MidwayImageTransform` then uses the image as both frames (a static
pair, so the dynamics objective sees zero motion but different crops and augmentations). A video-frame dataset
whose items are ``(frame_t, frame_t_plus_dt)`` pairs gets real pairs. For pretraining on video use
``midway pretrain`` (:mod:`midway_plugin.lightly.pretrain`), which samples frame pairs with decord.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from midway_plugin.data.views.midway_transform import MidwayTransform
from midway_plugin.lightly.midway import Midway


class MidwayImageTransform:
    """The paired :class:`~midway_plugin.data.views.MidwayTransform` as a Lightly single-image transform.

    Called with one image (static pair) or with a ``(frame_t, frame_t_plus_dt)`` tuple; returns the flat view
    list of :data:`~midway_plugin.data.views.batch_views.VIEW_ORDER`: ``[motion_x, motion_y, g1_x, g2_x, g1_y, g2_y,
    locals of x..., locals of y...]``, which :class:`~midway_plugin.lightly.Midway` unpacks.

    Args:
        transform: The paired transform; None = the paper's settings (224 px crops, 8 locals of 96 px).
    """

    def __init__(self, transform: MidwayTransform | None = None) -> None:
        self.transform = transform or MidwayTransform()
        if self.transform.motion is None or self.transform.dino is None:
            raise ValueError("MidwayImageTransform needs a MidwayTransform with both motion and DINO crops")

    def __call__(self, image: Any) -> list[Tensor]:
        if isinstance(image, (tuple, list)) and len(image) == 2:
            frame_t, frame_tdt = image
        else:
            frame_t = frame_tdt = image
        views = self.transform(frame_t, frame_tdt)
        return [*views["motion"], *views["dino_global"], *views["dino_local"]]


#: Drop-in entry for Lightly's benchmark ``main.py`` (see the module docstring).
transform = MidwayImageTransform()

METHODS: dict[str, dict[str, Any]] = {"midway": {"model": Midway, "transform": transform}}
