"""Typed configuration of the Midway network, one switch per ablation of the paper.

Defaults reproduce the released ViT-S configuration (``midway_bdd.yaml`` of the official code); every field says
where its default comes from (``docs/paper.md``, the paper facts this package cites).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

LevelLossReduction = Literal["sum", "mean"]
GateInput = Literal["previous", "own"]
MidwayTarget = Literal["backward", "raw"]
MotionTokenInit = Literal["zeros", "random"]
ClsTokenInit = Literal["timm", "dino"]
PosEmbedInterp = Literal["timm", "dino"]


@dataclass(frozen=True)
class MidwayConfig:
    """Architecture and loss configuration of :class:`~midway_plugin.models.MidwayNetwork`.

    Attributes:
        encoder: timm model name of the ViT (paper: ViT-S/16, ViT-B/16).
        encoder_kwargs: extra ``timm.create_model`` arguments (e.g. ``embed_dim``/``depth`` for tiny test models).
        img_size: pretraining resolution; other sizes divisible by the patch work through ``dynamic_img_size``
            (paper §4.1: 224).
        drop_path_rate: stochastic depth of the student encoder only (Table 8: 0.1; the dynamics nets run
            without it, docs/paper.md §1.2).
        feature_levels: 1-indexed encoder blocks whose normed outputs are the feature levels, low to high
            (code ``motion_feature_levels: [2, 5, 8, 11]`` → blocks 3, 6, 9, 12).
        latent_dynamics: Table 3 "Latent dyn.": off = the DINO-only base model, no dynamics networks at all.
        backward_layers: Table 3 "Backward": top-down cross-attention layers producing v_t (paper §3, B.1).
        multi_level: Table 3 "Multi-level": loss at every level below the top (3, 6, 9); off = only the
            highest objective level (9) [inferred: the first level of Algorithm 1's loop].
        refinement: Table 3 "Refinement": below the top, the midway path's source input is the previous level's
            prediction (PWC-Net style, code ``motion_pred_input: True``); off = the raw source features.
        gating: Table 3 "Gating": vector-wise gating of the residual in forward-predictor blocks 2..depth.
        midway_dim: midway path width (Table 5; code ``motion_dim: 192``).
        midway_depth: midway blocks per level (Table 5; code ``motion_depth: 4``).
        midway_heads: midway attention heads (code ``num_motion_heads: 3``; not in the paper).
        num_motion_tokens: learnable motion latent tokens (paper B.1: 10).
        forward_depth: forward predictor blocks per level (Table 5; code ``predictor_depth: 4``).
        forward_heads: forward predictor heads (code ``num_pred_heads: 6``, also for ViT-B).
        backward_heads: backward-layer heads (code ``num_feature_heads: 6``, also for ViT-B).
        gating_bias: offset added to the gate's sigmoid input so gates start near 1 (paper §3: +4).
        level_loss_reduction: "sum" as the code does (``midway_weights: [1, 1, 1]``) or "mean" as Eq. 3 writes.
        gate_input: "previous" = the released loop's one-block lag (the gate of block b is computed from block
            b-1's input); "own" = Eq. 2 (from the block's own input). docs/paper.md §1.10.2.
        midway_target: target-side midway input below the top: "backward" = teacher backward features v_{t+1}
            (code), "raw" = teacher encoder features z_{t+1} (Algorithm 1). docs/paper.md §1.10.3.
        motion_token_init: "zeros" as released (the tokens then stay identical, docs/paper.md §1.10.5) or "random"
            (truncated normal, std 0.02) for distinct latents.
        symmetric: both frame orderings (t→t+Δ and t+Δ→t) in every batch, as the code (docs/paper.md §1.10.4).
        cls_token_init: initial CLS token of a newly built encoder: "timm" (normal, std 1e-6, timm's ViT) or
            "dino" (truncated normal, std 0.02, as DINO's ViT and the released code). Loaded weights replace it.
        pos_embed_interp: how the encoder's position embedding is resampled to another patch grid (at load time
            and on the fly): "timm" (``resample_abs_pos_embed``, size-based) or "dino" (DINO's
            ``interpolate_pos_encoding``: bicubic with a ``(n + 0.1) / old`` scale factor); see
            :mod:`midway_plugin.models.pos_embed`.
    """

    encoder: str = "vit_small_patch16_224"
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    img_size: int = 224
    drop_path_rate: float = 0.1
    feature_levels: tuple[int, ...] = (3, 6, 9, 12)
    latent_dynamics: bool = True
    backward_layers: bool = True
    multi_level: bool = True
    refinement: bool = True
    gating: bool = True
    midway_dim: int = 192
    midway_depth: int = 4
    midway_heads: int = 3
    num_motion_tokens: int = 10
    forward_depth: int = 4
    forward_heads: int = 6
    backward_heads: int = 6
    gating_bias: float = 4.0
    level_loss_reduction: LevelLossReduction = "sum"
    gate_input: GateInput = "previous"
    midway_target: MidwayTarget = "backward"
    motion_token_init: MotionTokenInit = "zeros"
    symmetric: bool = True
    cls_token_init: ClsTokenInit = "timm"
    pos_embed_interp: PosEmbedInterp = "timm"

    _CHOICES = {
        "level_loss_reduction": ("sum", "mean"),
        "gate_input": ("previous", "own"),
        "midway_target": ("backward", "raw"),
        "motion_token_init": ("zeros", "random"),
        "cls_token_init": ("timm", "dino"),
        "pos_embed_interp": ("timm", "dino"),
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_levels", tuple(int(level) for level in self.feature_levels))
        object.__setattr__(self, "encoder_kwargs", dict(self.encoder_kwargs))
        for name, choices in self._CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"MidwayConfig.{name}={getattr(self, name)!r}; expected one of {choices}")
        levels = self.feature_levels
        if len(levels) < 2 or list(levels) != sorted(set(levels)) or levels[0] < 1:
            raise ValueError(f"MidwayConfig.feature_levels={levels}: need >= 2 increasing 1-indexed block numbers")
        for name in ("midway_dim", "midway_depth", "midway_heads", "num_motion_tokens", "forward_depth", "img_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"MidwayConfig.{name}={getattr(self, name)} must be >= 1")
        if self.midway_dim % self.midway_heads:
            raise ValueError(
                f"MidwayConfig.midway_dim={self.midway_dim} is not divisible by midway_heads={self.midway_heads}"
            )

    # -- construction helpers -------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> MidwayConfig:
        """A copy with some fields changed (validated like the constructor)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["feature_levels"] = list(self.feature_levels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MidwayConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MidwayConfig key(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def vit_small(cls, **changes: Any) -> MidwayConfig:
        """The released ViT-S/16 configuration (paper Table 9: 21.7 M encoder + 36.6 M dynamics)."""
        return cls(**changes)

    @classmethod
    def vit_base(cls, **changes: Any) -> MidwayConfig:
        """ViT-B/16. Midway width 192: the released ViT-B override (``motion_dim: 384``) is never read by the
        code, so ViT-B ran with 192 (docs/paper.md §1.2; ambiguous in the paper)."""
        return cls(encoder="vit_base_patch16_224", **changes)

    @classmethod
    def tiny(cls, **changes: Any) -> MidwayConfig:
        """A 4-block, width-48, patch-8 ViT at 32 px for tests and the CPU demo (not a paper model)."""
        base: dict[str, Any] = dict(
            encoder="vit_small_patch16_224",
            encoder_kwargs={"embed_dim": 48, "depth": 4, "num_heads": 3, "patch_size": 8},
            img_size=32,
            drop_path_rate=0.0,
            feature_levels=(1, 2, 3, 4),
            midway_dim=32,
            midway_depth=2,
            midway_heads=2,
            num_motion_tokens=4,
            forward_depth=2,
            forward_heads=3,
            backward_heads=3,
        )
        base.update(changes)
        return cls(**base)

    @classmethod
    def preset(cls, name: str, **changes: Any) -> MidwayConfig:
        """One of :data:`PRESET_NAMES`: ``"tiny"``, ``"vit-b16"`` or ``"vit-s16"``."""
        presets = {"vit-s16": cls.vit_small, "vit-b16": cls.vit_base, "tiny": cls.tiny}
        if name not in presets:
            raise ValueError(f"unknown Midway preset {name!r}; expected one of {list(PRESET_NAMES)}")
        return presets[name](**changes)


#: Names accepted by :meth:`MidwayConfig.preset`.
PRESET_NAMES = ("tiny", "vit-b16", "vit-s16")
