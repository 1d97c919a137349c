"""Key names and tensor shapes of a checkpoint written by the official Midway pretraining code (torch only).

A description of the released files, written from reading the official implementation
(agentic-learning-ai-lab/midway-network, GPL-3.0; none of its code is reused): the entries its training loop
saves, the module names of the DINO multi-crop wrapper, the ViT, the DINO head and the dynamics module, and the
shape of every tensor. :mod:`~midway_plugin.official.convert` converts such files; the tests build
checkpoints from this description (see ``docs/official-checkpoints.md`` for the table in prose).

Saved entries (one file per save, ``checkpoint.pth`` / ``checkpointNNNN.pth``):

* ``student``: the DDP-wrapped multi-crop wrapper, so every key starts with ``module.``; the wrapper holds the ViT
  as ``backbone`` and the DINO projection head as ``dino_head``.
* ``teacher``: the same wrapper without DDP (no batch norm in the released head), so ``backbone.*`` /
  ``dino_head.*`` without prefix.
* ``motion_loss``: the DDP-wrapped dynamics module (``module.`` prefix), see :func:`dynamics_shapes`.
* ``dino_loss``: the DINO loss module's state, a single buffer ``center`` of shape ``(1, out_dim)``.
* ``optimizer`` (AdamW state dict), ``fp16_scaler`` (GradScaler state dict, with fp16 on), ``epoch`` (int: the
  next epoch; with BDD's repeat sampling it advances by R = 5 per pass) and ``args`` (the hydra/omegaconf
  ``DictConfig`` of the run).

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), App. B.1 (architecture), Table 8 (recipe).
"""

from __future__ import annotations

from dataclasses import dataclass

Shapes = dict[str, tuple[int, ...]]

#: Entries of a saved official checkpoint that carry training state but no network weights.
TRAINING_STATE_ENTRIES = ("optimizer", "fp16_scaler", "epoch", "args")


@dataclass(frozen=True)
class OfficialLayout:
    """The hyperparameters that decide the key set and shapes of an official checkpoint.

    Defaults are the released ViT-S/16 BDD100K configuration (ViT-S: width 384, 6 heads, 12 blocks; DINO head
    2048 / 256 / 65,536; dynamics at the outputs of blocks 3, 6, 9, 12, i.e. 3 objective levels; midway width
    192 with 4 blocks and 10 tokens; forward predictor depth 4 with vector gating; one backward cross block per
    level; the CLS token kept in the dynamics' token set).
    """

    embed_dim: int = 384
    depth: int = 12
    patch_size: int = 16
    img_size: int = 224
    head_out_dim: int = 65536
    head_hidden_dim: int = 2048
    head_bottleneck_dim: int = 256
    num_levels: int = 4
    motion_dim: int = 192
    motion_depth: int = 4
    motion_tokens: int = 10
    predictor_depth: int = 4
    gating: bool = True
    backward_layers: bool = True

    @classmethod
    def vit_small(cls, **changes: object) -> OfficialLayout:
        """``midway-bdd-vit-s-ep300.pth`` and ``midway-wt-venice-vit-s-ep100.pth``."""
        return cls(**changes)  # type: ignore[arg-type]

    @classmethod
    def vit_base(cls, **changes: object) -> OfficialLayout:
        """``midway-bdd-vit-b-ep300.pth``: width 768; the midway width stays 192 (the released ViT-B override of
        it sits under a config key the code never reads)."""
        return cls(embed_dim=768, **changes)  # type: ignore[arg-type]

    @property
    def num_tokens(self) -> int:
        """Tokens per frame the dynamics see: the CLS token + the patch grid."""
        return 1 + (self.img_size // self.patch_size) ** 2


def _linear(prefix: str, out_dim: int, in_dim: int, bias: bool = True) -> Shapes:
    shapes: Shapes = {f"{prefix}.weight": (out_dim, in_dim)}
    if bias:
        shapes[f"{prefix}.bias"] = (out_dim,)
    return shapes


def _layer_norm(prefix: str, dim: int) -> Shapes:
    return {f"{prefix}.weight": (dim,), f"{prefix}.bias": (dim,)}


def _mlp(prefix: str, dim: int, hidden: int) -> Shapes:
    return {**_linear(f"{prefix}.fc1", hidden, dim), **_linear(f"{prefix}.fc2", dim, hidden)}


def self_block_shapes(prefix: str, dim: int, qkv_bias: bool) -> Shapes:
    """A pre-norm transformer block: ``norm1``, ``attn.qkv`` (fused), ``attn.proj``, ``norm2``, ``mlp.fc1/fc2``
    (hidden 4 x width). The ViT's blocks have a qkv bias; the dynamics module's blocks do not."""
    return {
        **_layer_norm(f"{prefix}.norm1", dim),
        **_linear(f"{prefix}.attn.qkv", 3 * dim, dim, bias=qkv_bias),
        **_linear(f"{prefix}.attn.proj", dim, dim),
        **_layer_norm(f"{prefix}.norm2", dim),
        **_mlp(f"{prefix}.mlp", dim, 4 * dim),
    }


def cross_block_shapes(prefix: str, dim: int) -> Shapes:
    """A backward cross block: self-attention (``norm1``, ``attn``), cross-attention with separate, bias-free
    ``projq`` / ``projk`` / ``projv`` and a biased ``proj`` (query normed by ``norm2``, memory by ``norm_y``), then
    ``norm3`` + MLP."""
    return {
        **_layer_norm(f"{prefix}.norm1", dim),
        **_linear(f"{prefix}.attn.qkv", 3 * dim, dim, bias=False),
        **_linear(f"{prefix}.attn.proj", dim, dim),
        **_linear(f"{prefix}.cross_attn.projq", dim, dim, bias=False),
        **_linear(f"{prefix}.cross_attn.projk", dim, dim, bias=False),
        **_linear(f"{prefix}.cross_attn.projv", dim, dim, bias=False),
        **_linear(f"{prefix}.cross_attn.proj", dim, dim),
        **_layer_norm(f"{prefix}.norm2", dim),
        **_layer_norm(f"{prefix}.norm3", dim),
        **_layer_norm(f"{prefix}.norm_y", dim),
        **_mlp(f"{prefix}.mlp", dim, 4 * dim),
    }


def vit_shapes(layout: OfficialLayout) -> Shapes:
    """The DINO-style ViT (names shared with timm): CLS token, learned position embedding, conv patch embedding,
    ``blocks.N``, final ``norm``. No register tokens in the released runs; the classifier head is an identity."""
    d, p = layout.embed_dim, layout.patch_size
    shapes: Shapes = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, layout.num_tokens, d),
        "patch_embed.proj.weight": (d, 3, p, p),
        "patch_embed.proj.bias": (d,),
    }
    for b in range(layout.depth):
        shapes.update(self_block_shapes(f"blocks.{b}", d, qkv_bias=True))
    shapes.update(_layer_norm("norm", d))
    return shapes


