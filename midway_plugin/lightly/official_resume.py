"""Continue pretraining from a checkpoint of the official Midway code (``midway pretrain --resume-official``).

The released checkpoints hold the student, the EMA teacher (encoder, backward layers, source projector), both DINO
heads and the DINO centre (see :mod:`midway_plugin.official.layout`). This module loads all of them into a
:class:`~midway_plugin.lightly.Midway` module, each copy into its own place: the teacher is *not* re-initialised
from the student, so the first step's loss is the one the released network would compute.

Not carried over: the optimizer moments and the GradScaler state (the optimizer's parameter order belongs to the
official module tree) and the step counter: the run starts at step 0 of its own config, with its warmup and
schedules, like a fine-tuning run from the released weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from midway_plugin.lightly.midway import Midway
from midway_plugin.models import DYNAMICS_PREFIX, part_prefix
from midway_plugin.official.convert import (
    OfficialCheckpointError,
    convert_official_training_state,
    load_official_checkpoint,
)


@dataclass
class OfficialResume:
    """What :func:`load_official_training_state` loaded.

    Attributes:
        source: The checkpoint file.
        epoch: The official ``epoch`` counter saved in the file (None if absent).
        tensors: Number of tensors loaded (both EMA copies, heads, centre).
        skipped: Entries not carried over (optimizer, scaler, args, epoch).
    """

    source: str
    epoch: int | None
    tensors: int
    skipped: list[str]

    def summary(self) -> str:
        epoch = f", saved at epoch {self.epoch}" if self.epoch is not None else ""
        return (
            f"Loaded {self.tensors} tensors (student and EMA teacher kept apart, DINO heads and centre) from "
            f"{self.source}{epoch}; skipped: {', '.join(self.skipped) or 'nothing'}"
        )


def _head_state(official: dict[str, torch.Tensor], head: nn.Module, entry: str, source: str) -> dict[str, torch.Tensor]:
    """DINO's head names (``mlp.N``, ``last_layer.weight_g/_v``) → Lightly ``DINOProjectionHead`` names."""
    out, problems = {}, []
    for name, own in head.state_dict().items():
        if name.startswith("layers."):
            theirs = "mlp." + name[len("layers.") :]
        elif name.endswith(("weight_g", "original0")):  # torch weight_norm, old hook or parametrization
            theirs = "last_layer.weight_g"
        elif name.endswith(("weight_v", "original1")):
            theirs = "last_layer.weight_v"
        else:
            theirs = name
        value = official.get(theirs)
        if value is None:
            problems.append(f"{entry}.dino_head.{theirs} is missing")
        elif value.shape != own.shape:
            problems.append(
                f"{entry}.dino_head.{theirs} has shape {tuple(value.shape)}, the config's head expects "
                f"{tuple(own.shape)}"
            )
        else:
            out[name] = value
    if problems:
        raise OfficialCheckpointError(
            f"{source}: the DINO head does not fit method.head_hidden_dim / head_bottleneck_dim / head_output_dim: "
            + "; ".join(problems[:6])
        )
    return out


def load_official_training_state(module: Midway, path: str | os.PathLike[str]) -> OfficialResume:
    """Loads an official checkpoint's student, EMA teacher, DINO heads and centre into ``module``.

    Raises:
        OfficialCheckpointError: Unreadable file, a tensor the module needs is missing, or the module's config
            does not fit the checkpoint (the message names the keys and shapes).
    """
    source = str(path)
    net = module.network
    expected = {k: tuple(v.shape) for k, v in net.export_state_dict(use_teacher=False).items()}
    # The module's config decides the architecture (head counts and levels are not stored in weights); every
    # tensor must then have exactly the shape the module expects.
    state = convert_official_training_state(
        load_official_checkpoint(Path(path)), source=source, expected_keys=expected, **module.cfg.to_dict()
    )
    report = state.report
    if not report.ok:
        raise OfficialCheckpointError(
            f"{source}: does not fit this config's model (resume with the model preset the checkpoint was trained "
            f"with): {report.problems()}"
        )
    net.load_export_state_dict(state.student, strict=True, source=source)
    count = len(state.student)
    # The EMA teacher: its own encoder, backward layers and source projector (load_export_state_dict above set
    # them to the student's copies).
    teacher_vit = {k: v for k, v in state.teacher.items() if not k.startswith(DYNAMICS_PREFIX)}
    net.teacher_encoder.vit.load_state_dict(teacher_vit, strict=True)
    count += len(teacher_vit)
    if hasattr(net, "teacher_backward"):
        prefix = part_prefix("backward")
        backward = {k[len(prefix) :]: v for k, v in state.teacher.items() if k.startswith(prefix)}
        net.teacher_backward.load_state_dict(backward, strict=True)
        count += len(backward)
    if hasattr(net, "teacher_embed"):
        net.teacher_embed.load_state_dict(state.teacher_embed, strict=True)
        count += len(state.teacher_embed)
    if module.use_dino:
        for entry, head, official in (
            ("student", module.student_head, state.student_head),
            ("teacher", module.teacher_head, state.teacher_head),
        ):
            head.load_state_dict(_head_state(official, head, entry, source), strict=True)
            count += len(official)
        if state.center is None:
            raise OfficialCheckpointError(f"{source}: no DINO centre ('dino_loss' entry with 'center')")
        center = module.criterion.center.value
        if state.center.shape != center.shape:
            raise OfficialCheckpointError(
                f"{source}: dino_loss.center has shape {tuple(state.center.shape)}, the config expects "
                f"{tuple(center.shape)} (method.head_output_dim)"
            )
        center.copy_(state.center)
        count += 1
    return OfficialResume(source=source, epoch=state.epoch, tensors=count, skipped=report.ignored)
