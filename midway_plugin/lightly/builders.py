"""The parts of a pretraining run, each built from a loaded config: transform, dataset, data loader, module, trainer.

Also the choices a config leaves to the machine (``"auto"`` precision, where views are rendered) and the paper-epoch
arithmetic. The config itself: :mod:`.pretrain_config`; the run that wires the parts together: :mod:`.pretrain`.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from midway_plugin.lightly.config_schema import AUGMENT_CHOICES, MIDWAY_KEYS
from midway_plugin.lightly.pretrain_config import PretrainConfigError


def lightning_max_epochs(config: Mapping[str, Any], dataset_mode: str) -> int:
    """Passes over the dataset for ``trainer.epochs`` paper epochs (folder mode: one pass = ``repeat`` epochs)."""
    epochs = float(config["trainer"]["epochs"])
    if epochs <= 0:
        raise PretrainConfigError(f"trainer.epochs must be > 0, got {epochs}")
    repeat = int(config["data"]["repeat"]) if dataset_mode == "folder" else 1
    return max(1, math.ceil(epochs / repeat))


def build_transform(config: Mapping[str, Any]):
    """The paired :class:`~midway_plugin.data.MidwayTransform` of ``data.motion`` / ``data.dino``."""
    from midway_plugin.data import MidwayDINOTransform, MidwayMotionTransform, MidwayTransform

    method, model = config["method"], config["model"]
    with_dino = float(method["dino_weight"]) > 0
    with_motion = float(method["dynamics_weight"]) > 0 and bool(model.get("latent_dynamics", True))
    data = config["data"]
    try:
        motion = MidwayMotionTransform(**_listless(data["motion"])) if with_motion else None
        dino = MidwayDINOTransform(**_listless(data["dino"])) if with_dino else None
        return MidwayTransform(motion, dino, with_motion=with_motion, with_dino=with_dino)
    except TypeError as err:
        raise PretrainConfigError(f"data.motion / data.dino: {err}") from err
    except ValueError as err:
        raise PretrainConfigError(f"data transform: {err}") from err


def _listless(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """YAML lists → tuples (the transforms take tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def _trains_on_cuda(config: Mapping[str, Any]) -> bool:
    import torch

    accelerator = str(config["trainer"]["accelerator"]).lower()
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def augment_on_device(config: Mapping[str, Any]) -> bool:
    """Whether views are rendered on the training device (``data.augment``; ``"auto"``: when training on CUDA).

    Raises:
        PretrainConfigError: ``data.augment`` is not one of :data:`AUGMENT_CHOICES`.
    """
    choice = config["data"].get("augment", "auto")
    if choice not in AUGMENT_CHOICES:
        raise PretrainConfigError(f"data.augment must be one of {', '.join(AUGMENT_CHOICES)}, got {choice!r}")
    return choice == "device" or (choice == "auto" and _trains_on_cuda(config))


def resolve_precision(config: Mapping[str, Any]) -> str:
    """``trainer.precision``, with ``"auto"`` = ``bf16-mixed`` on a CUDA GPU that has bf16, ``16-mixed`` on one
    without (fp16 + GradScaler, as the released code), ``32-true`` elsewhere."""
    import torch

    precision = str(config["trainer"]["precision"])
    if precision != "auto":
        return precision
    if _trains_on_cuda(config):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def build_dataset(config: Mapping[str, Any]):
    """The :class:`~midway_plugin.data.VideoPairDataset` of ``data``.

    Raises:
        PretrainConfigError: ``data.root`` missing or invalid options.
        midway_plugin.data.NoUsableVideoError: No usable video under ``data.root``.
    """
    from midway_plugin.data import VideoPairDataset

    data = config["data"]
    if not data["root"]:
        raise PretrainConfigError("data.root is not set: give a folder of videos or one video file")
    root = Path(os.path.expanduser(str(data["root"])))
    if not root.exists():
        raise PretrainConfigError(f"data.root {str(root)!r} does not exist")
    delta_t = data["delta_t"]
    transform = build_transform(config)
    if augment_on_device(config):
        from midway_plugin.data.device_augment import PairGeometryTransform

        transform = PairGeometryTransform(transform)  # workers decode and draw boxes; the module renders views
    try:
        return VideoPairDataset(
            root,
            transform=transform,
            delta_t=tuple(delta_t) if isinstance(delta_t, list) else delta_t,
            delta_unit=data["delta_unit"],
            repeat=int(data["repeat"]),
            mode=data["mode"],
            decode_short_side=data["decode_short_side"],
            index_cache=data["index_cache"],
            seek_check=data["seek_check"],
            sampling=data["sampling"],
            window=float(data["window"]),
            decoder=data["decoder"],
        )
    except ValueError as err:
        raise PretrainConfigError(f"data: {err}") from err


def build_dataloader(config: Mapping[str, Any], dataset):
    """DataLoader whose batches are a function of (seed, global step, sample): see :mod:`.reproducible`.

    Its ``batch_sampler`` is a :class:`~midway_plugin.lightly.reproducible.StepBatchSampler` (sharded over DDP
    ranks itself, so Lightning must not add a distributed sampler); dict batches from the default collate.
    """
    from torch.utils.data import DataLoader

    from midway_plugin.lightly.preemption import ignore_stop_signals
    from midway_plugin.lightly.reproducible import SeededSamples, StepBatchSampler

    data = config["data"]
    batch_size = int(data["batch_size_per_device"])
    if batch_size < 1:
        raise PretrainConfigError(f"data.batch_size_per_device must be >= 1, got {batch_size}")
    workers = int(data["num_workers"])
    from midway_plugin.data.device_augment import PairGeometryTransform, collate_decoded

    decoded = isinstance(getattr(dataset, "transform", None), PairGeometryTransform)
    on_gpu = getattr(dataset, "decoder", "auto") == "cuda"
    if on_gpu and workers > 0:
        raise PretrainConfigError(
            f"data.decoder: cuda decodes in the training process (CUDA cannot run in forked DataLoader workers); "
            f"set data.num_workers: 0 (got {workers})"
        )
    return DataLoader(
        SeededSamples(dataset),
        batch_sampler=StepBatchSampler(len(dataset), batch_size, int(config["seed"])),
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate_decoded if decoded else None,
        pin_memory=decoded and _trains_on_cuda(config) and not on_gpu,
        worker_init_fn=ignore_stop_signals if workers > 0 else None,  # items seed themselves (SeededSamples)
    )


def method_kwargs(config: Mapping[str, Any], max_epochs_paper: float) -> dict[str, Any]:
    """Arguments of :class:`~midway_plugin.lightly.Midway` from ``model``/``method``/``optim``/``data``."""
    kwargs: dict[str, Any] = {
        "batch_size_per_device": int(config["data"]["batch_size_per_device"]),
        "num_classes": 0,
        "model": dict(config["model"]),
        "repeat_sample": int(config["data"]["repeat"]),
        "epochs": float(max_epochs_paper),
    }
    for section, names in MIDWAY_KEYS.items():  # optim.fused is Midway's fused_optimizer
        kwargs.update({name: config[section][key] for key, name in names.items() if key in config[section]})
    kwargs["compile"] = bool(config["trainer"].get("compile", False))
    return kwargs


def build_model(config: Mapping[str, Any], mode: str = "folder"):
    """The :class:`~midway_plugin.lightly.Midway` module of a config.

    Raises:
        PretrainConfigError: An invalid model/method/optim value (the message names it).
    """
    from midway_plugin.lightly.midway import Midway

    repeat = int(config["data"]["repeat"]) if mode == "folder" else 1
    kwargs = method_kwargs(config, float(config["trainer"]["epochs"]))
    kwargs["repeat_sample"] = repeat
    try:
        model = Midway(**kwargs)
    except (TypeError, ValueError) as err:
        raise PretrainConfigError(f"model/method/optim: {err}") from err
    if augment_on_device(config):
        from midway_plugin.data.device_augment import DeviceAugment

        model.batch_augment = DeviceAugment(build_transform(config))
    return model


def build_trainer(config: Mapping[str, Any], max_epochs: int, *, callbacks: list | None = None):
    """Lightning Trainer with TensorBoard + CSV logs, step checkpoints and a final checkpoint.

    Layout under ``output_dir``: ``checkpoints/step-XXXXXXXX.ckpt`` every ``checkpoint_every_n_steps`` steps,
    ``checkpoints/last.ckpt`` (updated with them and written at the end of training), ``tensorboard/version_N/``,
    ``csv/version_N/metrics.csv``. Checkpoints are written atomically (:mod:`.atomic_checkpoint`).
    """
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from midway_plugin.lightly.atomic_checkpoint import AtomicCheckpointIO
    from midway_plugin.lightly.step_checkpoint import StepCheckpoint

    tr = config["trainer"]
    out = Path(os.path.expanduser(str(config["output_dir"])))
    ckpt_dir = out / "checkpoints"
    every = int(tr["checkpoint_every_n_steps"])
    if every < 1:
        raise PretrainConfigError(f"trainer.checkpoint_every_n_steps must be >= 1, got {every}")
    checkpoint = StepCheckpoint(
        dirpath=str(ckpt_dir),
        filename="step-{step:08d}",
        auto_insert_metric_name=False,
        every_n_train_steps=every,
        save_top_k=-1,
        save_last=True,
        enable_version_counter=False,  # one run, one directory: never a silent last-v1.ckpt
    )
    loggers = [
        TensorBoardLogger(save_dir=str(out), name="tensorboard", default_hp_metric=False),
        CSVLogger(save_dir=str(out), name="csv"),
    ]
    try:
        return Trainer(
            max_epochs=max_epochs,
            max_steps=int(tr["max_steps"]),
            accelerator=tr["accelerator"],
            devices=tr["devices"],
            num_nodes=int(tr["num_nodes"]),
            strategy=tr["strategy"],
            precision=resolve_precision(config),
            gradient_clip_val=tr["gradient_clip_val"],
            log_every_n_steps=int(tr["log_every_n_steps"]),
            enable_progress_bar=bool(tr["progress_bar"]),
            deterministic=bool(tr["deterministic"]),
            logger=loggers,
            callbacks=[checkpoint, *(callbacks or [])],
            default_root_dir=str(out),
            num_sanity_val_steps=0,
            plugins=[AtomicCheckpointIO()],
            use_distributed_sampler=False,  # the StepBatchSampler shards over ranks itself
        )
    except (ValueError, TypeError, RuntimeError) as err:
        raise PretrainConfigError(f"trainer: {err}") from err
