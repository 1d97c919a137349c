"""Pretraining runs from a YAML config: config schema, overrides, data, model and Lightning Trainer.

A config has six sections; every key is optional (defaults = the paper's BDD100K ViT-S recipe) and unknown keys
are errors naming the key:

* ``model``: the core :class:`~midway_plugin.models.MidwayConfig` (``preset`` + fields).
* ``method``: loss weights, DINO head, temperatures, EMA (arguments of :class:`~midway_plugin.lightly.Midway`).
* ``optim``: learning rate, warmup, weight decay, clipping (also arguments of ``Midway``).
* ``data``: the video folder or file and :class:`~midway_plugin.data.VideoPairDataset` / transform options.
* ``trainer``: epochs (paper epochs), steps, devices, precision, logging and checkpoint frequency.
* ``seed``, ``output_dir``.

``epochs`` counts paper epochs: in folder mode one pass over the videos shows ``data.repeat`` pairs per video and
counts as ``repeat`` epochs (docs/paper.md §2.2), so Lightning runs ``ceil(epochs / repeat)`` passes.
"""
from __future__ import annotations

import copy
import math
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

#: The schema with its defaults (paper recipe, docs/paper.md §2). ``None`` = "not set".
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "output_dir": "runs/midway",
    "model": {"preset": "vit-s16"},
    "method": {
        "dino_weight": 1.0,
        "dynamics_weight": 1.0,
        "head_output_dim": 65536,
        "head_hidden_dim": 2048,
        "head_bottleneck_dim": 256,
        "teacher_temp": 0.04,
        "student_temp": 0.1,
        "center_momentum": 0.9,
        "momentum_start": 0.996,
        "momentum_end": 1.0,
        "ema_schedule": "paper",
        "freeze_last_layer_epochs": 1.0,
        "freeze_last_layer_steps": None,
    },
    "optim": {
        "base_lr": 5.0e-4,
        "lr_scaling_batch": None,
        "min_lr": 1.0e-6,
        "warmup_epochs": 10.0,
        "weight_decay": 0.04,
        "weight_decay_end": 0.4,
        "dynamics_weight_decay": 0.01,
        "betas": [0.9, 0.999],
        "clip_mode": "per_parameter",
        "fused": None,  # fused AdamW: null = where supported (not with 16-mixed's GradScaler), true, false
    },
    "data": {
        "root": None,
        "mode": "auto",
        "delta_t": [15, 30],
        "delta_unit": "frames",
        "repeat": 5,
        "batch_size_per_device": 20,
        "num_workers": 8,
        "decode_short_side": None,
        "index_cache": None,
        "seek_check": "fallback",  # "skip" / "off": see VideoPairDataset (files decord seeks wrong in)
        "augment": "auto",  # where views are rendered: "cpu" (workers, PIL), "device" (batched), "auto": device on CUDA
        "motion": {},  # MidwayMotionTransform arguments
        "dino": {},  # MidwayDINOTransform arguments
    },
    "trainer": {
        "epochs": 300.0,
        "max_steps": -1,
        "accelerator": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "auto",  # "auto": bf16-mixed on a CUDA GPU with bf16 (else 16-mixed), 32-true on CPU
        "compile": False,  # torch.compile the encoders and dynamics networks (eager fallback on failure)
        "gradient_clip_val": 3.0,
        "log_every_n_steps": 10,
        "checkpoint_every_n_steps": 1000,
        "progress_bar": True,
        "deterministic": False,
        "torch_threads": None,  # torch.set_num_threads per process; None = torch's default
    },
}

#: Sections whose keys are free-form (validated by the class they are passed to).
_OPEN_SECTIONS = {("model",), ("data", "motion"), ("data", "dino")}


class PretrainConfigError(ValueError):
    """A bad config file, key or value; the message names it."""


