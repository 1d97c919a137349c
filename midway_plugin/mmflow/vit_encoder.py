"""MidwayViTEncoder: the Midway encoder as a plain MMFlow encoder (e.g. for RAFT's decoder).

MMFlow's RAFT expects encoders mapping ``(B, 3, H, W)`` images to ``(B, C, H/8, W/8)`` maps (its decoder
upsamples by ``2 ** (num_levels - 1)`` = 8, see docs/install.md "MMFlow 1.0.0rc0 quirks"), with ``in_channels`` and
``out_channels`` attributes. A patch-16 ViT gives stride-16 tokens, so the chosen levels' patch tokens are
projected with a 1x1 convolution and bilinearly upsampled by ``patch / out_stride`` (x2): the two commute, so
the projection runs at the coarse resolution. Images are edge-padded at the bottom/right to the patch multiple
(RAFT's test pipeline pads to 8 only) and the map is cropped back, keeping the stride-8 grid aligned with
the image origin.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmflow.registry import MODELS
from torch import Tensor, nn

from midway_plugin.models import FrozenParts, blocks_to_indices, build_network, export_argument


@MODELS.register_module()
class MidwayViTEncoder(FrozenParts, BaseModule):
    """Midway ViT features at MMFlow's stride 8.

    Args:
        export: ``midway export`` file (only the encoder is used), or ``None`` with ``arch``.
        arch: Architecture used when there is no export file (see ``MidwayFlow``); with a missing file, training
            is refused in :meth:`init_weights`.
        config_overrides: ``MidwayConfig`` fields changed on the export's (or ``arch``'s) config.
        in_channels: Image channels (3); RAFT reads this attribute to split the image pair.
        out_channels: Output channels (RAFT: 256 for both the feature and the context encoder).
        out_blocks: Which feature levels to concatenate, by encoder block as the paper numbers them (1-based, one of
            ``feature_levels``, e.g. ``(12,)``); default the top level.
        out_stride: Output stride (RAFT's decoder: 8). Must divide the patch size.
        frozen: Keep the ViT frozen (eval mode, no gradients); only the projection trains.
        init_cfg: ``dict(type='Pretrained', checkpoint=<export path>)`` means ``export``; any other init config
            is refused by name.
    """

    def __init__(
        self,
        export: str | None = None,
        arch: str | Mapping[str, Any] | None = None,
        config_overrides: Mapping[str, Any] | None = None,
        in_channels: int = 3,
        out_channels: int = 256,
        out_blocks: int | Sequence[int] | None = None,
        out_stride: int = 8,
        frozen: bool = False,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        export = export_argument(export, init_cfg, "MidwayViTEncoder: ")
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"MidwayViTEncoder: in_channels must be 3 (RGB), got {in_channels}")
        built = build_network(
            export,
            arch=arch,
            overrides=config_overrides,
            parts=("encoder",),
            dynamics=False,
            frozen=frozen is True,
            missing_ok=True,
            where="MidwayViTEncoder (export): ",
        )
        self._missing_export = built.missing_export
        if built.missing_export is not None:
            print_log(
                f"MidwayViTEncoder: export {built.missing_export!r} not found; built the arch without "
                "pretrained weights (fine for `mim test` with a checkpoint)",
                logger="current",
                level=logging.WARNING,
            )
        self.encoder = built.network.encoder
        cfg = built.network.cfg
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.patch_size: int = self.encoder.patch_size
        if out_stride <= 0 or self.patch_size % out_stride:
            raise ValueError(f"MidwayViTEncoder: out_stride={out_stride} must divide the patch size {self.patch_size}")
        self.out_stride = out_stride
        #: positions of ``out_blocks`` in ``feature_levels`` (the core's level indices)
        self.levels = list(
            blocks_to_indices(
                cfg.feature_levels[-1] if out_blocks is None else out_blocks,
                cfg.feature_levels,
                where="MidwayViTEncoder: out_blocks",
            )
        )
        self.out_blocks = tuple(cfg.feature_levels[i] for i in self.levels)
        self.project = nn.Conv2d(len(self.levels) * self.encoder.embed_dim, out_channels, kernel_size=1)
        self.freeze_parts(frozen, "encoder")

    def init_weights(self) -> None:
        """Keeps the exported ViT weights (timm's own ``init_weights`` would reset them).

        Raises:
            FileNotFoundError: built from ``arch`` because the export is missing (nothing to finetune).
        """
        if self._missing_export is not None:
            raise FileNotFoundError(
                f"MidwayViTEncoder: the export {self._missing_export!r} does not exist, so "
                "there are no pretrained weights to train from; write it with `midway export`"
            )
        self._is_init = True

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, out_channels, ceil(H / out_stride), ceil(W / out_stride))``."""
        h, w = x.shape[-2:]
        p = self.patch_size
        ph, pw = (-h) % p, (-w) % p
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        gh, gw = self.encoder.grid_size(x)
        with self.grad_enabled():
            levels = self.encoder(x)
        maps = [levels[i][:, self.encoder.num_prefix_tokens :] for i in self.levels]
        feat = torch.cat(maps, dim=-1).transpose(1, 2).reshape(x.shape[0], -1, gh, gw)
        feat = self.project(feat)
        factor = p // self.out_stride
        if factor > 1:
            feat = F.interpolate(feat, scale_factor=factor, mode="bilinear", align_corners=False)
        return feat[..., : math.ceil(h / self.out_stride), : math.ceil(w / self.out_stride)]
