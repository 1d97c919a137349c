"""A pretraining run resolved once: what a loaded config means on this machine, before anything is built.

The builders (:mod:`.builders`) and the run (:mod:`.pretrain`) read a :class:`PretrainPlan`, never the config:
whether training runs on CUDA, the precision, where views are rendered, the dataset mode and pairs per item, the
paper-epoch arithmetic, the paths and the batch checks are each decided here, once. ``epochs`` counts paper
epochs: in folder mode one pass over the videos shows ``data.repeat`` pairs per video and counts as ``repeat``
epochs (docs/paper.md §2.2), so Lightning runs ``ceil(epochs / repeat)`` passes.

Value types come checked from :func:`~midway_plugin.lightly.pretrain_config.load_config`; the plan refuses the
values no type expresses (a batch size of 0, ``epochs <= 0``), naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from midway_plugin.lightly.config_schema import DATASET_KEYS, MIDWAY_KEYS
from midway_plugin.lightly.pretrain_config import PretrainConfigError
from midway_plugin.models import MidwayConfig, resolve_config

#: ``trainer`` keys passed to Lightning's ``Trainer`` under the same name (the others are resolved here).
_TRAINER_KEYS = ("devices", "strategy", "gradient_clip_val")


@dataclasses.dataclass(frozen=True)
class PretrainPlan:
    """Everything a pretraining run decides from its config, decided once (:meth:`from_config`).

    Attributes:
        output_dir: ``output_dir`` with ``~`` expanded; checkpoints go to ``checkpoint_dir`` inside it.
        checkpoint_dir: ``output_dir/checkpoints``.
        data_root: ``data.root`` with ``~`` expanded; None when not set (:func:`.builders.build_dataset` refuses).
        mode: ``"folder"`` or ``"single"`` (``data.mode``; ``"auto"``: single when ``data_root`` is a file).
        repeat: Pairs per dataset item: ``data.repeat`` in folder mode, 1 in single mode.
        dataset_options: The other :class:`~midway_plugin.data.video.VideoPairDataset` arguments (lists as tuples;
            ``repeat`` as configured, which the dataset refuses above 1 in single mode).
        batch_size: ``data.batch_size_per_device`` (>= 1).
        num_workers: ``data.num_workers``.
        seed: ``seed``.
        on_cuda: Training runs on a CUDA GPU (``trainer.accelerator`` auto/gpu/cuda and one is available).
        precision: ``trainer.precision`` with ``"auto"`` resolved: ``bf16-mixed`` on a CUDA GPU that has bf16,
            ``16-mixed`` on one without (fp16 + GradScaler, as the released code), ``32-true`` elsewhere.
        decodes_on_gpu: ``data.decoder: cuda`` (frames decoded on the GPU, in the training process).
        augment_on_device: Views are rendered on the training device (``data.augment``; ``"auto"``: on CUDA).
        torch_threads: ``trainer.torch_threads`` (None = torch's default).
        epochs: Paper epochs (``trainer.epochs``, > 0).
        max_epochs: Lightning passes over the dataset for ``epochs`` (folder mode: one pass = ``repeat`` epochs).
        checkpoint_every: ``trainer.checkpoint_every_n_steps`` (>= 1).
        model: The ``model`` section (preset + :class:`~midway_plugin.models.MidwayConfig` fields).
        network: ``model`` resolved (an unknown preset or field fails here, before the video scan).
        motion: :class:`~midway_plugin.data.views.MidwayMotionTransform` arguments, None without the dynamics loss.
        dino: :class:`~midway_plugin.data.views.MidwayDINOTransform` arguments, None without the DINO loss.
        midway_kwargs: Arguments of :class:`~midway_plugin.lightly.Midway`.
        trainer_options: Arguments of Lightning's ``Trainer`` taken from ``trainer`` as they are.
        base_lr: ``optim.base_lr`` (named when the learning rate it gives overflows).
    """

    output_dir: Path
    checkpoint_dir: Path
    data_root: Path | None
    mode: str
    repeat: int
    dataset_options: Mapping[str, Any]
    batch_size: int
    num_workers: int
    decodes_on_gpu: bool
    seed: int
    on_cuda: bool
    precision: str
    augment_on_device: bool
    torch_threads: int | None
    epochs: float
    max_epochs: int
    checkpoint_every: int
    model: Mapping[str, Any]
    network: MidwayConfig
    motion: Mapping[str, Any] | None
    dino: Mapping[str, Any] | None
    midway_kwargs: Mapping[str, Any]
    trainer_options: Mapping[str, Any]
    base_lr: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PretrainPlan:
        """The plan of a config from :func:`~midway_plugin.lightly.pretrain_config.load_config`.

        Raises:
            PretrainConfigError: A value no type check catches (names the key and the value).
        """
        data, trainer = config["data"], config["trainer"]
        model = dict(config["model"])
        try:  # before the (possibly long) video scan: an unknown preset or model field fails at once
            network = resolve_config(model, name="model")
        except (TypeError, ValueError) as err:
            raise PretrainConfigError(f"model: {err}") from err

        accelerator = trainer["accelerator"]
        on_cuda = str(accelerator).lower() in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        root = data["root"]
        data_root = Path(os.path.expanduser(str(root))) if root else None
        mode = data["mode"]
        if mode == "auto":
            mode = "single" if data_root is not None and data_root.is_file() else "folder"
        configured_repeat = data["repeat"]
        repeat = int(configured_repeat) if mode == "folder" else 1
        epochs = float(trainer["epochs"])  # values already in range: config_values.py, run by load_config
        batch_size = int(data["batch_size_per_device"])
        output_dir = Path(os.path.expanduser(str(config["output_dir"])))
        method = config["method"]
        with_dino = float(method["dino_weight"]) > 0
        with_motion = float(method["dynamics_weight"]) > 0 and network.latent_dynamics
        options = {key: _tuples(data[key]) for key in DATASET_KEYS if key not in ("mode", "repeat")}
        decodes_on_gpu = data["decoder"] == "cuda"
        if decodes_on_gpu and int(data["num_workers"]) > 0:
            raise PretrainConfigError(
                "data.decoder: cuda decodes in the training process (CUDA cannot run in forked DataLoader workers); "
                f"set data.num_workers: 0 (got {data['num_workers']})"
            )
        midway_kwargs: dict[str, Any] = {
            "batch_size_per_device": batch_size,
            "num_classes": 0,
            "model": model,
            "repeat_sample": repeat,
            "epochs": epochs,
            "compile": bool(trainer["compile"]),
        }
        for section, names in MIDWAY_KEYS.items():  # optim.fused is Midway's fused_optimizer
            values = config[section]
            midway_kwargs.update({name: values[key] for key, name in names.items() if key in values})
        return cls(
            output_dir=output_dir,
            checkpoint_dir=output_dir / "checkpoints",
            data_root=data_root,
            mode=mode,
            repeat=repeat,
            dataset_options=MappingProxyType({**options, "mode": mode, "repeat": configured_repeat}),
            batch_size=batch_size,
            num_workers=int(data["num_workers"]),
            decodes_on_gpu=decodes_on_gpu,
            seed=int(config["seed"]),
            on_cuda=on_cuda,
            precision=_precision(trainer["precision"], on_cuda),
            augment_on_device=_augment_on_device(data["augment"], on_cuda),
            torch_threads=trainer["torch_threads"],
            epochs=epochs,
            max_epochs=max(1, math.ceil(epochs / repeat)),
            checkpoint_every=int(trainer["checkpoint_every_n_steps"]),
            model=MappingProxyType(model),
            network=network,
            motion=MappingProxyType(_listless(data["motion"])) if with_motion else None,
            dino=MappingProxyType(_listless(data["dino"])) if with_dino else None,
            midway_kwargs=MappingProxyType(midway_kwargs),
            trainer_options=MappingProxyType(
                {
                    **{key: trainer[key] for key in _TRAINER_KEYS},
                    "accelerator": accelerator,
                    "max_steps": int(trainer["max_steps"]),
                    "num_nodes": int(trainer["num_nodes"]),
                    "log_every_n_steps": int(trainer["log_every_n_steps"]),
                    "enable_progress_bar": bool(trainer["progress_bar"]),
                    "deterministic": bool(trainer["deterministic"]),
                }
            ),
            base_lr=float(midway_kwargs["base_lr"]),
        )

    def check_batch(self, items: int, world_size: int) -> None:
        """Refuses a batch no process can fill (incomplete batches are dropped, so nothing would train).

        Args:
            items: Dataset items per epoch.
            world_size: Training processes.

        Raises:
            PretrainConfigError: ``batch_size`` exceeds each process's share of ``items``.
        """
        per_process = math.ceil(items / world_size)
        if per_process < self.batch_size:
            raise PretrainConfigError(
                f"data.batch_size_per_device={self.batch_size} exceeds the {per_process} item(s) each of the "
                f"{world_size} process(es) gets from the {items} items of {str(self.data_root)!r} "
                "(incomplete batches are dropped, so nothing would train); lower the batch size or add videos"
            )


def _precision(precision: Any, on_cuda: bool) -> str:
    if str(precision) != "auto":
        return str(precision)
    if on_cuda:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _augment_on_device(choice: str, on_cuda: bool) -> bool:
    """``data.augment`` (one of ``AUGMENT_CHOICES``, checked by the schema): ``"auto"`` = on CUDA."""
    return choice == "device" or (choice == "auto" and on_cuda)


def _tuples(value: Any) -> Any:
    """A YAML list as a tuple (the dataset and transforms take tuples)."""
    return tuple(value) if isinstance(value, list) else value


def _listless(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _tuples(value) for key, value in kwargs.items()}


__all__ = ["PretrainPlan"]
