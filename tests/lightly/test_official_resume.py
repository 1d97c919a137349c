"""``midway pretrain --resume-official``: continuing from a checkpoint of the official code, EMA copies kept apart."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback, Trainer

from midway_plugin.cli import main as cli_main
from midway_plugin.data.synthetic import write_synthetic_dataset
from midway_plugin.lightly.builders import build_model, build_transform
from midway_plugin.lightly.official_resume import load_official_training_state
from midway_plugin.lightly.pretrain_config import load_config
from midway_plugin.lightly.pretrain_plan import PretrainPlan
from midway_plugin.models import MidwayNetwork
from midway_plugin.official.convert import OfficialCheckpointError, convert_official_checkpoint
from tests.official.official_fixture import TINY, official_checkpoint

DEMO = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "demo.yaml"
HEAD = {
    "method.head_output_dim": TINY.head_out_dim,
    "method.head_hidden_dim": TINY.head_hidden_dim,
    "method.head_bottleneck_dim": TINY.head_bottleneck_dim,
}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    ckpt = official_checkpoint(TINY, seed=1)
    ckpt["dino_loss"]["center"] = torch.randn(1, TINY.head_out_dim)  # a centre far from 0 matters for the loss
    path = tmp_path_factory.mktemp("official") / "midway-official.pth"
    torch.save(ckpt, path)
    return ckpt, path


def _batch(seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    img = lambda size: torch.randn(2, 3, size, size, generator=gen)  # noqa: E731
    return {
        "views": {
            "motion": [img(32), img(32)],
            "dino_global": [img(32) for _ in range(4)],
            "dino_local": [img(16) for _ in range(4)],
        }
    }


class _FirstLoss(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.loss = float(outputs["loss"])


def _first_step_loss(module) -> float:
    capture = _FirstLoss()
    trainer = Trainer(
        max_steps=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[capture],
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader([_batch()], batch_size=None))
    return capture.loss


def _module(config: dict):
    plan = PretrainPlan.from_config(config)
    return build_model(plan, build_transform(plan))


def _config(**overrides) -> dict:
    return load_config(DEMO, {**HEAD, "trainer.progress_bar": False, **overrides})


def _reference(ckpt: dict, config: dict, teacher_apart: bool = True):
    """The same network rebuilt by hand: the student from the student copies and, with ``teacher_apart``, the
    teacher from the teacher copies (else the teacher stays the student's copy, as loading one export leaves it)."""
    module = _module(config)
    cfg = module.cfg.to_dict()
    net = module.network
    net.load_export_state_dict(convert_official_checkpoint(ckpt, use_teacher=False, **cfg).state_dict)
    if teacher_apart:
        teacher = MidwayNetwork(module.cfg, with_teacher=False)
        teacher.load_export_state_dict(convert_official_checkpoint(ckpt, use_teacher=True, **cfg).state_dict)
        net.teacher_encoder.load_state_dict(teacher.encoder.state_dict())
        net.teacher_backward.load_state_dict(teacher.backward.state_dict())
        motion = ckpt["motion_loss"]
        net.teacher_embed.weight.data.copy_(motion["module.teacher_embed.weight"])
        net.teacher_embed.bias.data.copy_(motion["module.teacher_embed.bias"])
    for head, wrapper, prefix in (
        (module.student_head, ckpt["student"], "module.dino_head."),
        (module.teacher_head, ckpt["teacher"], "dino_head."),
    ):
        for i in (0, 2, 4):
            head.layers[i].weight.data.copy_(wrapper[f"{prefix}mlp.{i}.weight"])
            head.layers[i].bias.data.copy_(wrapper[f"{prefix}mlp.{i}.bias"])
        head.last_layer.weight_g.data.copy_(wrapper[f"{prefix}last_layer.weight_g"])
        head.last_layer.weight_v.data.copy_(wrapper[f"{prefix}last_layer.weight_v"])
    module.criterion.center.value.copy_(ckpt["dino_loss"]["center"])
    return module


def test_first_step_loss_equals_the_released_network(released):
    ckpt, path = released
    config = _config()
    resumed = _module(config)
    info = load_official_training_state(resumed, path)
    assert info.epoch == 300 and info.skipped == ["optimizer", "fp16_scaler", "epoch", "args"]
    heads = (resumed.student_head, resumed.teacher_head)
    assert info.tensors == len(resumed.network.state_dict()) + sum(len(h.state_dict()) for h in heads) + 1
    # Each copy went to its own place.
    net = resumed.network
    assert torch.equal(
        net.teacher_encoder.vit.blocks[2].attn.qkv.weight, ckpt["teacher"]["backbone.blocks.2.attn.qkv.weight"]
    )
    assert torch.equal(
        net.encoder.vit.blocks[2].attn.qkv.weight, ckpt["student"]["module.backbone.blocks.2.attn.qkv.weight"]
    )
    assert torch.equal(net.teacher_embed.weight, ckpt["motion_loss"]["module.teacher_embed.weight"])
    assert torch.equal(net.midway.src_embed.weight, ckpt["motion_loss"]["module.student_embed.weight"])
    loss = _first_step_loss(resumed)
    assert loss == pytest.approx(_first_step_loss(_reference(ckpt, config)), rel=1e-6, abs=1e-6)
    # Overwriting the teacher by the student (what loading one export copy does) changes the loss.
    assert abs(loss - _first_step_loss(_reference(ckpt, config, teacher_apart=False))) > 1e-3


def test_a_config_that_does_not_fit_is_named(released):
    _, path = released
    module = _module(_config(**{"model.midway_dim": 64}))
    with pytest.raises(OfficialCheckpointError, match=r"dynamics\.midway\.pos_embed.*model expects"):
        load_official_training_state(module, path)
    module = _module(
        load_config(
            DEMO, {"method.head_output_dim": 128, "method.head_hidden_dim": 32, "method.head_bottleneck_dim": 16}
        )
    )
    with pytest.raises(OfficialCheckpointError, match=r"student\.dino_head\.last_layer\.weight_v has shape \(64, 16\)"):
        load_official_training_state(module, path)


def test_cli_resume_official(released, tmp_path, capsys):
    _, path = released
    write_synthetic_dataset(tmp_path / "video", num_videos=2, num_frames=12, size=(40, 40), seed=0, num_objects=1)
    args = [
        "pretrain",
        "--config",
        str(DEMO),
        "--resume-official",
        str(path),
        "--max-steps",
        "1",
        "--output-dir",
        str(tmp_path / "run"),
        "--data.root",
        str(tmp_path / "video" / "videos"),
        "--data.batch_size_per_device",
        "2",
        "--data.repeat",
        "1",
        "--trainer.progress_bar",
        "false",
        *[f"--{k}={v}" for k, v in HEAD.items()],
    ]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "student and EMA teacher kept apart" in out and "saved at epoch 300" in out
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert cli_main([*args, "--resume", str(tmp_path / "run" / "checkpoints" / "last.ckpt")]) == 2
    assert "exclude each other" in capsys.readouterr().err
    args[args.index(str(path))] = str(tmp_path / "missing.pth")
    args[args.index(str(tmp_path / "run"))] = str(tmp_path / "run2")  # one run, one output_dir
    assert cli_main(args) == 2
    assert "--resume-official" in (err := capsys.readouterr().err) and "missing.pth: no such file" in err


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,layout", [("midway_vit-s16_bdd100k.yaml", "vit_small"), ("midway_vit-b16_bdd100k.yaml", "vit_base")]
)
def test_shipped_configs_fit_the_released_checkpoints(config, layout, tmp_path):
    from midway_plugin.official.layout import OfficialLayout

    ckpt = official_checkpoint(getattr(OfficialLayout, layout)())
    path = tmp_path / "released.pth"
    torch.save(ckpt, path)
    del ckpt
    module = _module(load_config(DEMO.parent / config))
    info = load_official_training_state(module, path)
    # Every tensor of the network (student, dynamics, EMA teacher), both heads and the centre came from the file.
    expected = sum(len(m.state_dict()) for m in (module.network, module.student_head, module.teacher_head)) + 1
    assert info.tensors == expected and info.epoch == 300
