"""`MidwayViT`: the Midway Network encoder as an MMSegmentation 1.x backbone.

The backbone wraps the core model (`midway_plugin.models`): the student ViT encoder and, optionally, the backward
(top-down) layers whose outputs v^l the paper's linear readout reads. It returns one NCHW map per selected feature
level, so every mmseg neck and decode head (``MultiLevelNeck`` + ``UPerHead``, ``FCNHead``, ...) works unchanged.
Loading the export file is :mod:`midway_plugin.mmseg.export_weights`.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §3 (backward layers v_t^l = backward(z_t^l, v_t^{l+1}), v_t^L = z_t^L),
    App. B.4 and Table 1 (frozen linear readout on the backward-layer features, frozen UperNet readout on the
    encoder, PooDLe's ViT protocol). See docs/paper.md §1.1, §1.3 and §3.1.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from midway_plugin.mmseg.export_weights import (arch_differences, load_backbone_weights, log, read_export,
                                                resolve_weights)
from midway_plugin.models import (MidwayConfig, MidwayEncoder, MidwayNetwork, blocks_to_indices, indices_to_blocks,
                                  resolve_config, top_down)

__all__ = ["MidwayViT"]

_FEATURE_SOURCES = ("encoder", "backward")


@MODELS.register_module()
class MidwayViT(BaseModule):
    """Midway Network ViT encoder as an MMSegmentation backbone.

    Outputs one ``(B, D, ceil(H/p), ceil(W/p))`` map per entry of ``out_blocks`` (CLS token dropped, tokens
    reshaped to the patch grid). Inputs whose sides are not multiples of the patch size ``p`` are zero-padded at
    the bottom/right (after normalisation, i.e. with the mean colour), as mmseg's own ``VisionTransformer`` does
    with its corner padding; the decode head's final resize to the image shape then covers the padded border.

    Args:
        arch: the architecture when no export is given, or the expected one: a preset name (``'vit-s16'``,
            ``'vit-b16'``, ``'tiny'``), a dict of `MidwayConfig` fields, or a `MidwayConfig`. When ``export``
            names an existing Midway export, **the export's config decides the architecture** (a differing
            ``arch`` is logged, not an error).
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
            export), loaded by :meth:`init_weights`.
        init_cfg: mmengine init config; only ``dict(type='Pretrained', checkpoint=<export path>)`` is accepted
            (same meaning as ``export``).
        pos_embed_interp: ``'timm'`` or ``'dino'``: how the position embeddings are resampled to ``img_size``
            (``MidwayConfig.pos_embed_interp``); None keeps the export's (or ``arch``'s) setting.
        pretrained: deprecated name of ``export`` (mmseg's ``EncoderDecoder`` passes its own ``pretrained`` down
            here); given, it overrides ``export``.
        out_indices: deprecated: the levels as positions in ``cfg.feature_levels`` (ViT-S/B: 0 = block 3, ...,
            3 = block 12); given, it overrides ``out_blocks``.

    Raises:
        ValueError: for invalid arguments (named in the message).

    Reference:
        Hoang & Ren, ICLR 2026, §3 (backward layers), App. B.4 / Table 1 (segmentation readouts).
    """

    def __init__(
        self,
        arch: Union[str, Mapping[str, Any], MidwayConfig] = "vit-s16",
        img_size: Union[int, Sequence[int]] = 512,
        *,
        out_blocks: Optional[Union[int, Sequence[int]]] = None,
        feature_source: str = "encoder",
        frozen: bool = False,
        drop_path_rate: float = 0.0,
        export: Optional[str] = None,
        init_cfg: Optional[Union[dict, list]] = None,
        pos_embed_interp: Optional[str] = None,
        pretrained: Optional[str] = None,
        out_indices: Optional[Union[int, Sequence[int]]] = None,
    ) -> None:
        weights = resolve_weights(export, pretrained, init_cfg)
        super().__init__(init_cfg=None)
        if feature_source not in _FEATURE_SOURCES:
            raise ValueError(f"MidwayViT: feature_source={feature_source!r}; use one of {_FEATURE_SOURCES}")
        if not isinstance(frozen, bool):
            raise ValueError(f"MidwayViT: frozen must be True or False, got {frozen!r}")
        if not 0.0 <= float(drop_path_rate) < 1.0:
            raise ValueError(f"MidwayViT: drop_path_rate={drop_path_rate!r} must lie in [0, 1)")
        img_size = self._check_img_size(img_size)

        cfg = resolve_config(arch, where="MidwayViT: ", name="arch")
        if weights is not None:
            if Path(weights).is_file():
                export_cfg = read_export(weights, parts=()).config
                diff = arch_differences(cfg, export_cfg)
                if diff:
                    log(
                        f"the architecture comes from the export {weights}, which differs from arch={arch!r} in "
                        + ", ".join(f"{k} (arch {a!r}, export {b!r})" for k, (a, b) in diff.items())
                    )
                cfg = export_cfg
            else:
                # `mim test` builds the model before loading the mmseg checkpoint and never calls init_weights,
                # so a missing export must not stop the build; init_weights fails if the file is still missing.
                log(
                    f"export file {weights} does not exist (yet); building arch={arch!r}. Loading the weights "
                    "(init_weights, at the start of training) will fail unless the file exists by then.",
                    logging.WARNING,
                )
        cfg = cfg.replace(img_size=img_size, drop_path_rate=float(drop_path_rate))
        if pos_embed_interp is not None:
            cfg = cfg.replace(pos_embed_interp=pos_embed_interp)

        if feature_source == "backward" and not (cfg.latent_dynamics and cfg.backward_layers):
            raise ValueError(
                "MidwayViT: feature_source='backward' needs backward layers, but the config has "
                f"latent_dynamics={cfg.latent_dynamics}, backward_layers={cfg.backward_layers}"
                + (f" (from {weights})" if weights is not None and Path(weights).is_file() else "")
                + "; use feature_source='encoder'"
            )

        self.cfg = cfg
        self.weights = weights
        self.feature_source = feature_source
        self.frozen = frozen
        self.out_blocks = self._check_out_blocks(out_blocks, out_indices, cfg)
        #: positions of ``out_blocks`` in ``cfg.feature_levels`` (the core's level indices)
        self.out_indices = blocks_to_indices(self.out_blocks, cfg.feature_levels)

        # level index -> key of its backward layer in `backward_blocks` (the core's `level_key`, e.g. "level3")
        self._backward_keys: dict[int, str] = {}
        if feature_source == "backward":
            network = MidwayNetwork(cfg, with_teacher=False)
            self.encoder = network.encoder
            # Only the encoder and the backward layers are kept: the midway path and forward predictors play no
            # part in a segmentation backbone (and would be dead weight in its checkpoints / DDP).
            self.backward_blocks: Optional[nn.ModuleDict] = network.backward
            self._backward_keys = {i: network.level_key(i) for i in network.objective_indices}
            del network
            # Backward layers exist at the objective levels only (all but the top unless multi_level=False);
            # v^L = z^L at the top level.
            has_v = sorted(set(self._backward_keys) | {len(cfg.feature_levels) - 1})
            lacking = [b for b, i in zip(self.out_blocks, self.out_indices) if i not in has_v]
            if lacking:
                raise ValueError(
                    f"MidwayViT: out_blocks {lacking} have no backward features in this config (backward layers "
                    f"below the top block, multi_level={cfg.multi_level}); choose out_blocks among "
                    f"{indices_to_blocks(has_v, cfg.feature_levels)}"
                )
        else:
            self.encoder = MidwayEncoder(cfg)
            self.backward_blocks = None
        self.embed_dim: int = self.encoder.embed_dim
        self.patch_size: int = self.encoder.patch_size
        self.num_prefix_tokens: int = self.encoder.num_prefix_tokens

        if frozen:
            self.requires_grad_(False)
            self.train(False)

    # ------------------------------------------------------------------ arguments
    @staticmethod
    def _check_img_size(img_size: Union[int, Sequence[int]]) -> int:
        """A positive int or a square ``(S, S)``: the core config lays position embeddings on a square grid."""
        if isinstance(img_size, Sequence) and len(img_size) == 2 and img_size[0] == img_size[1]:
            img_size = img_size[0]
        if isinstance(img_size, int) and not isinstance(img_size, bool) and img_size > 0:
            return img_size
        raise ValueError(
            f"MidwayViT: img_size must be a positive int or a square (S, S), got {img_size!r} (non-square inputs "
            "still work: the position embeddings are resampled on the fly)"
        )

    @staticmethod
    def _check_out_blocks(out_blocks: Optional[Union[int, Sequence[int]]],
                          out_indices: Optional[Union[int, Sequence[int]]], cfg: MidwayConfig) -> tuple[int, ...]:
        """The blocks to output; the deprecated ``out_indices`` (positions in the feature levels) overrides."""
        if out_indices is not None:
            warnings.warn("MidwayViT: `out_indices` (positions in feature_levels) is deprecated; use `out_blocks` "
                          "(encoder block numbers, e.g. out_blocks=(3,))", DeprecationWarning, stacklevel=3)
            blocks = indices_to_blocks(out_indices, cfg.feature_levels, where="MidwayViT: out_indices")
            if out_blocks is not None and tuple(out_blocks) != blocks:
                log(f"out_indices={out_indices!r} (blocks {blocks}) overrides out_blocks={out_blocks!r}")
            return blocks
        if out_blocks is None:
            return tuple(cfg.feature_levels)
        blocks_to_indices(out_blocks, cfg.feature_levels, where="MidwayViT: out_blocks")  # validates
        return (out_blocks,) if isinstance(out_blocks, int) else tuple(out_blocks)

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Loads the export named by ``export`` (called by mmengine's runner before training).

        Without an export the encoder keeps timm's initialisation (logged as a warning: a frozen random
        backbone is almost certainly a mistake).
        """
        if self._is_init:
            log("init_weights has been called more than once", logging.WARNING)
            return
        if self.weights is None:
            log(
                "no pretrained weights (export=None): the backbone stays randomly initialised"
                + (" and frozen" if self.frozen else ""),
                logging.WARNING,
            )
        else:
            self.load_export_weights(self.weights)
        self._is_init = True

    def load_export_weights(self, path: Union[str, Path]) -> None:
        """Loads a Midway export into this backbone (see :func:`~.export_weights.load_backbone_weights`)."""
        load_backbone_weights(self, path)

    # ------------------------------------------------------------------ forward
    def train(self, mode: bool = True) -> "MidwayViT":
        """Sets train/eval mode; a frozen backbone always stays in eval mode (norms, dropout, drop path)."""
        super().train(mode and not self.frozen)
        return self

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
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
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
