"""Midway Network as a Lightly/Lightning pretraining method.

Public API::

    from midway_plugin.lightly import (
        Midway,                # midway.py: the LightningModule (Lightly benchmark idiom)
        DINOPairLoss,          # dino_pair_loss.py: the paired-frame DINO loss
        NonFiniteLossError,    # raised when a loss term becomes NaN/inf
        METHODS,               # benchmark.py: {"midway": {"model": Midway, "transform": ...}} for Lightly's main.py
        MidwayImageTransform,  # benchmark.py: the paired transform as Lightly's single-image transform
    )

Pretraining from video with a YAML config (``midway pretrain``): :mod:`~midway_plugin.lightly.pretrain_config` (the
config, read with OmegaConf), :mod:`~midway_plugin.lightly.builders` (the parts it describes) and
:mod:`~midway_plugin.lightly.pretrain` (the run).
"""

from __future__ import annotations

from midway_plugin.data.views.batch_views import MidwayViews, unpack_batch
from midway_plugin.lightly.benchmark_method import METHODS, MidwayImageTransform
from midway_plugin.lightly.dino_pair_loss import DINOPairLoss, dino_pair_mask
from midway_plugin.lightly.midway import Midway, NonFiniteLossError

__all__ = [
    "DINOPairLoss",
    "METHODS",
    "Midway",
    "MidwayImageTransform",
    "MidwayViews",
    "NonFiniteLossError",
    "dino_pair_mask",
    "unpack_batch",
]
