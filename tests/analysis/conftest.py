"""Fixtures for the perturbation-analysis tests: tiny Midway models, random and hand-built.

The hand-built model makes the real code path (encoder → backward layers → ``predict_level``) compute a known
function, with weights set by hand:

* encoder: every ViT block is an identity (attention and MLP output projections zeroed), so each feature level is
  ``LN(content(patch) + code(position))``: ``content`` is a random linear function of the patch pixels on channels
  16..47 (in ± pairs, so it has zero mean), ``code`` a one-hot of the token's grid position on channels 0..15;
* backward layers: identities (output projections zeroed), so v_t^l = z_t^l;
* forward predictor (tiny: 2 blocks): block 1 is an identity; block 2's attention reads only the position code,
  with queries mapped through a cyclic grid shift, so output token q copies (value = identity) the input token at
  q - shift; its gate is forced to 0 (gating unit bias -1e4), which removes the residual. Motion tokens are zero.

So the predictor moves every token by ``shift`` on the 4x4 grid: a perturbation of source token p must land on
p + shift. Variants: ``gating=False`` keeps the residual (paper Figure 6's red-border case), ``identity=True``
zeroes the attention output, leaving an identity predictor.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from midway_plugin.models import MidwayConfig, MidwayNetwork

GRID = (4, 4)
CODE = 16
CODE_SCALE = 4.0
QUERY_SCALE = 6000.0


def shifted_index(index: int, shift: tuple[int, int], grid: tuple[int, int] = GRID) -> int:
    """Row-major index of the token ``shift = (rows, cols)`` away from ``index`` (cyclic)."""
    r, c = divmod(index, grid[1])
    return ((r + shift[0]) % grid[0]) * grid[1] + (c + shift[1]) % grid[1]


def _zero(*linears: torch.nn.Module) -> None:
    for lin in linears:
        lin.weight.zero_()
        if lin.bias is not None:
            lin.bias.zero_()


@torch.no_grad()
def build_hand_model(
    shift: tuple[int, int] = (1, 2),
    *,
    gating: bool = True,
    identity: bool = False,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> MidwayNetwork:
    """The hand-built tiny Midway model described in the module docstring."""
    torch.manual_seed(seed)
    model = MidwayNetwork(MidwayConfig.tiny(gating=gating), with_teacher=False).eval()
    dim = model.encoder.embed_dim
    heads = model.encoder.num_heads
    head_dim = dim // heads
    assert GRID == (32 // model.encoder.patch_size,) * 2 and CODE <= head_dim and dim - CODE == 32

    vit = model.encoder.vit
    for blk in vit.blocks:
        _zero(blk.attn.proj, blk.mlp.fc2)
    proj = vit.patch_embed.proj
    proj.weight.zero_()
    proj.bias.zero_()
    filters = torch.randn(16, 3, *proj.kernel_size) / math.sqrt(3 * proj.kernel_size[0] * proj.kernel_size[1])
    proj.weight[CODE::2] = filters
    proj.weight[CODE + 1 :: 2] = -filters
    vit.pos_embed.zero_()
    vit.pos_embed[0, 1:, :CODE] = CODE_SCALE * torch.eye(CODE)
    cls = torch.randn(16)
    vit.cls_token.zero_()
    vit.cls_token[0, 0, CODE::2] = cls
    vit.cls_token[0, 0, CODE + 1 :: 2] = -cls

    for block in model.backward.values():
        _zero(block.attn.proj, block.cross_attn.proj, block.mlp.fc2)
    _zero(model.midway.motion_proj)

    perm = torch.tensor([shifted_index(j, shift) for j in range(CODE)])
    for predictor in model.predictor.values():
        first, second = predictor.blocks
        _zero(first.attn.proj, first.mlp.fc2, second.mlp.fc2)
        qkv = second.attn.qkv
        _zero(qkv)
        for h in range(heads):
            rows = h * head_dim + torch.arange(CODE)
            qkv.weight[rows, perm] = QUERY_SCALE / CODE_SCALE**2  # query of token q = code of q - shift
            qkv.weight[dim + rows, torch.arange(CODE)] = 1.0  # key of token k = its code
        qkv.weight[2 * dim :] = torch.eye(dim)  # value = the token itself
        second.attn.proj.weight.copy_(torch.eye(dim))
        second.attn.proj.bias.zero_()
        if identity:
            _zero(second.attn.proj)
        if predictor.gates is not None:
            gate = predictor.gates[0]
            gate.fc2.weight.zero_()
            gate.fc2.bias.fill_(-1e4)  # sigmoid(-1e4 + 4) == 0: the residual of the spatial tokens is dropped
    return model.to(dtype)


def random_frame(seed: int, size: int = 32) -> np.ndarray:
    """A ``(size, size, 3)`` uint8 noise image: every patch has distinct content."""
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def rolled_clip(frame: np.ndarray, shift: tuple[int, int], steps: int, patch: int = 8) -> np.ndarray:
    """Frames ``frame`` rolled by ``t * shift`` tokens (cyclic), t = 0..steps-1: ``(T, H, W, 3)``."""
    return np.stack([np.roll(frame, (t * shift[0] * patch, t * shift[1] * patch), axis=(0, 1)) for t in range(steps)])


def write_video(path: Path, frames: np.ndarray, fps: int = 30) -> Path:
    """Write uint8 frames as a lossless H.264 mp4 (yuv444p, qp 0) with imageio-ffmpeg; decord reads it."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv444p",
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=["-qp", "0"],
    )
    writer.send(None)
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
    return path


@pytest.fixture(scope="session")
def hand_model():
    """The :func:`build_hand_model` builder."""
    return build_hand_model


@pytest.fixture(scope="session")
def helpers():
    """Helper functions (test modules cannot import conftest under --import-mode=importlib)."""
    return {
        "shifted_index": shifted_index,
        "random_frame": random_frame,
        "rolled_clip": rolled_clip,
        "write_video": write_video,
        "grid": GRID,
    }


@pytest.fixture()
def tiny_model():
    """A randomly initialised tiny Midway model (no teacher), eval mode, with its predictors perturbed so that
    attention and gates are far from their near-uniform initialisation."""

    def make(dtype: torch.dtype = torch.float32, seed: int = 0, **changes) -> MidwayNetwork:
        torch.manual_seed(seed)
        model = MidwayNetwork(MidwayConfig.tiny(**changes), with_teacher=False).eval()
        with torch.no_grad():
            for p in model.predictor.parameters():
                p.add_(0.3 * torch.randn_like(p))
        return model.to(dtype)

    return make
