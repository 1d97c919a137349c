"""DPT head: reassemble ViT token maps at four scales and fuse them into a dense prediction.

Reference:
    Ranftl, Bochkovskiy, Koltun, "Vision Transformers for Dense Prediction", ICCV 2021 (DPT):
    §3 "Reassemble" (read the readout/CLS token, concatenate spatially, project with a 1x1 convolution
    and resample to 1/4, 1/8, 1/16, 1/32 of the input for a patch-16 ViT) and "Fusion" (RefineNet-style
    blocks of residual convolutional units, each followed by a x2 upsampling). CroCo-Flow uses this head on
    four decoder token maps and predicts flow plus a confidence channel; Midway feeds it the four token maps
    of docs/paper.md §3.2.

Written from the paper, not from a copy of any implementation. Differences from DPT, all for inputs of any
size: every fusion step upsamples to the *size of the next (finer) map* rather than by a fixed x2, and the
final output is interpolated to the requested ``(H, W)`` so patch sizes other than 16 work too.

Not mmseg's ``ReassembleBlocks`` / ``FeatureFusionBlock`` (``mmseg.models.decode_heads.dpt_head``): they compute a
different function (bias-free residual-unit convolutions, a fixed x2 upsampling with the skip resized instead, one
width for all four maps, a CLS token required), so the trained MidwayFlow checkpoints would not load, and the
mmflow adapter does not import mmseg (``tests/test_layering.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from mmflow.registry import MODELS
from torch import Tensor, nn

Readout = Literal["ignore", "add", "project"]


class TokenReadout(nn.Module):
    """Handles the prefix (CLS) token of a token sequence before it is reshaped to an image (DPT §3).

    ``ignore`` drops it, ``add`` adds it to every patch token, ``project`` concatenates it to every patch
    token and projects back to the token width with a linear layer + GELU (DPT's best variant). Sequences
    without a prefix token pass through unchanged.
    """

    def __init__(self, dim: int, mode: Readout = "project") -> None:
        super().__init__()
        if mode not in ("ignore", "add", "project"):
            raise ValueError(f"DPT readout must be 'ignore', 'add' or 'project', got {mode!r}")
        self.mode = mode
        self.proj = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU()) if mode == "project" else None

    def forward(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        """``(B, P + h*w, C)`` tokens (P = 0 or 1 prefix tokens) -> ``(B, C, h, w)`` map."""
        h, w = grid
        b, n, c = tokens.shape
        prefix = n - h * w
        if prefix not in (0, 1):
            raise ValueError(
                f"DPT head: a token map has {n} tokens, which is neither {h}x{w}={h * w} "
                f"patch tokens nor that plus one CLS token"
            )
        patches = tokens[:, prefix:]
        if prefix == 1 and self.mode == "add":
            patches = patches + tokens[:, :1]
        elif prefix == 1 and self.mode == "project":
            assert self.proj is not None  # built for mode="project"
            patches = self.proj(torch.cat([patches, tokens[:, :1].expand_as(patches)], dim=-1))
        return patches.transpose(1, 2).reshape(b, c, h, w)


class Reassemble(nn.Module):
    """DPT's Reassemble_s^D: readout -> image -> 1x1 conv to ``out_channels`` -> resample by ``scale``."""

    def __init__(self, in_dim: int, out_channels: int, scale: float, readout: Readout) -> None:
        super().__init__()
        self.readout = TokenReadout(in_dim, readout)
        self.project = nn.Conv2d(in_dim, out_channels, kernel_size=1)
        if scale > 1:
            k = int(scale)
            if k != scale:
                raise ValueError(f"DPT reassemble scale must be an integer > 1, 1 or 1/2, got {scale}")
            self.resample: nn.Module = nn.ConvTranspose2d(out_channels, out_channels, kernel_size=k, stride=k)
        elif scale == 1:
            self.resample = nn.Identity()
        elif scale == 0.5:
            self.resample = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=2, padding=1)
        else:
            raise ValueError(f"DPT reassemble scale must be an integer > 1, 1 or 1/2, got {scale}")

    def forward(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        return self.resample(self.project(self.readout(tokens, grid)))


class ResidualConvUnit(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` with 3x3 convolutions (DPT / RefineNet)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """DPT fusion: ``RCU(previous + RCU(skip))``, upsampled to ``size`` and projected with a 1x1 conv."""

    def __init__(self, channels: int, has_skip: bool) -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(channels) if has_skip else None
        self.unit = ResidualConvUnit(channels)
        self.out_conv = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: Tensor, skip: Tensor | None, size: tuple[int, int]) -> Tensor:
        if skip is not None:
            assert self.skip_unit is not None, "a fusion block without a skip unit was given a skip input"
            x = x + self.skip_unit(skip)
        x = self.unit(x)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


@MODELS.register_module()
class DPTHead(nn.Module):
    """DPT head over four token maps of one grid, from the coarsest-meaning to the finest-resolution role.

    The four inputs are reassembled at ``scales`` (default 4, 2, 1, 1/2: DPT's 1/4 ... 1/32 of the image
    for a patch-16 ViT), fused from the coarsest map upwards, and a small convolutional output head
    predicts ``num_outputs`` channels at the requested size.

    Args:
        in_dims: Token width of each of the four inputs (they may differ).
        num_outputs: Output channels (flow 2 + confidence 1 for MidwayFlow).
        features: Width of the fusion path (DPT: 256).
        reassemble_channels: Channels after each reassemble projection (DPT-Base: 96, 192, 384, 768).
        scales: Resampling factor of each input relative to the token grid.
        readout: CLS handling, see :class:`TokenReadout`.

    Reference:
        Ranftl et al., "Vision Transformers for Dense Prediction", ICCV 2021.
    """

    def __init__(
        self,
        in_dims: Sequence[int],
        num_outputs: int = 3,
        features: int = 256,
        reassemble_channels: Sequence[int] = (96, 192, 384, 768),
        scales: Sequence[float] = (4, 2, 1, 0.5),
        readout: Readout = "project",
    ) -> None:
        super().__init__()
        if not (len(in_dims) == len(reassemble_channels) == len(scales) == 4):
            raise ValueError(
                f"DPTHead takes four token maps: got in_dims={list(in_dims)}, "
                f"reassemble_channels={list(reassemble_channels)}, scales={list(scales)}"
            )
        self.num_outputs = num_outputs
        self.reassemble = nn.ModuleList(
            Reassemble(d, c, s, readout) for d, c, s in zip(in_dims, reassemble_channels, scales, strict=True)
        )
        self.to_features = nn.ModuleList(
            nn.Conv2d(c, features, kernel_size=3, padding=1, bias=False) for c in reassemble_channels
        )
        # fusion[3] starts from the coarsest map (no skip); fusion[i] adds map i.
        self.fusion = nn.ModuleList(FusionBlock(features, has_skip=i < 3) for i in range(4))
        self.output = nn.Sequential(
            nn.Conv2d(features, features // 2, kernel_size=3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(features // 2, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, num_outputs, kernel_size=1),
        )

    def forward(self, token_maps: Sequence[Tensor], grid: tuple[int, int], out_size: tuple[int, int]) -> Tensor:
        """Predicts ``(B, num_outputs, *out_size)`` from four ``(B, P + h*w, C_i)`` token maps on ``grid``."""
        if len(token_maps) != 4:
            raise ValueError(f"DPTHead takes four token maps, got {len(token_maps)}")
        maps = [conv(re(t, grid)) for t, re, conv in zip(token_maps, self.reassemble, self.to_features, strict=True)]
        x = self.fusion[3](maps[3], None, maps[2].shape[-2:])
        x = self.fusion[2](x, maps[2], maps[1].shape[-2:])
        x = self.fusion[1](x, maps[1], maps[0].shape[-2:])
        fine = maps[0].shape[-2:]
        x = self.fusion[0](x, maps[0], (2 * fine[0], 2 * fine[1]))
        out = self.output(x)
        if tuple(out.shape[-2:]) != tuple(out_size):
            out = F.interpolate(out, size=out_size, mode="bilinear", align_corners=False)
        return out
