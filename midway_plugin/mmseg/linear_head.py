"""`BNLinearHead`: a linear segmentation readout (per-channel BatchNorm + 1x1 convolution).

The frozen "linear" readout of the paper's Table 1 trains a per-pixel linear classifier on frozen features. The
backward-layer features v^l are residual-stream outputs without a final LayerNorm, so their per-channel scales are
arbitrary; a BatchNorm in front of the classifier (as in iBOT's and DINOv2's linear segmentation readouts) fixes
the conditioning while keeping the readout linear (BN is an affine map per channel at inference). mmseg has no
such head: ``FCNHead(num_convs=0)`` is a plain 1x1 convolution without normalisation.

Reference:
    Hoang & Ren, ICLR 2026, Table 1 / App. B.4 (linear readout); docs/paper.md §3.1.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

__all__ = ["BNLinearHead"]


@MODELS.register_module()
class BNLinearHead(BaseDecodeHead):
    """BatchNorm over the input channels followed by mmseg's 1x1 classifier (``conv_seg``).

    Several levels can be read at once with ``input_transform='resize_concat'`` and a list ``in_index`` (the
    maps are resized to the first one's size and concatenated); ``channels`` must then equal the summed input
    channels.

    Args:
        norm_cfg: the normalisation (default ``dict(type='SyncBN')``; mmengine turns SyncBN into BN in a
            single-process run).
        **kwargs: ``BaseDecodeHead`` arguments (``in_channels``, ``channels``, ``num_classes``, ``in_index``,
            ``input_transform``, ``dropout_ratio``, ``loss_decode``, ...). ``channels`` defaults to the
            (summed) input channels and must equal them: there is no hidden layer.

    Raises:
        ValueError: ``channels`` differs from the input channels.
    """

    def __init__(self, norm_cfg: dict | None = None, **kwargs) -> None:
        norm_cfg = dict(type="SyncBN", requires_grad=True) if norm_cfg is None else norm_cfg
        in_channels = kwargs.get("in_channels")
        total = sum(in_channels) if isinstance(in_channels, Sequence) else in_channels
        kwargs.setdefault("channels", total)
        if kwargs["channels"] != total:
            raise ValueError(
                f"BNLinearHead: channels={kwargs['channels']} must equal the input channels ({total}); a linear "
                "readout has no hidden layer"
            )
        super().__init__(norm_cfg=norm_cfg, **kwargs)
        _, self.bn = build_norm_layer(self.norm_cfg, self.channels)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Per-pixel class logits at the feature resolution (mmseg upsamples them in the loss / prediction)."""
        x = self._transform_inputs(inputs)
        return self.cls_seg(self.bn(x))
