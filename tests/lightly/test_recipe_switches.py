"""The switches between the paper's recipe and the released code's (docs/official-code.md)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning import Callback, Trainer

from midway_plugin.lightly.midway import Midway
from midway_plugin.lightly.pretrain_config import load_config
from midway_plugin.models import MidwayConfig, MidwayEncoder, MidwayNetwork, resample_pos_embed

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "pretrain"
HEAD = dict(head_output_dim=64, head_hidden_dim=32, head_bottleneck_dim=16)


def _module(**kwargs) -> Midway:
    return Midway(batch_size_per_device=20, model={"preset": "tiny"}, repeat_sample=5, **HEAD, **kwargs)


def _official_momentum(step: int, epochs: int, videos: int, repeat: int, per_step: int) -> float:
    """The released loop, literally: the cosine has ``epochs x len(dataset)`` entries and is read at
    ``it = len(loader) x epoch + repeat x iteration``, the epoch counter stepping by ``repeat``."""
    steps_per_pass = videos // per_step
    epoch, iteration = repeat * (step // steps_per_pass), step % steps_per_pass
    it = steps_per_pass * epoch + repeat * iteration
    return 1 + 0.5 * (0.996 - 1) * (1 + math.cos(math.pi * it / (epochs * videos)))


def test_ema_schedule_official_follows_the_released_indexing():
    # BDD ViT-S: 300 epochs, 70,000 videos, R = 5, 20 videos x 2 GPUs -> 105,000 optimizer steps.
    model = _module(ema_schedule="official")
    model._trainer = SimpleNamespace(world_size=2, estimated_stepping_batches=105_000)
    paper = _module(ema_schedule="paper")
    paper._trainer = model._trainer
    try:
        for step in (0, 1, 1749, 1750, 52_345, 104_999):
            assert model.ema_momentum(step) == pytest.approx(_official_momentum(step, 300, 70_000, 5, 40), abs=1e-9)
        assert model.ema_momentum(104_999) < 0.99601  # ~0.996 for the whole run
        assert paper.ema_momentum(0) == pytest.approx(0.996) and paper.ema_momentum(104_999) == pytest.approx(1.0)
        assert paper.ema_momentum(52_500) == pytest.approx(0.998, abs=1e-4)
    finally:
        model._trainer = paper._trainer = None
    with pytest.raises(ValueError, match="ema_schedule"):
        _module(ema_schedule="released")


def test_released_configs_choose_the_switches():
    bdd = load_config(CONFIGS / "midway_vit-s16_bdd100k.yaml")
    assert bdd["method"]["ema_schedule"] == "official" and bdd["model"]["cls_token_init"] == "dino"
    per_step = bdd["data"]["batch_size_per_device"] * bdd["trainer"]["devices"]
    assert bdd["method"]["freeze_last_layer_steps"] == 70_000 // per_step == 1750
    base = load_config(CONFIGS / "midway_vit-b16_bdd100k.yaml")
    assert base["method"]["freeze_last_layer_steps"] == 70_000 // (
        base["data"]["batch_size_per_device"] * base["trainer"]["devices"]
    )
    assert load_config(CONFIGS / "demo.yaml")["method"]["ema_schedule"] == "paper"


class _LastLayer(Callback):
    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []

    def on_train_start(self, trainer, pl_module) -> None:  # noqa: ANN001
        self.weights.append(pl_module.student_head.last_layer.weight_v.detach().clone())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.weights.append(pl_module.student_head.last_layer.weight_v.detach().clone())


def _batch() -> dict:
    gen = torch.Generator().manual_seed(0)
    img = lambda size: torch.randn(2, 3, size, size, generator=gen)  # noqa: E731
    return {
        "views": {
            "motion": [img(32), img(32)],
            "dino_global": [img(32) for _ in range(4)],
            "dino_local": [img(16) for _ in range(4)],
        }
    }


def test_freeze_last_layer_steps():
    model = _module(freeze_last_layer_steps=2, lr_scaling_batch=256, warmup_epochs=0.0, epochs=1000)
    capture = _LastLayer()
    trainer = Trainer(
        max_steps=3,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[capture],
    )
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader([_batch()] * 3, batch_size=None))
    w = capture.weights
    assert len(w) == 4
    assert torch.equal(w[0], w[1]) and torch.equal(w[1], w[2])  # steps 0 and 1: frozen
    assert not torch.equal(w[2], w[3])  # step 2: updated
    assert model.last_layer_frozen(1) and not model.last_layer_frozen(2)
    for bad in (-1, "many", 2.5):
        with pytest.raises(ValueError, match="freeze_last_layer_steps"):
            _module(freeze_last_layer_steps=bad)


def test_cls_token_init():
    big = {"encoder_kwargs": {"embed_dim": 768, "depth": 2, "num_heads": 12, "patch_size": 8}, "feature_levels": (1, 2)}
    dino = MidwayEncoder(MidwayConfig.tiny(cls_token_init="dino", **big)).vit.cls_token
    timm = MidwayEncoder(MidwayConfig.tiny(**big)).vit.cls_token
    assert 0.017 < float(dino.std()) < 0.023  # truncated normal, std 0.02 (DINO)
    assert float(timm.abs().max()) < 1e-4  # timm: std 1e-6
    with pytest.raises(ValueError, match="cls_token_init"):
        MidwayConfig.tiny(cls_token_init="zeros")


def _cubic(position: float, values: list[float], a: float) -> float:
    """1-D cubic convolution (Keys, coefficient ``a``) of ``values`` at a source position, border clamped."""

    def kernel(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a if x < 2 else 0.0

    base = math.floor(position)
    return sum(kernel(position - k) * values[min(max(k, 0), len(values) - 1)] for k in range(base - 1, base + 3))


@pytest.mark.parametrize("mode,offset,a", [("timm", 0.0, -0.5), ("dino", 0.1, -0.75)])
def test_pos_embed_interpolation_samples_where_each_method_says(mode, offset, a):
    # Output token i is sampled at source position (i + 0.5) * old / (new + offset) - 0.5: timm by size, with
    # antialiased bicubic (PIL's cubic, a = -0.5); DINO with a (new + 0.1) / old scale factor and PyTorch's plain
    # bicubic (a = -0.75). Checked away from the border against a direct cubic convolution of a wavy profile.
    old, new = (14, 14), (20, 24)
    profile = [math.sin(1.3 * k) + 0.1 * k * k for k in range(14)]
    pos = torch.tensor(profile, dtype=torch.float64)
    rows, cols = pos[:, None].expand(old), pos[None, :].expand(old)
    tokens = torch.stack([rows, rows, cols, cols], dim=-1).reshape(1, -1, 4)
    embed = torch.cat([torch.full((1, 1, 4), -7.0, dtype=torch.float64), tokens], dim=1)
    out = resample_pos_embed(embed, new, old, mode=mode)
    assert out.shape == (1, 1 + 20 * 24, 4) and torch.all(out[0, 0] == -7.0)
    grid = out[0, 1:].reshape(20, 24, 4)
    for i in range(3, 17):
        expected = _cubic((i + 0.5) * 14 / (20 + offset) - 0.5, profile, a)
        assert float(grid[i, 10, 0]) == pytest.approx(expected, abs=1e-4), i
    for j in range(3, 21):
        expected = _cubic((j + 0.5) * 14 / (24 + offset) - 0.5, profile, a)
        assert float(grid[10, j, 2]) == pytest.approx(expected, abs=1e-4), j
    assert resample_pos_embed(embed, old, old, mode=mode) is embed
    with pytest.raises(ValueError, match="expected one of"):
        resample_pos_embed(embed, new, old, mode="bilinear")


def test_dino_pos_embed_on_the_fly_equals_at_load_time():
    """An encoder at 32 px run on 48 px images (DINO interpolation on the fly) = the same weights loaded into a
    48-px model (DINO interpolation when loading); timm's interpolation gives other features."""
    torch.manual_seed(0)
    cfg = MidwayConfig.tiny(latent_dynamics=False, pos_embed_interp="dino")
    small = MidwayNetwork(cfg, with_teacher=False).eval()
    large = MidwayNetwork(cfg.replace(img_size=48), with_teacher=False).eval()
    large.load_export_state_dict(small.export_state_dict())
    timm_small = MidwayNetwork(cfg.replace(pos_embed_interp="timm"), with_teacher=False).eval()
    timm_small.load_export_state_dict(small.export_state_dict())
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        on_the_fly, loaded, timm = small.encoder(x)[-1], large.encoder(x)[-1], timm_small.encoder(x)[-1]
    assert torch.allclose(on_the_fly, loaded, atol=1e-5)
    assert not torch.allclose(on_the_fly, timm, atol=1e-3)
    with torch.no_grad():  # at the training size both are the stored embedding
        assert torch.equal(small.encoder(x[..., :32, :32])[-1], timm_small.encoder(x[..., :32, :32])[-1])
