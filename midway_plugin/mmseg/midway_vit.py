"""`MidwayViT`: the Midway Network encoder as an MMSegmentation 1.x backbone.

The backbone wraps the core model (`midway_plugin.models`): the student ViT encoder and, optionally, the backward
(top-down) layers whose outputs v^l the paper's linear readout reads. It returns one NCHW map per selected feature
level, so every mmseg neck and decode head (``MultiLevelNeck`` + ``UPerHead``, ``FCNHead``, ...) works unchanged.
The core's :func:`~midway_plugin.models.build_network` builds it from the export and loads the weights.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §3 (backward layers v_t^l = backward(z_t^l, v_t^{l+1}), v_t^L = z_t^L),
    App. B.4 and Table 1 (frozen linear readout on the backward-layer features, frozen UperNet readout on the
    encoder, PooDLe's ViT protocol). See docs/paper.md §1.1, §1.3 and §3.1.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from midway_plugin.models import (
    BuiltNetwork,
    FrozenParts,
    MidwayConfig,
    blocks_to_indices,
    build_network,
    export_argument,
    indices_to_blocks,
    top_down,
)

__all__ = ["MidwayViT"]

_FEATURE_SOURCES = ("encoder", "backward")


def log(msg: str, level: int = logging.INFO) -> None:
    print_log(f"MidwayViT: {msg}", logger="current", level=level)


@MODELS.register_module()
class MidwayViT(FrozenParts, BaseModule):
    """Midway Network ViT encoder as an MMSegmentation backbone.

    Outputs one ``(B, D, ceil(H/p), ceil(W/p))`` map per entry of ``out_blocks`` (CLS token dropped, tokens
    reshaped to the patch grid). Inputs whose sides are not multiples of the patch size ``p`` are zero-padded at
    the bottom/right (after normalisation, i.e. with the mean colour), as mmseg's own ``VisionTransformer`` does
    with its corner padding; the decode head's final resize to the image shape then covers the padded border.

    Args:
        arch: the architecture when no export is given (or its file does not exist yet): a preset name
            (``'vit-s16'``, ``'vit-b16'``, ``'tiny'``), a dict of `MidwayConfig` fields, or a `MidwayConfig`. When
            ``export`` names an existing Midway export, **the export's config decides the architecture**.
        img_size: input size the position embeddings are laid out for (int or square ``(S, S)``); exported 224-px
            position embeddings are resampled (bicubic, see ``pos_embed_interp``) to this grid when the weights
            are loaded. Other input sizes still work (resampled on the fly), at some cost.
        out_blocks: which feature levels to output, by encoder block as the paper numbers them (1-based; ViT-S/B:
            3, 6, 9, 12; one of ``cfg.feature_levels``). Default: all levels, low to high.
        feature_source: ``'encoder'``: the encoder levels z^l (through the ViT's final LayerNorm, as in
            pretraining); ``'backward'``: the backward-layer features v^l of the top-down pass, with v^L = z^L at
            the top level (what the paper's linear readout reads).
        frozen: if True, no parameter gets gradients, the forward pass runs without autograd, and the module stays
            in eval mode (no dropout / drop path) even inside ``train()`` — the frozen-readout protocols.
        drop_path_rate: stochastic depth of the encoder blocks (only relevant when not frozen).
        export: path of a file written by ``midway export`` / ``midway import-official`` (a safetensors Midway
            export), loaded when the backbone is built. A file that does not exist yet builds ``arch`` without
            weights (``mim test`` then loads its checkpoint); :meth:`init_weights` (training) refuses that.
        init_cfg: mmengine init config; only ``dict(type='Pretrained', checkpoint=<export path>)`` is accepted
            (same meaning as ``export``).
        pos_embed_interp: ``'timm'`` or ``'dino'``: how the position embeddings are resampled to ``img_size``
            (``MidwayConfig.pos_embed_interp``); None keeps the export's (or ``arch``'s) setting.
        pretrained: deprecated name of ``export`` (mmseg's ``EncoderDecoder`` passes its own ``pretrained`` down
            here); given, it overrides ``export``.

    Raises:
        ValueError: for invalid arguments (named in the message).
        MidwayExportError: the export is not one, or its keys do not fit (missing, unexpected or mis-shaped keys
            of the encoder and, for ``feature_source='backward'``, the backward layers; every key named).

    Reference:
        Hoang & Ren, ICLR 2026, §3 (backward layers), App. B.4 / Table 1 (segmentation readouts).
    """

    def __init__(
        self,
        arch: str | Mapping[str, Any] | MidwayConfig = "vit-s16",
        img_size: int | Sequence[int] = 512,
        *,
        out_blocks: int | Sequence[int] | None = None,
        feature_source: str = "encoder",
        frozen: bool = False,
        drop_path_rate: float = 0.0,
        export: str | None = None,
        init_cfg: dict | list | None = None,
        pos_embed_interp: str | None = None,
        pretrained: str | None = None,
    ) -> None:
        if pretrained is not None:
            warnings.warn(
                "MidwayViT: `pretrained` is deprecated; use `export` (the `midway export` file, the same "
                "name as in the mmflow models)",
                DeprecationWarning,
                stacklevel=2,
            )
            if export is not None and str(export) != str(pretrained):
                log(f"pretrained={pretrained!r} overrides export={export!r}")
            export = pretrained  # also what mmseg's EncoderDecoder(pretrained=...) passes down
        self.export = export_argument(export, init_cfg, "MidwayViT: ")
        super().__init__(init_cfg=None)
        if feature_source not in _FEATURE_SOURCES:
            raise ValueError(f"MidwayViT: feature_source={feature_source!r}; use one of {_FEATURE_SOURCES}")
        if not 0.0 <= float(drop_path_rate) < 1.0:
            raise ValueError(f"MidwayViT: drop_path_rate={drop_path_rate!r} must lie in [0, 1)")
        overrides: dict[str, Any] = dict(img_size=self._check_img_size(img_size), drop_path_rate=float(drop_path_rate))
        if pos_embed_interp is not None:
            overrides["pos_embed_interp"] = pos_embed_interp
        backward = feature_source == "backward"
        built = build_network(
            self.export,
            arch=arch,
            overrides=overrides,
            parts=("encoder", "backward") if backward else ("encoder",),
            dynamics=None if backward else False,
            frozen=frozen is True,
            missing_ok=True,
            where="MidwayViT: ",
        )
        network, cfg = built.network, built.network.cfg
        if backward and not (cfg.latent_dynamics and cfg.backward_layers):
            raise ValueError(
                "MidwayViT: feature_source='backward' needs backward layers, but the config has "
                f"latent_dynamics={cfg.latent_dynamics}, backward_layers={cfg.backward_layers}"
                + (f" (from {built.export})" if built.export else "")
                + "; use feature_source='encoder'"
            )
        self.cfg = cfg
        self.missing_export = built.missing_export
        self.feature_source = feature_source
        #: positions of ``out_blocks`` in ``cfg.feature_levels`` (the core's level indices)
        self.out_indices = blocks_to_indices(
            cfg.feature_levels if out_blocks is None else out_blocks, cfg.feature_levels, where="MidwayViT: out_blocks"
        )
        self.out_blocks = tuple(cfg.feature_levels[i] for i in self.out_indices)
        self.encoder = network.encoder
        # Only the encoder and the backward layers are kept: the midway path and forward predictors play no part
        # in a segmentation backbone (and would be dead weight in its checkpoints / DDP).
        self.backward_blocks: nn.ModuleDict | None = network.backward if backward else None
        # level index -> key of its backward layer (the core's `level_key`, e.g. "level3"); v^L = z^L at the top
        self._backward_keys = {i: network.level_key(i) for i in network.objective_indices} if backward else {}
        if backward:
            has_v = sorted(set(self._backward_keys) | {len(cfg.feature_levels) - 1})
            lacking = [b for b, i in zip(self.out_blocks, self.out_indices, strict=True) if i not in has_v]
            if lacking:
                raise ValueError(
                    f"MidwayViT: out_blocks {lacking} have no backward features in this config (backward layers "
                    f"below the top block, multi_level={cfg.multi_level}); choose out_blocks among "
                    f"{indices_to_blocks(has_v, cfg.feature_levels)}"
                )
        self.embed_dim: int = self.encoder.embed_dim
        self.patch_size: int = self.encoder.patch_size
        self.num_prefix_tokens: int = self.encoder.num_prefix_tokens
        self.freeze_parts(frozen, ".")
        self._log_loading(built)

    @staticmethod
    def _check_img_size(img_size: int | Sequence[int]) -> int:
        """A positive int or a square ``(S, S)``: the core config lays position embeddings on a square grid."""
        if isinstance(img_size, Sequence) and len(img_size) == 2 and img_size[0] == img_size[1]:
            img_size = img_size[0]
        if isinstance(img_size, int) and not isinstance(img_size, bool) and img_size > 0:
            return img_size
        raise ValueError(
            f"MidwayViT: img_size must be a positive int or a square (S, S), got {img_size!r} (non-square inputs "
            "still work: the position embeddings are resampled on the fly)"
        )

    def _log_loading(self, built: BuiltNetwork) -> None:
        if built.missing_export is not None:
            # `mim test` builds the model and then loads its own checkpoint: a missing export must not stop it.
            log(
                f"export file {built.missing_export} does not exist (yet); built the arch without its weights. "
                "init_weights (at the start of training) will fail unless the file exists by then.",
                logging.WARNING,
            )
        if built.export is None:
            return
        for key, old, new in built.resampled:
            log(
                f"resampled {key} of {built.export} from {old} to {new} "
                f"(img_size {self.cfg.img_size}, {self.cfg.pos_embed_interp}'s interpolation)"
            )
        if built.skipped:
            log(
                f"{len(built.skipped)} dynamics tensors of {built.export} are not used by this backbone "
                f"(feature_source={self.feature_source!r}) and were skipped"
            )
        log(
            f"loaded {built.export} ({built.metadata.get('weights', 'unknown')} weights, "
            f"feature_source={self.feature_source!r}, frozen={self.frozen})"
        )

    def init_weights(self) -> None:
        """Keeps the export's weights, loaded when the backbone was built (timm's init would reset them).

        Raises:
            FileNotFoundError: the export did not exist when the backbone was built (nothing to train from).
        """
        if self.missing_export is not None:
            raise FileNotFoundError(
                f"MidwayViT: pretrained weights file {self.missing_export} does not exist; write it with `midway "
                "export` (or set model.backbone.export to an existing export)"
            )
        if self.export is None and not getattr(self, "_is_init", False):
            log(
                "no pretrained weights (export=None): the backbone stays randomly initialised"
                + (" and frozen" if self.frozen else ""),
                logging.WARNING,
            )
        self._is_init = True

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Encodes a batch of normalised images.

        Args:
            x: ``(B, 3, H, W)`` images (any H, W; non-multiples of the patch size are padded bottom/right).

        Returns:
            One ``(B, D, ceil(H/p), ceil(W/p))`` map per ``out_blocks`` entry.
        """
        if x.ndim != 4:
            raise ValueError(f"MidwayViT: expected a (B, C, H, W) batch, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        p = self.patch_size
        pad_h, pad_w = (-h) % p, (-w) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        grid = ((h + pad_h) // p, (w + pad_w) // p)
        with self.grad_enabled():
            levels = self.encoder(x)
            feats = (
                top_down(levels, self.backward_blocks, self._backward_keys)
                if self.backward_blocks is not None
                else dict(enumerate(levels))
            )
            return tuple(self._to_map(feats[i], grid) for i in self.out_indices)

    def _to_map(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        """(B, prefix + h*w, D) tokens -> (B, D, h, w) map (prefix/CLS dropped)."""
        spatial = tokens[:, self.num_prefix_tokens :, :]
        b, n, d = spatial.shape
        if n != grid[0] * grid[1]:
            raise RuntimeError(f"MidwayViT: got {n} patch tokens for a {grid[0]}x{grid[1]} grid")
        return spatial.transpose(1, 2).reshape(b, d, grid[0], grid[1]).contiguous()