def dino_head_shapes(layout: OfficialLayout) -> Shapes:
    """DINO's projection head without batch norm: ``mlp.0`` (width → hidden), GELU, ``mlp.2`` (hidden → hidden),
    GELU, ``mlp.4`` (hidden → bottleneck), L2 normalisation, then the weight-normalised, bias-free ``last_layer``
    stored as ``weight_g`` ``(out, 1)`` and ``weight_v`` ``(out, bottleneck)``."""
    h, b = layout.head_hidden_dim, layout.head_bottleneck_dim
    return {
        **_linear("mlp.0", h, layout.embed_dim),
        **_linear("mlp.2", h, h),
        **_linear("mlp.4", b, h),
        "last_layer.weight_g": (layout.head_out_dim, 1),
        "last_layer.weight_v": (layout.head_out_dim, b),
    }


def wrapper_shapes(layout: OfficialLayout, prefix: str = "") -> Shapes:
    """The multi-crop wrapper: ``<prefix>backbone.*`` (ViT) and ``<prefix>dino_head.*``."""
    shapes = {f"{prefix}backbone.{k}": v for k, v in vit_shapes(layout).items()}
    shapes.update({f"{prefix}dino_head.{k}": v for k, v in dino_head_shapes(layout).items()})
    return shapes


def dynamics_shapes(layout: OfficialLayout, prefix: str = "") -> Shapes:
    """The dynamics module, one set of networks per objective level ``i`` (0 = lowest of the ``num_levels - 1``):

    * ``student_feature_blocks_i.0`` and its EMA copy ``teacher_feature_blocks_i.0``: the backward cross block;
    * ``motion_blocks_i.J`` (J < motion_depth): the midway path's blocks at the midway width, no qkv bias;
    * ``forward_predictor_i.J`` (J < predictor_depth): forward predictor blocks at the encoder width, no qkv bias;
    * ``gating_mlps_i.G`` (G < predictor_depth - 1): the gate of predictor block G + 1: ``norm_layer`` then
      ``mlp.fc1`` / ``mlp.fc2`` (width → width → width);

    and, shared across levels: ``student_embed`` (width → midway width) with its EMA copy ``teacher_embed``,
    ``motion_proj`` (midway width → width), the learned ``pos_embed`` ``(1, 2 x tokens per frame, midway width)``
    (source half then target half) and the ``motion_tokens`` ``(1, tokens, midway width)``.
    """
    d, md = layout.embed_dim, layout.motion_dim
    shapes: Shapes = {
        "pos_embed": (1, 2 * layout.num_tokens, md),
        "motion_tokens": (1, layout.motion_tokens, md),
        **_linear("student_embed", md, d),
        **_linear("teacher_embed", md, d),
        **_linear("motion_proj", d, md),
    }
    for i in range(layout.num_levels - 1):
        if layout.backward_layers:
            shapes.update(cross_block_shapes(f"student_feature_blocks_{i}.0", d))
            shapes.update(cross_block_shapes(f"teacher_feature_blocks_{i}.0", d))
        for j in range(layout.motion_depth):
            shapes.update(self_block_shapes(f"motion_blocks_{i}.{j}", md, qkv_bias=False))
        for j in range(layout.predictor_depth):
            shapes.update(self_block_shapes(f"forward_predictor_{i}.{j}", d, qkv_bias=False))
        if layout.gating:
            for g in range(layout.predictor_depth - 1):
                shapes.update(_layer_norm(f"gating_mlps_{i}.{g}.norm_layer", d))
                shapes.update(_mlp(f"gating_mlps_{i}.{g}.mlp", d, d))
    return {f"{prefix}{k}": v for k, v in shapes.items()}


def official_checkpoint_shapes(layout: OfficialLayout | None = None) -> dict[str, Shapes]:
    """``{entry: {key: shape}}`` for the tensor entries of an official checkpoint (``student``, ``teacher``,
    ``motion_loss``, ``dino_loss``), prefixes included; :data:`TRAINING_STATE_ENTRIES` hold no weights."""
    layout = layout or OfficialLayout()
    return {
        "student": wrapper_shapes(layout, prefix="module."),
        "teacher": wrapper_shapes(layout),
        "motion_loss": dynamics_shapes(layout, prefix="module."),
        "dino_loss": {"center": (1, layout.head_out_dim)},
    }
