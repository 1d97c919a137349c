"""Tests of the core Midway network (issue 3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from midway_plugin.models import (
    MidwayConfig,
    MidwayExportError,
    MidwayNetwork,
    build_from_export,
    load_export,
    load_timm_vit,
    save_export,
    unfused_attention,
)


def tiny(**changes) -> MidwayNetwork:
    torch.manual_seed(0)
    return MidwayNetwork(MidwayConfig.tiny(**changes))


def frames(b: int = 2, h: int = 32, w: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g), torch.randn(b, 3, h, w, generator=g)


def test_vit_s_dynamics_parameter_count_matches_table9() -> None:
    model = MidwayNetwork(MidwayConfig.vit_small(), with_teacher=False)
    dynamics = sum(p.numel() for p in model.dynamics_parameters())
    encoder = sum(p.numel() for p in model.encoder.parameters())
    parts = {name: sum(p.numel() for p in m.parameters()) for name, m in model.dynamics_modules().items()}
    print(f"ViT-S dynamics networks: {dynamics:,} parameters {parts}; encoder {encoder:,}")
    assert round(dynamics / 1e6, 1) == 36.6  # Table 9
    assert dynamics == 36_600_000  # the released modules (no qkv bias) count exactly 36.6 M
    assert round(encoder / 1e6, 1) == 21.7  # Table 9
    # Hand count (docs/paper.md §1.9): 12 midway blocks, 12 forward blocks, 3 cross blocks, 9 gating MLPs.
    d, D = 192, 384
    midway_blocks = 12 * (12 * d * d + 10 * d)
    forward_blocks = 12 * (12 * D * D + 10 * D)
    cross_blocks = 3 * (16 * D * D + 7 * D + 8 * D)
    gates = 9 * (2 * D * D + 4 * D)
    small = (D * d + d) + (d * D + D) + 2 * 197 * d + 10 * d
    assert dynamics == midway_blocks + forward_blocks + cross_blocks + gates + small


@pytest.mark.parametrize("size", [(32, 32), (48, 32), (16, 64)])
def test_shapes_for_multiples_of_the_patch(size: tuple[int, int]) -> None:
    model = tiny()
    x, y = frames(2, *size)
    levels = model.encoder(x)
    n = 1 + (size[0] // 8) * (size[1] // 8)
    assert [tuple(t.shape) for t in levels] == [(2, n, 48)] * 4
    out = model(x, y)
    assert torch.isfinite(out.loss)
    assert set(out.level_losses) == {"level1", "level2", "level3"}
    dyn = out.dynamics
    assert {i: tuple(p.shape) for i, p in dyn.predictions.items()} == {i: (4, n, 48) for i in range(3)}
    assert tuple(dyn.midway_target_tokens.shape) == (4, n, 32)
    assert all(tuple(m.shape) == (4, 4, 32) for m in dyn.motion.values())


def test_vit_s_at_224_and_other_sizes() -> None:
    model = MidwayNetwork(MidwayConfig.vit_small(), with_teacher=False)
    with torch.no_grad():
        for h, w in [(224, 224), (160, 96)]:
            levels = model.encoder(torch.randn(1, 3, h, w))
            assert [tuple(t.shape) for t in levels] == [(1, 1 + h * w // 256, 384)] * 4
            dyn = model.run_dynamics(levels, levels, teacher=False, grid=(h // 16, w // 16))
            assert tuple(dyn.predictions[0].shape) == (1, 1 + h * w // 256, 384)


def test_bad_image_size_is_named() -> None:
    model = tiny()
    with pytest.raises(ValueError, match="30x32 is not divisible by the patch size 8"):
        model.encoder(torch.randn(1, 3, 30, 32))


def test_levels_are_normed_block_outputs_with_cls() -> None:
    model = tiny()
    x, _ = frames(1)
    vit = model.encoder.vit
    tokens = vit._pos_embed(vit.patch_embed(x))
    expected = []
    for block in vit.blocks:
        tokens = block(tokens)
        expected.append(vit.norm(tokens))
    for got, want in zip(model.encoder(x), expected):
        torch.testing.assert_close(got, want)


def test_gradients_reach_student_never_teacher() -> None:
    model = tiny()
    x, y = frames()
    model(x, y).loss.backward()
    assert model.encoder.vit.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    for name, module in model.dynamics_modules().items():
        grads = [p.grad for p in module.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    for name, module in model.teacher_modules().items():
        assert all(p.grad is None and not p.requires_grad for p in module.parameters()), name


def test_gates_start_at_sigmoid_4() -> None:
    model = tiny()
    x, _ = frames()
    v = model.encoder(x)[0]
    m = model.midway.initial_motion(2)
    _, gates = model.predictor["level1"](model.midway.motion_proj(m), v, return_gates=True)
    assert len(gates) == model.cfg.forward_depth - 1
    for g in gates:
        assert abs(g.mean().item() - 1 / (1 + math.exp(-4))) < 0.01
    assert abs(1 / (1 + math.exp(-4)) - 0.982) < 1e-3


def test_update_teacher_is_an_ema() -> None:
    model = tiny()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    before = model.teacher_encoder.vit.cls_token.clone()
    model.update_teacher(0.75)
    student = model.encoder.vit.cls_token
    torch.testing.assert_close(model.teacher_encoder.vit.cls_token, 0.75 * before + 0.25 * student)


# -- a plain-loop reference of Algorithm 1, written independently of MidwayNetwork.run_dynamics -----------------
def reference_loss(model: MidwayNetwork, x_src: torch.Tensor, x_tgt: torch.Tensor) -> torch.Tensor:
    cfg = model.cfg
    losses = []
    for a, b in [(x_src, x_tgt), (x_tgt, x_src)]:
        for n in range(a.shape[0]):
            z_s = [t[n : n + 1] for t in model.encoder(a)]
            with torch.no_grad():
                z_t = [t[n : n + 1] for t in model.teacher_encoder(b)]
            levels = len(z_s)
            v_s = {levels - 1: z_s[-1]}
            v_t = {levels - 1: z_t[-1]}
            for level in range(levels - 2, -1, -1):
                key = f"level{cfg.feature_levels[level]}"
                v_s[level] = model.backward[key](z_s[level], v_s[level + 1])
                v_t[level] = model.teacher_backward[key](z_t[level], v_t[level + 1]).detach()
            m = model.midway.motion_tokens
            pred_above = None
            per_sample = 0.0
            for level in range(levels - 2, -1, -1):
                key = f"level{cfg.feature_levels[level]}"
                src_in = z_s[level + 1] if pred_above is None else pred_above
                tgt_in = z_t[level + 1] if pred_above is None else v_t[level + 1]
                k = m.shape[1]
                half = model.midway.pos_embed.shape[1] // 2
                seq = torch.cat(
                    [
                        m,
                        model.midway.src_embed(src_in) + model.midway.pos_embed[:, :half],
                        model.teacher_embed(tgt_in).detach() + model.midway.pos_embed[:, half:],
                    ],
                    dim=1,
                )
                for blk in model.midway.blocks[key]:
                    seq = blk(seq)
                m = seq[:, :k] if pred_above is None else seq[:, :k] + m
                x = torch.cat([model.midway.motion_proj(m), v_s[level]], dim=1)
                inputs = [x]
                for bi, blk in enumerate(model.predictor[key].blocks):
                    y = blk.attn(blk.norm1(x))
                    if bi > 0:
                        g = model.predictor[key].gates[bi - 1](inputs[bi - 1][:, k:])
                        x = torch.cat([x[:, :k], x[:, k:] * g], dim=1) + y
                    else:
                        x = x + y
                    x = x + blk.mlp(blk.norm2(x))
                    inputs.append(x)
                pred = x[:, k:]
                target = z_t[level]
                cos = F.cosine_similarity(pred, target, dim=-1)
                per_sample = per_sample + (2 - 2 * cos).mean()
                pred_above = pred
            losses.append(per_sample)
    return torch.stack(losses).mean()


def test_vectorised_loss_matches_plain_loop_reference() -> None:
    model = tiny(motion_token_init="random").eval()
    with torch.no_grad():  # make the teacher differ from the student
        for p in model.teacher_encoder.parameters():
            p.add_(0.01 * torch.randn_like(p))
        for p in model.teacher_backward.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x, y = frames(2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, y).loss, reference_loss(model, x, y), rtol=1e-4, atol=1e-5)


def test_jvp_through_forward_predictor_matches_finite_differences() -> None:
    model = tiny().double()
    x, _ = frames(1)
    v = model.encoder(x.double())[1].detach()
    m = torch.randn(1, 4, 32, dtype=torch.float64)
    tangent = torch.zeros_like(v)
    tangent[0, 3] = torch.randn(48, dtype=torch.float64)
    with unfused_attention(model):
        _, out_tangent = torch.func.jvp(lambda t: model.predict_level(1, t, m), (v,), (tangent,))
        eps = 1e-6
        fd = (model.predict_level(1, v + eps * tangent, m) - model.predict_level(1, v - eps * tangent, m)) / (2 * eps)
    torch.testing.assert_close(out_tangent, fd, rtol=1e-5, atol=1e-7)


# -- switches ---------------------------------------------------------------------------------------------------
def test_no_latent_dynamics_has_no_dynamics_and_zero_loss() -> None:
    model = tiny(latent_dynamics=False)
    assert sum(p.numel() for p in model.dynamics_parameters()) == 0
    assert not model.dynamics_modules()
    out = model(*frames())
    assert out.loss.item() == 0 and out.level_losses == {}


def test_no_backward_layers_feeds_raw_features() -> None:
    model = tiny(backward_layers=False)
    assert not hasattr(model, "backward") and not hasattr(model, "teacher_backward")
    x, _ = frames()
    levels = model.encoder(x)
    dyn = model.run_dynamics(levels, levels, teacher=False)
    for i in range(3):
        assert dyn.backward[i] is levels[i]


def test_single_level_loss() -> None:
    model = tiny(multi_level=False)
    assert model.objective_indices == [2]
    assert list(model.predictor) == ["level3"]
    out = model(*frames())
    assert list(out.level_losses) == ["level3"]


def _midway_inputs(model: MidwayNetwork) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    original = model.midway.forward

    def spy(key, motion, source, target, grid):
        seen.append(source)
        return original(key, motion, source, target, grid)

    model.midway.forward = spy  # type: ignore[method-assign]
    x, _ = frames()
    levels = model.encoder(x)
    dyn = model.run_dynamics(levels, levels, teacher=False)
    return seen, levels, dyn


def test_refinement_switch_changes_the_midway_source() -> None:
    seen, levels, dyn = _midway_inputs(tiny(refinement=True))
    assert seen[0] is levels[3] and seen[1] is dyn.predictions[2] and seen[2] is dyn.predictions[1]
    seen, levels, dyn = _midway_inputs(tiny(refinement=False))
    assert seen[0] is levels[3] and seen[1] is levels[2] and seen[2] is levels[1]


def test_gating_switch() -> None:
    assert tiny(gating=False).predictor["level1"].gates is None
    assert len(tiny().predictor["level1"].gates) == 1


def test_gate_input_switch() -> None:
    """ "previous" gates block b with g(input of block b-1) (released loop); "own" with g(input of block b)."""
    for mode in ("previous", "own"):
        predictor = tiny(gate_input=mode, forward_depth=3).predictor["level1"]
        with torch.no_grad():
            for gate in predictor.gates:
                gate.fc2.weight.normal_(std=1.0)  # make gates input-dependent
        inputs: list[torch.Tensor] = []
        record = inputs.append
        hooks = [b.register_forward_pre_hook(lambda _m, args, record=record: record(args[0])) for b in predictor.blocks]
        motion, v = torch.randn(2, 4, 48), torch.randn(2, 5, 48)
        _, gates = predictor(motion, v, return_gates=True)
        for h in hooks:
            h.remove()
        for b in (1, 2):
            source = inputs[b - 1] if mode == "previous" else inputs[b]
            torch.testing.assert_close(gates[b - 1], predictor.gates[b - 1](source[:, 4:]))
            other = inputs[b] if mode == "previous" else inputs[b - 1]
            assert not torch.allclose(gates[b - 1], predictor.gates[b - 1](other[:, 4:]))


def test_level_loss_reduction_switch() -> None:
    a, b = tiny(level_loss_reduction="sum"), tiny(level_loss_reduction="mean")
    x, y = frames()
    out_a, out_b = a(x, y), b(x, y)
    torch.testing.assert_close(out_a.loss / 3, out_b.loss)


def test_midway_target_switch() -> None:
    """Below the top the midway path sees teacher backward features (code) or raw teacher features (Alg. 1)."""
    for mode in ("backward", "raw"):
        model = tiny(midway_target=mode)
        seen: list[torch.Tensor] = []
        model.teacher_embed.register_forward_pre_hook(lambda _m, args, seen=seen: seen.append(args[0]))
        x, _ = frames()
        levels = model.encoder(x)
        tgt = [t.detach() for t in model.teacher_encoder(x)]
        model.run_dynamics(levels, tgt, teacher=True)
        assert seen[0] is tgt[3]
        raw = [seen[1] is tgt[2], seen[2] is tgt[1]]
        assert raw == ([True, True] if mode == "raw" else [False, False])
        if mode == "backward":
            v = model.backward_features(tgt, teacher=True)
            torch.testing.assert_close(seen[1], v[2])


def test_motion_token_init() -> None:
    assert tiny().midway.motion_tokens.abs().sum() == 0
    tokens = tiny(motion_token_init="random").midway.motion_tokens
    assert tokens.std() > 0 and not torch.allclose(tokens[0, 0], tokens[0, 1])


def test_symmetric_switch_doubles_the_pairs() -> None:
    x, y = frames()
    assert tiny(symmetric=True)(x, y).dynamics.predictions[0].shape[0] == 4
    assert tiny(symmetric=False)(x, y).dynamics.predictions[0].shape[0] == 2


def test_capacity_switches() -> None:
    model = tiny(midway_dim=16, midway_depth=1, forward_depth=1)
    assert len(model.midway.blocks["level1"]) == 1 and len(model.predictor["level1"].blocks) == 1
    assert model.midway.src_embed.out_features == 16


def test_given_motion_skips_the_midway_path() -> None:
    model = tiny()
    x, _ = frames()
    levels = model.encoder(x)
    fixed = {i: torch.randn(2, 4, 32) for i in range(3)}
    dyn = model.run_dynamics(levels, levels, motion=fixed, teacher=False)
    assert dyn.midway_target_tokens is None
    for i in range(3):
        assert dyn.motion[i] is fixed[i]
        torch.testing.assert_close(dyn.predictions[i], model.predict_level(i, dyn.backward[i], fixed[i]))


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="gate_input='later'"):
        MidwayConfig(gate_input="later")
    with pytest.raises(ValueError, match="unknown MidwayConfig key"):
        MidwayConfig.from_dict({"midway_width": 3})
    assert MidwayConfig.from_dict(MidwayConfig.tiny().to_dict()) == MidwayConfig.tiny()


# -- export -----------------------------------------------------------------------------------------------------
def test_export_roundtrip_and_timm(tmp_path) -> None:
    model = tiny().eval()
    path = save_export(model, tmp_path / "m.safetensors")
    loaded = build_from_export(path).eval()
    x, _ = frames()
    with torch.no_grad():
        for a, b in zip(model.teacher_encoder(x), loaded.encoder(x)):
            torch.testing.assert_close(a, b)
        vit = load_timm_vit(path).eval()
        torch.testing.assert_close(vit.forward_features(x), model.teacher_encoder.vit.forward_features(x))
    assert load_export(path).config == model.cfg


def test_export_resamples_position_embeddings(tmp_path) -> None:
    path = save_export(tiny(), tmp_path / "m.safetensors")
    bigger = build_from_export(path, config_overrides={"img_size": 64})
    assert bigger.encoder.vit.pos_embed.shape[1] == 1 + 64
    assert bigger.midway.pos_embed.shape[1] == 2 * (1 + 64)


def test_foreign_files_are_refused(tmp_path) -> None:
    from safetensors.torch import save_file

    timm_only = tmp_path / "timm.safetensors"
    save_file({k: v.contiguous() for k, v in tiny().encoder.vit.state_dict().items()}, str(timm_only))
    with pytest.raises(MidwayExportError, match="timm.safetensors: not a Midway export"):
        load_export(timm_only)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(MidwayExportError, match="junk.pth: not a Midway export"):
        load_export(junk)
    model = tiny()
    state = model.export_state_dict()
    del state["dynamics.predictor.level1.blocks.0.attn.qkv.weight"]
    state["dynamics.extra.weight"] = torch.zeros(1)
    with pytest.raises(MidwayExportError, match=r"missing 1 key\(s\): dynamics.predictor.level1.blocks.0.attn.qkv"):
        tiny().load_export_state_dict(state)
