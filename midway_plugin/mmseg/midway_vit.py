"""`MidwayViT`: the Midway Network encoder as an MMSegmentation 1.x backbone.

The backbone wraps the core model (`midway_plugin.models`): the student ViT encoder and, optionally, the backward
(top-down) layers whose outputs v^l the paper's linear readout reads. It returns one NCHW map per selected feature
level, so every mmseg neck and decode head (``MultiLevelNeck`` + ``UPerHead``, ``FCNHead``, ...) works unchanged.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §3 (backward layers v_t^l = backward(z_t^l, v_t^{l+1}), v_t^L = z_t^L),
    App. B.4 and Table 1 (frozen linear readout on the backward-layer features, frozen UperNet readout on the
    encoder, PooDLe's ViT protocol). See docs/paper.md §1.1, §1.3 and §3.1.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from midway_plugin.models import (
    MidwayConfig,
    MidwayEncoder,
    MidwayExportError,
    MidwayNetwork,
    PRESET_NAMES,
    load_export,
    resample_pos_embed,
    top_down,
)

__all__ = ["MidwayViT"]

#: MidwayConfig fields that change the shapes of the modules this backbone holds (encoder and backward layers).
_ARCH_FIELDS = (
    "encoder",
    "encoder_kwargs",
    "feature_levels",
    "latent_dynamics",
    "backward_layers",
    "backward_heads",
    "multi_level",
)

#: How many key names an error or log message lists before summarising the rest.
_MAX_LISTED = 12

_FEATURE_SOURCES = ("encoder", "backward")


def _format_keys(keys: Sequence[str]) -> str:
    """Lists up to ``_MAX_LISTED`` key names and counts the rest."""
    keys = sorted(keys)
    shown = ", ".join(keys[:_MAX_LISTED])
    if len(keys) > _MAX_LISTED:
        shown += f", ... ({len(keys) - _MAX_LISTED} more)"
    return shown


def _log(msg: str, level: int = logging.INFO) -> None:
    print_log(f"MidwayViT: {msg}", logger="current", level=level)


def config_from_arch(arch: Union[str, Mapping[str, Any], MidwayConfig]) -> MidwayConfig:
    """Turns the ``arch`` argument into a `MidwayConfig`.

    Args:
        arch: a preset name (``'vit-s16'``, ``'vit-b16'``, ``'tiny'``), a dict of `MidwayConfig` fields (missing
            fields take the dataclass defaults, i.e. the released ViT-S configuration), or a `MidwayConfig`.

    Returns:
        The configuration.

    Raises:
        ValueError: for an unknown preset name or unknown config fields (named in the message).
    """
    if isinstance(arch, MidwayConfig):
        return arch
    if isinstance(arch, str):
        if arch not in PRESET_NAMES:
            raise ValueError(
                f"MidwayViT: unknown arch={arch!r}; use one of {list(PRESET_NAMES)} or a dict of MidwayConfig "
                "fields"
            )
        return MidwayConfig.preset(arch)
    if isinstance(arch, Mapping):
        try:
            return MidwayConfig.from_dict(dict(arch))
        except (ValueError, TypeError) as err:
            raise ValueError(f"MidwayViT: invalid arch dict {dict(arch)!r}: {err}") from err
    raise ValueError(
        f"MidwayViT: arch must be a preset name {list(PRESET_NAMES)}, a dict of MidwayConfig fields or a "
        f"MidwayConfig, got {type(arch).__name__} {arch!r}"
    )


def _arch_differences(a: MidwayConfig, b: MidwayConfig) -> dict[str, tuple[Any, Any]]:
    """Architecture fields on which two configs differ: name -> (a's value, b's value)."""
    da, db = a.to_dict(), b.to_dict()
    return {k: (da.get(k), db.get(k)) for k in _ARCH_FIELDS if da.get(k) != db.get(k)}


@MODELS.register_module()
class MidwayViT(BaseModule):
    """Midway Network ViT encoder as an MMSegmentation backbone.

    Outputs one ``(B, D, ceil(H/p), ceil(W/p))`` map per entry of ``out_indices`` (CLS token dropped, tokens
    reshaped to the patch grid). Inputs whose sides are not multiples of the patch size ``p`` are zero-padded at
    the bottom/right (after normalisation, i.e. with the mean colour), as mmseg's own ``VisionTransformer`` does
    with its corner padding; the decode head's final resize to the image shape then covers the padded border.

    Args:
        arch: the architecture when no export is given, or the expected one: a preset name (``'vit-s16'``,
            ``'vit-b16'``, ``'tiny'``), a dict of `MidwayConfig` fields, or a `MidwayConfig`. When ``pretrained``
            names an existing Midway export, **the export's config decides the architecture** (a differing
            ``arch`` is logged, not an error).
        img_size: input size the position embeddings are laid out for (int or square ``(S, S)``); exported 224-px
            position embeddings are resampled (bicubic, see ``pos_embed_interp``) to this grid when the weights
            are loaded. Other input sizes still work (resampled on the fly), at some cost.
        out_indices: which feature levels to output, as positions in ``cfg.feature_levels`` (for ViT-S/B:
            0 = block 3, 1 = block 6, 2 = block 9, 3 = block 12). Default: all levels, low to high.
        feature_source: ``'encoder'``: the encoder levels z^l (through the ViT's final LayerNorm, as in
            pretraining); ``'backward'``: the backward-layer features v^l of the top-down pass, with v^L = z^L at
            the top level (what the paper's linear readout reads).
        frozen: if True, no parameter gets gradients, the forward pass runs without autograd, and the module stays
            in eval mode (no dropout / drop path) even inside ``train()`` — the frozen-readout protocols.
        drop_path_rate: stochastic depth of the encoder blocks (only relevant when not frozen).
        pretrained: path of a file written by ``midway export`` / ``midway import-official`` (a safetensors
            Midway export). mmseg's ``EncoderDecoder`` passes its own ``pretrained`` argument down here.
        init_cfg: mmengine init config; only ``dict(type='Pretrained', checkpoint=<export path>)`` is accepted
            (same meaning as ``pretrained``).
        pos_embed_interp: ``'timm'`` or ``'dino'``: how the position embeddings are resampled to ``img_size``
            (``MidwayConfig.pos_embed_interp``); None keeps the export's (or ``arch``'s) setting.

    Raises:
        ValueError: for invalid arguments (named in the message).

    Reference:
        Hoang & Ren, ICLR 2026, §3 (backward layers), App. B.4 / Table 1 (segmentation readouts).
    """

    def __init__(
        self,
        arch: Union[str, Mapping[str, Any], MidwayConfig] = "vit-s16",
        img_size: Union[int, Sequence[int]] = 512,
        out_indices: Optional[Union[int, Sequence[int]]] = None,
        feature_source: str = "encoder",
        frozen: bool = False,
        drop_path_rate: float = 0.0,
        pretrained: Optional[str] = None,
        init_cfg: Optional[Union[dict, list]] = None,
        pos_embed_interp: Optional[str] = None,
    ) -> None:
        weights = self._resolve_weights(pretrained, init_cfg)
        super().__init__(init_cfg=None)
        if feature_source not in _FEATURE_SOURCES:
            raise ValueError(f"MidwayViT: feature_source={feature_source!r}; use one of {_FEATURE_SOURCES}")
        if not isinstance(frozen, bool):
            raise ValueError(f"MidwayViT: frozen must be True or False, got {frozen!r}")
        if not 0.0 <= float(drop_path_rate) < 1.0:
            raise ValueError(f"MidwayViT: drop_path_rate={drop_path_rate!r} must lie in [0, 1)")
        img_size = self._check_img_size(img_size)

        cfg = config_from_arch(arch)
        if weights is not None:
            if Path(weights).is_file():
                export_cfg = self._read_export(weights).config
                diff = _arch_differences(cfg, export_cfg)
                if diff:
                    _log(
                        f"the architecture comes from the export {weights}, which differs from arch={arch!r} in "
                        + ", ".join(f"{k} (arch {a!r}, export {b!r})" for k, (a, b) in diff.items())
                    )
                cfg = export_cfg
            else:
                # `mim test` builds the model before loading the mmseg checkpoint and never calls init_weights,
                # so a missing export must not stop the build; init_weights fails if the file is still missing.
                _log(
                    f"pretrained file {weights} does not exist (yet); building arch={arch!r}. Loading the weights "
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
        self.weights = None if weights is None else str(weights)
        self.feature_source = feature_source
        self.frozen = frozen
        num_levels = len(cfg.feature_levels)
        self.out_indices = self._check_out_indices(out_indices, num_levels, cfg)

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
            has_v = set(self._backward_keys) | {num_levels - 1}
            lacking = [i for i in self.out_indices if i not in has_v]
            if lacking:
                raise ValueError(
                    f"MidwayViT: out_indices {lacking} have no backward features in this config (backward layers "
                    f"at level indices {sorted(self._backward_keys)} plus the top level {num_levels - 1}; "
                    f"multi_level={cfg.multi_level}); choose out_indices among {sorted(has_v)}"
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
    def _resolve_weights(pretrained: Optional[str], init_cfg: Optional[Union[dict, list]]) -> Optional[str]:
        """Folds ``pretrained`` and ``init_cfg=dict(type='Pretrained', checkpoint=...)`` into one path."""
        from_init_cfg = None
        if init_cfg is not None:
            cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
            for c in cfgs:
                if not isinstance(c, Mapping) or c.get("type") != "Pretrained" or "checkpoint" not in c:
                    raise ValueError(
                        f"MidwayViT: init_cfg={init_cfg!r} is not supported; the only init_cfg accepted is "
                        "dict(type='Pretrained', checkpoint=<path of a `midway export` file>) (the encoder is "
                        "initialised by timm otherwise)"
                    )
                if from_init_cfg is not None:
                    raise ValueError(f"MidwayViT: init_cfg={init_cfg!r} names more than one checkpoint")
                from_init_cfg = c["checkpoint"]
        if pretrained is not None and from_init_cfg is not None:
            raise ValueError(
                f"MidwayViT: both pretrained={pretrained!r} and init_cfg checkpoint={from_init_cfg!r} are set; "
                "give one of them"
            )
        weights = pretrained if pretrained is not None else from_init_cfg
        if weights is not None and not isinstance(weights, (str, Path)):
            raise ValueError(f"MidwayViT: pretrained must be a file path, got {type(weights).__name__} {weights!r}")
        return None if weights is None else str(weights)

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
    def _check_out_indices(
        out_indices: Optional[Union[int, Sequence[int]]], num_levels: int, cfg: MidwayConfig
    ) -> tuple[int, ...]:
        if out_indices is None:
            return tuple(range(num_levels))
        indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        bad = [i for i in indices if not isinstance(i, int) or isinstance(i, bool) or not -num_levels <= i < num_levels]
        if not indices or bad:
            raise ValueError(
                f"MidwayViT: out_indices={out_indices!r} must be positions in the {num_levels} feature levels "
                f"(blocks {tuple(cfg.feature_levels)}): integers in [0, {num_levels - 1}]"
            )
        return tuple(i % num_levels for i in indices)

    # ------------------------------------------------------------------ weights
    @staticmethod
    def _read_export(path: Union[str, Path]):
        """`load_export` with a message that says what this backbone expects."""
        try:
            return load_export(path)
        except MidwayExportError as err:
            raise MidwayExportError(
                f"MidwayViT cannot use {path} as pretrained weights: {err} (expected a safetensors file written "
                "by `midway export` or `midway import-official`)"
            ) from err

    def init_weights(self) -> None:
        """Loads the export named by ``pretrained`` (called by mmengine's runner before training).

        Without ``pretrained`` the encoder keeps timm's initialisation (logged as a warning: a frozen random
        backbone is almost certainly a mistake).
        """
        if self._is_init:
            _log("init_weights has been called more than once", logging.WARNING)
            return
        if self.weights is None:
            _log(
                "no pretrained weights (pretrained=None): the backbone stays randomly initialised"
                + (" and frozen" if self.frozen else ""),
                logging.WARNING,
            )
        else:
            self.load_export_weights(self.weights)
        self._is_init = True

    def load_export_weights(self, path: Union[str, Path]) -> None:
        """Loads encoder (and, for ``feature_source='backward'``, backward-layer) weights from a Midway export.

        Position embeddings are resampled to this backbone's grid. Missing keys, shape mismatches or an
        architecture that differs from the one built are errors; unexpected keys are logged by name; the
        dynamics weights a segmentation backbone does not use (midway path, forward predictors) are logged as
        skipped.

        Args:
            path: a safetensors file written by ``midway export`` / ``midway import-official``.

        Raises:
            FileNotFoundError: the file does not exist.
            MidwayExportError: the file is not a Midway export, lacks weights this backbone needs, or was
                exported from a different architecture (the message names the file and the keys/fields).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"MidwayViT: pretrained weights file {path} does not exist; write it with `midway export` (or set "
                "model.backbone.pretrained to an existing export)"
            )
        export = self._read_export(path)
        diff = _arch_differences(self.cfg, export.config)
        if diff:
            raise MidwayExportError(
                f"MidwayViT cannot load {path}: it was exported from a different architecture than the one built ("
                + ", ".join(f"{k}: built {a!r}, file {b!r}" for k, (a, b) in diff.items())
                + "); rebuild the model with the export present (its config then decides the architecture)"
            )

        vit = self.encoder.vit
        encoder_state = dict(export.encoder_state)
        if "pos_embed" in encoder_state and encoder_state["pos_embed"].shape != vit.pos_embed.shape:
            old = tuple(encoder_state["pos_embed"].shape)
            old_grid = round((old[1] - 1) ** 0.5)
            encoder_state["pos_embed"] = resample_pos_embed(
                encoder_state["pos_embed"],
                new_grid=vit.patch_embed.grid_size,
                old_grid=(old_grid, old_grid),
                mode=self.cfg.pos_embed_interp,
            )
            _log(
                f"resampled pos_embed of {path} from {old} to {tuple(vit.pos_embed.shape)} "
                f"(img_size {self.cfg.img_size}, {self.cfg.pos_embed_interp}'s interpolation)"
            )
        self._load_part(vit, encoder_state, path, "encoder", "")

        dynamics: dict[str, Tensor] = {}
        for key, value in export.dynamics_state.items():
            dynamics[key[len("dynamics.") :] if key.startswith("dynamics.") else key] = value
        backward_state = {k[len("backward.") :]: v for k, v in dynamics.items() if k.startswith("backward.")}
        skipped = [k for k in dynamics if not k.startswith("backward.")]
        if self.backward_blocks is not None:
            if not backward_state:
                raise MidwayExportError(
                    f"MidwayViT cannot load {path}: feature_source='backward' needs the backward-layer weights "
                    "(dynamics.backward.*), and the file has none (exported without dynamics?); use "
                    "feature_source='encoder' or an export of the full model"
                )
            self._load_part(self.backward_blocks, backward_state, path, "backward layers", "dynamics.backward.")
        else:
            skipped += ["backward." + k for k in backward_state]
        if skipped:
            _log(
                f"{len(skipped)} dynamics tensors of {path} are not used by this backbone "
                f"(feature_source={self.feature_source!r}) and were skipped"
            )
        _log(
            f"loaded {path} ({export.metadata.get('weights', 'unknown')} weights, "
            f"feature_source={self.feature_source!r}, frozen={self.frozen})"
        )

    @staticmethod
    def _load_part(module: nn.Module, state: Mapping[str, Tensor], path: Path, what: str, prefix: str) -> None:
        own = module.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatched = [
            f"{prefix}{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
            for k in own
            if k in state and tuple(state[k].shape) != tuple(own[k].shape)
        ]
        if missing or mismatched:
            problems = []
            if missing:
                problems.append(f"{len(missing)} missing {what} keys: {_format_keys([prefix + k for k in missing])}")
            if mismatched:
                problems.append(f"shape mismatches: {_format_keys(mismatched)}")
            raise MidwayExportError(f"MidwayViT cannot load {path}: " + "; ".join(problems))
        if unexpected:
            _log(
                f"{len(unexpected)} unexpected {what} keys in {path} were ignored: "
                + _format_keys([prefix + k for k in unexpected]),
                logging.WARNING,
            )
        module.load_state_dict({k: state[k] for k in own}, strict=True)

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
            One ``(B, D, ceil(H/p), ceil(W/p))`` map per ``out_indices`` entry.
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
