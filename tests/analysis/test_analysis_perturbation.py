"""Forwarded-feature perturbation heatmaps: JVP correctness and the paper's Figure 6 contrast on hand-built models."""

from __future__ import annotations

import pytest
import torch

from midway_plugin.analysis import (
    AnalysisError,
    PerturbationPair,
    available_levels,
    default_level,
    perturbation_heatmaps,
    prepare_pair,
    resolve_level,
    tangent_cosines,
)
from midway_plugin.analysis.frames import normalize_frames, point_to_token
from midway_plugin.models import MidwayConfig, MidwayNetwork

SHIFT = (1, 2)


def _pair(model: MidwayNetwork, height: int = 32, width: int = 48, seed: int = 0) -> PerturbationPair:
    gen = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    frames = torch.randn(2, 3, height, width, generator=gen, dtype=torch.float64).to(dtype)
    return prepare_pair(model, frames[:1], frames[1:], resolve_level(model, None))


def _finite_difference_cosines(model, pair, points, tangents, eps=1e-6):
    """Central differences (f(v + εr) − f(v − εr)) / 2ε of predict_level, cosine with r per target token."""
    out = torch.empty(tangents.shape[0], tangents.shape[1], pair.num_spatial, dtype=torch.float64)
    prefix = pair.num_prefix_tokens
    with torch.no_grad():
        for a, p in enumerate(points):
            for k in range(tangents.shape[1]):
                direction = torch.zeros_like(pair.inputs)
                direction[0, prefix + p] = tangents[a, k]
                plus = model.predict_level(pair.level_index, pair.inputs + eps * direction, pair.motion)
                minus = model.predict_level(pair.level_index, pair.inputs - eps * direction, pair.motion)
                dz = ((plus - minus) / (2 * eps))[0, prefix:]
                out[a, k] = torch.nn.functional.cosine_similarity(dz, tangents[a, k].expand_as(dz), dim=-1)
    return out


