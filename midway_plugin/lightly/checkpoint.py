"""Reading the Lightning checkpoints of ``midway pretrain`` (safely) and turning them into Midway exports."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from midway_plugin.models import MidwayExportError, MidwayNetwork, resolve_config, save_export
from midway_plugin.models.refused_pickle import refusal_message

NETWORK_PREFIX = "network."


class CheckpointError(ValueError):
    """The file is not a readable ``midway pretrain`` checkpoint; the message names the file and the problem."""


def load_lightning_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a Lightning checkpoint written by ``midway pretrain``.

    The :class:`~midway_plugin.lightly.Midway` module saves only plain hyperparameters, so no global needs to be
    allow-listed.

    Raises:
        CheckpointError: Missing file, unreadable file, or not a Midway Lightning checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's message advises weights_only=False: never passed on
        raise CheckpointError(refusal_message(str(path), err)) from None
    except Exception as err:  # zip errors of truncated/empty files, EOFError, ...
        first = f"{type(err).__name__}: {err}".splitlines()[0] if str(err).strip() else type(err).__name__
        first = first.split(". ")[0]  # torch appends paragraphs of generic advice
        kind = "empty file (0 bytes)" if path.stat().st_size == 0 else "truncated or not a checkpoint"
        raise CheckpointError(f"{path}: {kind}; torch.load(weights_only=True) failed: {first}") from None
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping) or "model" not in hparams:
        raise CheckpointError(
            f"{path}: not a `midway pretrain` checkpoint (its hyper_parameters have no Midway 'model' config); "
            "for checkpoints of the official implementation use `midway import-official`"
        )
    return dict(checkpoint)


def network_from_checkpoint(path: str | os.PathLike[str]) -> tuple[MidwayNetwork, dict[str, Any]]:
    """Rebuilds the :class:`~midway_plugin.models.MidwayNetwork` (student, dynamics and EMA teacher) of a checkpoint.

    Returns:
        ``(network, checkpoint)``.

    Raises:
        CheckpointError: See :func:`load_lightning_checkpoint`; also when the weights do not fit the saved config
            (the message names the keys).
    """
    checkpoint = load_lightning_checkpoint(path)
    try:
        cfg = resolve_config(checkpoint["hyper_parameters"]["model"], name="model")
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid model config in the checkpoint: {err}") from err
    network = MidwayNetwork(cfg, with_teacher=True)
    state = {k[len(NETWORK_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(NETWORK_PREFIX)}
    result = network.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: weights do not fit the saved config: missing {list(result.missing_keys)[:10]}, "
            f"unexpected {list(result.unexpected_keys)[:10]}"
        )
    return network, checkpoint


def export_checkpoint(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, use_teacher: bool = True
) -> tuple[Path, dict[str, Any]]:
    """Writes the Midway export (safetensors, see docs/core-api.md) of a ``midway pretrain`` checkpoint.

    Args:
        path: The Lightning checkpoint.
        out: The export file to write.
        use_teacher: Export the EMA teacher's encoder and backward layers (default, as DINO evaluates the teacher).

    Returns:
        ``(written path, info)`` with ``global_step``, ``epoch`` and ``weights``.
    """
    network, checkpoint = network_from_checkpoint(path)
    info = {
        "global_step": int(checkpoint.get("global_step", -1)),
        "epoch": int(checkpoint.get("epoch", -1)),
        "weights": "teacher" if use_teacher else "student",
    }
    try:
        written = save_export(
            network,
            out,
            use_teacher=use_teacher,
            metadata={
                "source": "midway-pretrain",
                "source_file": Path(path).name,
                "global_step": str(info["global_step"]),
                "epoch": str(info["epoch"]),
            },
        )
    except (OSError, MidwayExportError, SafetensorError) as err:  # safetensors reports I/O errors as its own
        raise CheckpointError(f"cannot write the export {out}: {err}") from err
    return written, info