def _merge(base: dict[str, Any], update: Mapping[str, Any], path: tuple[str, ...], source: str) -> None:
    for key, value in update.items():
        where = ".".join(path + (str(key),))
        if path in _OPEN_SECTIONS:
            base[key] = copy.deepcopy(value)
            continue
        if key not in base:
            known = ", ".join(sorted(base))
            raise PretrainConfigError(f"{source}: unknown config key '{where}' (known at this level: {known})")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise PretrainConfigError(f"{source}: '{where}' must be a mapping, got {value!r}")
            _merge(base[key], value, path + (str(key),), source)
        else:
            base[key] = copy.deepcopy(value)


def load_config(path: str | os.PathLike | None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults ← the YAML file ← dotted-key overrides (``{"trainer.max_steps": 10}``).

    Raises:
        PretrainConfigError: Unreadable file, invalid YAML, unknown key, wrong structure or a value of the wrong
            type (named with its source, key, value and expected type).
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise PretrainConfigError(f"cannot read config {str(path)!r}: {err.strerror or err}") from err
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise PretrainConfigError(f"{path}: invalid YAML: {err}") from err
        if not isinstance(data, Mapping):
            raise PretrainConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
        _merge(config, _typed(data, str(path)), (), str(path))
    for dotted, value in (overrides or {}).items():
        keys = dotted.split(".")
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        _merge(config, _typed(nested, f"override --{dotted}"), (), f"override --{dotted}")
    return config


def _typed(layer: Mapping[str, Any], source: str) -> dict[str, Any]:
    """One config layer with every value type-checked against its schema (see :mod:`.config_schema`)."""
    from midway_plugin.lightly.config_schema import ConfigTypeError, check_types

    try:
        return check_types(layer, source)
    except ConfigTypeError as err:
        raise PretrainConfigError(str(err)) from None


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """``["--trainer.max_steps", "10", "--data.root=x"]`` → ``{"trainer.max_steps": 10, "data.root": "x"}``.

    Values are parsed as YAML (numbers, booleans, lists, null).

    Raises:
        PretrainConfigError: A token is not ``--key value`` / ``--key=value``.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise PretrainConfigError(f"unexpected argument {token!r}: overrides are --section.key VALUE")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise PretrainConfigError(f"override --{key} needs a value")
            value = tokens[i + 1]
            i += 1
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise PretrainConfigError(f"override --{key}: value {value!r} is not valid YAML ({err})") from err
        i += 1
    return out


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


AUGMENT_CHOICES = ("auto", "cpu", "device")


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
    return DataLoader(
        SeededSamples(dataset),
        batch_sampler=StepBatchSampler(len(dataset), batch_size, int(config["seed"])),
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate_decoded if decoded else None,
        pin_memory=decoded and _trains_on_cuda(config),
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
    kwargs.update(config["method"])
    optim = dict(config["optim"])
    kwargs["fused_optimizer"] = optim.pop("fused", None)
    kwargs.update(optim)
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
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from midway_plugin.lightly.atomic_checkpoint import AtomicCheckpointIO

    class _StepCheckpoint(ModelCheckpoint):
        """Every N steps, and also at the end of training when the last step was not a multiple of N."""

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            if trainer.global_step > 0 and self._last_global_step_saved != trainer.global_step:
                candidates = self._monitor_candidates(trainer)
                self._save_topk_checkpoint(trainer, candidates)
                self._save_last_checkpoint(trainer, candidates)

    tr = config["trainer"]
    out = Path(os.path.expanduser(str(config["output_dir"])))
    ckpt_dir = out / "checkpoints"
    every = int(tr["checkpoint_every_n_steps"])
    if every < 1:
        raise PretrainConfigError(f"trainer.checkpoint_every_n_steps must be >= 1, got {every}")
    checkpoint = _StepCheckpoint(
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
            callbacks=[checkpoint,
                       *(callbacks or [])],
            default_root_dir=str(out),
            num_sanity_val_steps=0,
            plugins=[AtomicCheckpointIO()],
            use_distributed_sampler=False,  # the StepBatchSampler shards over ranks itself
        )
    except (ValueError, TypeError, RuntimeError) as err:
        raise PretrainConfigError(f"trainer: {err}") from err


#: Peak learning rates above this overflow float32 updates outright (the paper's is 5e-4 x batch / 256).
_MAX_LR = 1e30


def run_pretraining(
    config: Mapping[str, Any],
    *,
    resume: str | os.PathLike | None = None,
    callbacks: list | None = None,
    resume_official: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Trains from a loaded config; returns paths and the final global step.

    One run, one directory: without ``resume``, an ``output_dir`` that already holds checkpoints is refused
    (a second run would mix its checkpoints with the first one's).

    Args:
        config: From :func:`load_config`.
        resume: A Lightning checkpoint to continue from (same global step, optimizer, schedulers, EMA teacher, and
            the same data order and crops, see :mod:`.reproducible`), a run or checkpoint directory, or ``"last"``
            (this config's ``output_dir``): the newest checkpoint there that loads (see :mod:`.resume`).
        callbacks: Extra Lightning callbacks (tests).
        resume_official: A checkpoint of the official Midway code to start from (student, EMA teacher, DINO heads
            and centre; see :mod:`midway_plugin.lightly.official_resume`); excludes ``resume``.

    Returns:
        ``{"output_dir", "checkpoint_dir", "last_checkpoint", "checkpoints_written", "resumed_from", "resume_skipped",
        "global_step", "interrupted_by", "csv_log", "tensorboard_dir", "dataset"}``; ``last_checkpoint`` is the
        newest checkpoint this run wrote (None if none), ``interrupted_by`` the signal name that stopped it.

    Raises:
        PretrainConfigError: A bad config value, an occupied ``output_dir``, or a ``resume`` that does not load.
        midway_plugin.lightly.atomic_checkpoint.CheckpointSaveError: A checkpoint could not be written (full disk).
        midway_plugin.lightly.midway.NonFiniteLossError: Training diverged (names the newest finite checkpoint).
    """
    import torch
    from pytorch_lightning import seed_everything

    from midway_plugin.lightly.divergence import WeightGuard
    from midway_plugin.lightly.midway import NonFiniteLossError
    from midway_plugin.lightly.preemption import StopOnSignal
    from midway_plugin.lightly.reproducible import SeedEveryStep
    from midway_plugin.lightly.resume import ResumeError, checkpoint_files, resolve_resume

    threads = config["trainer"]["torch_threads"]
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise PretrainConfigError(f"trainer.torch_threads must be an integer >= 1 or null, got {threads!r}")
        torch.set_num_threads(int(threads))
    from midway_plugin.lightly.midway import resolve_model_config

    try:  # before the (possibly long) video scan: an unknown preset or model field fails at once
        resolve_model_config(config["model"])
    except (TypeError, ValueError) as err:
        raise PretrainConfigError(f"model: {err}") from err
    out = Path(os.path.expanduser(str(config["output_dir"])))
    ckpt_dir = out / "checkpoints"
    choice = None
    if resume is not None:
        try:
            choice = resolve_resume(resume, out)
        except ResumeError as err:
            raise PretrainConfigError(str(err)) from err
        for path, reason in choice.skipped:
            print(f"resume: skipped {path}: {reason}", file=sys.stderr)
    elif ckpt_dir.is_dir() and checkpoint_files(ckpt_dir):
        existing = checkpoint_files(ckpt_dir)
        raise PretrainConfigError(
            f"output_dir {str(out)!r} already holds {len(existing)} checkpoint(s) of an earlier run (newest: "
            f"{existing[0].name}): continue it with --resume last, or start a new run with another --output-dir"
        )
    seed_everything(int(config["seed"]), workers=True, verbose=False)
    dataset = build_dataset(config)
    loader = build_dataloader(config, dataset)
    model = build_model(config, dataset.mode)
    if resume_official is not None:
        _start_from_official(model, resume_official, resume)
    max_epochs = lightning_max_epochs(config, dataset.mode)
    stop_on_signal = StopOnSignal()
    trainer = build_trainer(
        config, max_epochs, callbacks=[SeedEveryStep(loader.batch_sampler), WeightGuard(), stop_on_signal, *(callbacks or [])]
    )
    per_process = math.ceil(len(dataset) / trainer.world_size)  # each process's share of each epoch
    batch_size = int(config["data"]["batch_size_per_device"])
    if per_process < batch_size:
        raise PretrainConfigError(
            f"data.batch_size_per_device={batch_size} exceeds the {per_process} item(s) each of the "
            f"{trainer.world_size} process(es) gets from the {len(dataset)} items of {config['data']['root']!r} "
            "(incomplete batches are dropped, so nothing would train); lower the batch size or add videos"
        )
    peak_lr = model.peak_lr(trainer.world_size)
    if not math.isfinite(peak_lr) or peak_lr > _MAX_LR:
        raise PretrainConfigError(
            f"optim.base_lr={config['optim']['base_lr']!r} gives a peak learning rate of {peak_lr:g} (base_lr x "
            f"batch / 256), beyond what float32 weights survive (> {_MAX_LR:g}); use a learning rate near 5e-4"
        )
    written = trainer.strategy.checkpoint_io.written
    try:
        with warnings.catch_warnings():
            # Expected here: validation_step serves Lightly's benchmarks only, and the EMA teacher stays in eval mode.
            warnings.filterwarnings("ignore", message=r".*defined a `validation_step` but have no `val_dataloader`")
            warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training")
            # Resuming mid-epoch is exact here: the batches are a function of the global step (see .reproducible).
            warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch")
            # One run, one directory: a non-empty checkpoint directory here is this run's own (resumed).
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            trainer.fit(
                model, train_dataloaders=loader, ckpt_path=str(choice.path) if choice else None, weights_only=True
            )
    except RuntimeError as err:
        if isinstance(err, NonFiniteLossError):
            raise type(err)(f"{err} {_newest_checkpoint_note(written, choice)}") from err
        if choice is not None and "state_dict" in str(err):
            first = str(err).splitlines()[0]
            raise PretrainConfigError(
                f"--resume {str(choice.path)!r} does not fit the model of this config (resume with the config it "
                f"was trained with): {first}"
            ) from err
        raise
    csv_logger = next(lg for lg in trainer.loggers if type(lg).__name__ == "CSVLogger")
    tb_logger = next(lg for lg in trainer.loggers if type(lg).__name__ == "TensorBoardLogger")
    last = ckpt_dir / "last.ckpt"
    return {
        "output_dir": out,
        "checkpoint_dir": ckpt_dir,
        "last_checkpoint": last if last in written else (written[-1] if written else None),
        "checkpoints_written": list(written),
        "resumed_from": choice.path if choice else None,
        "resume_skipped": list(choice.skipped) if choice else [],
        "global_step": int(trainer.global_step),
        "interrupted_by": stop_on_signal.signal_name,
        "csv_log": Path(csv_logger.log_dir) / "metrics.csv",
        "tensorboard_dir": Path(tb_logger.log_dir),
        "dataset": repr(dataset),
        "compile": model.compile_status(),
        "optimizer": model.optimizer_implementation,
        "augment": "device" if model.batch_augment is not None else "cpu",
    }


def _start_from_official(model, path: str | os.PathLike, resume: str | os.PathLike | None) -> None:
    """``--resume-official``: load the released student, EMA teacher, heads and centre into the new module."""
    from midway_plugin.lightly.official_resume import load_official_training_state
    from midway_plugin.official.convert import OfficialCheckpointError

    if resume is not None:
        raise PretrainConfigError("--resume and --resume-official exclude each other")
    try:
        print(load_official_training_state(model, path).summary())
    except OfficialCheckpointError as err:
        raise PretrainConfigError(f"--resume-official: {err}") from err


def _newest_checkpoint_note(written: list[Path], choice: Any) -> str:
    """Where to go back to after divergence: every checkpoint written passed the parameter check."""
    if written:
        return f"The newest checkpoint of this run, {written[-1]}, holds finite weights (resume from it)."
    if choice is not None:
        return f"This run wrote no checkpoint; it started from {choice.path} (global step {choice.global_step})."
    return "This run wrote no checkpoint."