@pytest.mark.parametrize("method", ["vmap", "expand"])
def test_jvp_heatmap_matches_finite_differences(tiny_model, method):
    model = tiny_model(torch.float64)
    pair = _pair(model)
    assert pair.grid == (4, 6) and pair.inputs.shape == (1, 1 + 24, 48)
    points = [0, 7, 23]
    tangents = torch.randn(len(points), 3, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    jvp_cos = tangent_cosines(model, pair, points, tangents, chunk_size=4, method=method)
    fd_cos = _finite_difference_cosines(model, pair, points, tangents)
    assert jvp_cos.shape == (3, 3, 24)
    assert fd_cos.std() > 0.05  # a non-trivial map (random, perturbed predictor weights)
    torch.testing.assert_close(jvp_cos, fd_cos, atol=1e-6, rtol=0)


def test_heatmap_is_reproducible_batched_and_excludes_cls(tiny_model):
    model = tiny_model(torch.float32, gating=False)
    pair = _pair(model)

    def heat(seed, **kw):
        gen = torch.Generator().manual_seed(seed)
        return perturbation_heatmaps(model, pair, [0, 5, 23], repeats=4, generator=gen, **kw)

    a = heat(0)
    assert a.shape == (3, 4, 6)  # the CLS token is in the sequence but not in the spatial map
    torch.testing.assert_close(heat(0, chunk_size=5, method="expand"), a, atol=1e-5, rtol=0)
    assert not torch.allclose(heat(1), a)
    # One point at a time gives the same cosines as the batch (the batch only vectorises).
    tangents = torch.randn(3, 2, 48, generator=torch.Generator().manual_seed(2))
    batched = tangent_cosines(model, pair, [0, 5, 23], tangents)
    single = tangent_cosines(model, pair, [5], tangents[1:2])
    torch.testing.assert_close(single[0], batched[1], atol=1e-5, rtol=0)
    with pytest.raises(AnalysisError, match=r"out of range \[0, 24\)"):
        perturbation_heatmaps(model, pair, [24], repeats=2)
    with pytest.raises(AnalysisError, match="repeats must be >= 1"):
        perturbation_heatmaps(model, pair, [0], repeats=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_shift_predictor_heatmap_peaks_at_shifted_location(hand_model, helpers, dtype):
    """Target frame = source frame moved by SHIFT tokens; the gated predictor moves tokens by SHIFT."""
    model = hand_model(SHIFT, gating=True, dtype=dtype)
    clip = helpers["rolled_clip"](helpers["random_frame"](0), SHIFT, 2)
    frames = normalize_frames(clip).to(dtype)
    pair = prepare_pair(model, frames[:1], frames[1:], resolve_level(model, None))
    heat, gains = perturbation_heatmaps(
        model, pair, list(range(16)), repeats=4, generator=torch.Generator().manual_seed(0), return_gains=True
    )
    heat, gains = heat.reshape(16, 16), gains.reshape(16, 16)
    expected = torch.tensor([helpers["shifted_index"](p, SHIFT) for p in range(16)])
    assert torch.equal(heat.argmax(dim=1), expected)
    assert heat[torch.arange(16), expected].min() > 0.9
    assert heat.diagonal().abs().max() < 0.1  # the gate removed the source token's residual
    off_peak = heat.clone()
    off_peak[torch.arange(16), expected] = 0
    assert off_peak.abs().max() < 0.5
    assert gains[torch.arange(16), expected].min() > 0.5 and gains.diagonal().max() < 1e-6


def test_without_gating_the_source_keeps_its_peak(hand_model, helpers):
    """Figure 6's contrast: without gating the residual carries the source token to the same place."""
    clip = helpers["rolled_clip"](helpers["random_frame"](1), SHIFT, 2)
    frames = normalize_frames(clip).double()
    expected = torch.tensor([helpers["shifted_index"](p, SHIFT) for p in range(16)])

    identity = hand_model(SHIFT, gating=False, identity=True)
    pair = prepare_pair(identity, frames[:1], frames[1:], resolve_level(identity, None))
    heat = perturbation_heatmaps(identity, pair, list(range(16)), repeats=4).reshape(16, 16)
    assert torch.equal(heat.argmax(dim=1), torch.arange(16))
    torch.testing.assert_close(heat, torch.eye(16, dtype=heat.dtype), atol=1e-9, rtol=0)

    # Same shifting attention as the gated model, but no gate: the source location still lights up fully.
    ungated = hand_model(SHIFT, gating=False)
    pair = prepare_pair(ungated, frames[:1], frames[1:], resolve_level(ungated, None))
    heat = perturbation_heatmaps(ungated, pair, list(range(16)), repeats=4).reshape(16, 16)
    assert heat.diagonal().min() > 0.99
    assert torch.equal(heat.argmax(dim=1), torch.arange(16))
    assert heat[torch.arange(16), expected].min() > 0.9  # the attention's copy is there too


def test_level_resolution_and_errors():
    model = MidwayNetwork(MidwayConfig.tiny(), with_teacher=False)
    assert available_levels(model) == (1, 2, 3)
    assert default_level(model) == 3 and resolve_level(model, None) == 3 and resolve_level(model, 1) == 1
    with pytest.raises(AnalysisError, match=r"level 4 has no forward predictor.*\[1, 2, 3\]"):
        resolve_level(model, 4)
    single = MidwayNetwork(MidwayConfig.tiny(multi_level=False), with_teacher=False)
    with pytest.raises(AnalysisError, match=r"level 1 .*\[3\]"):
        resolve_level(single, 1)
    without = MidwayNetwork(MidwayConfig.tiny(latent_dynamics=False), with_teacher=False)
    with pytest.raises(AnalysisError, match="latent_dynamics=False"):
        resolve_level(without, None)


def test_teacher_models_and_wrong_frames(tiny_model):
    torch.manual_seed(0)
    model = MidwayNetwork(MidwayConfig.tiny(), with_teacher=True).eval()
    frames = torch.randn(2, 3, 32, 32)
    pair = prepare_pair(model, frames[:1], frames[1:], 2)
    assert pair.level_block == 2 and pair.grid == (4, 4)
    assert perturbation_heatmaps(model, pair, [3], repeats=2).shape == (1, 4, 4)
    with pytest.raises(AnalysisError, match="differ in shape"):
        prepare_pair(model, frames[:1], frames[1:, :, :24], 2)
    with pytest.raises(AnalysisError, match="not divisible by the patch size 8"):
        prepare_pair(model, frames[:1, :, :30, :30], frames[1:, :, :30, :30], 2)


def test_point_to_token_and_errors():
    assert point_to_token((0, 0), (32, 48), 8) == (0, 0)
    assert point_to_token((47.9, 31), (32, 48), 8) == (3, 5)
    with pytest.raises(AnalysisError, match=r"x,y = 48,3 lies outside the 48x32 \(width x height\) frame"):
        point_to_token((48, 3), (32, 48), 8)
    with pytest.raises(AnalysisError, match=r"-1,3"):
        point_to_token((-1, 3), (32, 48), 8)
