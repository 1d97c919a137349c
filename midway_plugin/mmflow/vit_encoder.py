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

import math
import warnings
from typing import Any, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmflow.registry import MODELS

from midway_plugin.models import blocks_to_indices, indices_to_blocks

from .weights import build_encoder, resolve_export


@MODELS.register_module()
class MidwayViTEncoder(BaseModule):
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
        levels: Deprecated: the levels as indices into ``feature_levels`` (negative from the top); given, it
            overrides ``out_blocks``.
        freeze: Deprecated name of ``frozen``; given, it overrides ``frozen``.
        midway_config: Deprecated: the architecture without an export (now ``arch``), else overrides (now
            ``config_overrides``).
    """

    def __init__(self, export: Optional[str] = None, arch: Union[str, Mapping[str, Any], None] = None,
                 config_overrides: Optional[Mapping[str, Any]] = None, in_channels: int = 3,
                 out_channels: int = 256, out_blocks: Optional[Sequence[int]] = None, out_stride: int = 8,
                 frozen: bool = False, levels: Optional[Sequence[int]] = None,
                 freeze: Optional[bool] = None, midway_config: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"MidwayViTEncoder: in_channels must be 3 (RGB), got {in_channels}")
        where = "MidwayViTEncoder (export)"
        export, arch, config_overrides, self._missing_export = resolve_export(
            export, arch, config_overrides, midway_config, where)
        self.encoder, cfg = build_encoder(export, arch, config_overrides, where=where)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.patch_size: int = self.encoder.patch_size
        if out_stride <= 0 or self.patch_size % out_stride:
            raise ValueError(f"MidwayViTEncoder: out_stride={out_stride} must divide the patch size "
                             f"{self.patch_size}")
        self.out_stride = out_stride
        if levels is not None:
            warnings.warn("MidwayViTEncoder: `levels` (indices into feature_levels) is deprecated; use `out_blocks` "
                          "(encoder block numbers, e.g. out_blocks=(12,))", DeprecationWarning, stacklevel=2)
            out_blocks = indices_to_blocks(levels, cfg.feature_levels, where="MidwayViTEncoder: levels")
        elif out_blocks is None:
            out_blocks = (cfg.feature_levels[-1],)
        self.out_blocks = (out_blocks,) if isinstance(out_blocks, int) else tuple(out_blocks)
        #: positions of ``out_blocks`` in ``feature_levels`` (the core's level indices)
        self.levels = list(blocks_to_indices(self.out_blocks, cfg.feature_levels,
                                             where="MidwayViTEncoder: out_blocks"))
        self.project = nn.Conv2d(len(self.levels) * self.encoder.embed_dim, out_channels, kernel_size=1)
        if freeze is not None:
            warnings.warn("MidwayViTEncoder: `freeze` is deprecated; use `frozen` (the name MidwayViT uses)",
                          DeprecationWarning, stacklevel=2)
            frozen = freeze
        self.frozen = bool(frozen)
        if self.frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def init_weights(self) -> None:
        """Keeps the exported ViT weights (timm's own ``init_weights`` would reset them).

        Raises:
            FileNotFoundError: built from ``arch`` because the export is missing (nothing to finetune).
        """
        if self._missing_export is not None:
            raise FileNotFoundError(f"MidwayViTEncoder: the export {self._missing_export!r} does not exist, so "
                                    "there are no pretrained weights to train from; write it with `midway export`")
        self._is_init = True

    def train(self, mode: bool = True) -> "MidwayViTEncoder":
        super().train(mode)
        if getattr(self, "frozen", False):  # also called while the base class initialises
            self.encoder.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, out_channels, ceil(H / out_stride), ceil(W / out_stride))``."""
        h, w = x.shape[-2:]
        p = self.patch_size
        ph, pw = (-h) % p, (-w) % p
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        gh, gw = self.encoder.grid_size(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            levels = self.encoder(x)
        maps = [levels[i][:, self.encoder.num_prefix_tokens:] for i in self.levels]
        feat = torch.cat(maps, dim=-1).transpose(1, 2).reshape(x.shape[0], -1, gh, gw)
        feat = self.project(feat)
        factor = p // self.out_stride
        if factor > 1:
            feat = F.interpolate(feat, scale_factor=factor, mode="bilinear", align_corners=False)
        return feat[..., :math.ceil(h / self.out_stride), :math.ceil(w / self.out_stride)]
