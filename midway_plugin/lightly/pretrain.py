"""A pretraining run: a loaded config → its plan → dataset, module and Lightning Trainer → checkpoints and logs.

The config: :mod:`.pretrain_config` (``load_config``); what it means on this machine, decided once:
:mod:`.pretrain_plan`; the parts, built from the plan: :mod:`.builders`.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from pytorch_lightning import Callback, Trainer, seed_everything

from midway_plugin.lightly.atomic_checkpoint import AtomicCheckpointIO
from midway_plugin.lightly.builders import (
    build_dataloader,
    build_dataset,
    build_model,
    build_trainer,
    build_transform,
)
from midway_plugin.lightly.divergence import WeightGuard
from midway_plugin.lightly.generated_motion import report_generated_motion
from midway_plugin.lightly.health import write_health_report
from midway_plugin.lightly.midway import Midway, NonFiniteLossError
from midway_plugin.lightly.official_resume import load_official_training_state
from midway_plugin.lightly.preemption import StopOnSignal
from midway_plugin.lightly.pretrain_config import PretrainConfigError
from midway_plugin.lightly.pretrain_plan import PretrainPlan
from midway_plugin.lightly.reproducible import SeedEveryStep, StepBatchSampler
from midway_plugin.lightly.resume import ResumeChoice, checkpoint_files, resolve_resume
from midway_plugin.official.convert import OfficialCheckpointError
from midway_plugin.output_lock import OutputLock, OutputLockError, is_launching_process

#: Peak learning rates above this overflow float32 updates outright (the paper's is 5e-4 x batch / 256).
_MAX_LR = 1e30


def run_pretraining(
    config: Mapping[str, Any],
    *,
    resume: str | os.PathLike[str] | None = None,
    callbacks: list[Callback] | None = None,
    resume_official: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Trains from a loaded config; returns paths and the final global step.

    One run, one directory: without ``resume``, an ``output_dir`` that already holds checkpoints is refused
    (a second run would mix its checkpoints with the first one's).

    Args:
        config: From :func:`~midway_plugin.lightly.pretrain_config.load_config`.
        resume: A Lightning checkpoint to continue from (same global step, optimizer, schedulers, EMA teacher, and
            the same data order and crops, see :mod:`.reproducible`), a run or checkpoint directory, or ``"last"``
            (this config's ``output_dir``): the newest checkpoint there that loads (see :mod:`.resume`).
        callbacks: Extra Lightning callbacks (tests).
        resume_official: A checkpoint of the official Midway code to start from (student, EMA teacher, DINO heads
            and centre; see :mod:`midway_plugin.lightly.official_resume`); excludes ``resume``.

    Returns:
        ``{"output_dir", "checkpoint_dir", "last_checkpoint", "checkpoints_written", "resumed_from", "resume_skipped",
        "global_step", "interrupted_by", "csv_log", "tensorboard_dir", "dataset", "health"}``; ``last_checkpoint`` is
        the newest checkpoint this run wrote (None if none), ``interrupted_by`` the signal name that stopped it,
        ``health`` the learning-health summary written to ``output_dir/health.json`` (with ``health.png``; see
        :mod:`.health`), None on processes other than rank 0.

    Raises:
        PretrainConfigError: A bad config value, an occupied ``output_dir`` (checkpoints of an earlier run, or
            another run holding it: see :mod:`midway_plugin.output_lock`), or a ``resume`` that does not load.
        midway_plugin.lightly.atomic_checkpoint.CheckpointSaveError: A checkpoint could not be written (full disk).
        midway_plugin.lightly.midway.NonFiniteLossError: Training diverged (names the newest finite checkpoint).
    """
    plan = PretrainPlan.from_config(config)
    # One run, one directory, held for the whole run (DDP: by the launching process; see data/output_lock.py).
    lock = OutputLock(str(plan.output_dir), "output_dir")
    try:
        if is_launching_process():
            lock.acquire()
    except OutputLockError as err:
        raise PretrainConfigError(str(err)) from None
    try:
        return _run(plan, resume=resume, callbacks=callbacks, resume_official=resume_official)
    finally:
        lock.release()


def _run(
    plan: PretrainPlan,
    *,
    resume: str | os.PathLike[str] | None,
    callbacks: list[Callback] | None,
    resume_official: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    if plan.torch_threads is not None:
        torch.set_num_threads(plan.torch_threads)
    out, ckpt_dir = plan.output_dir, plan.checkpoint_dir
    choice = None
    if resume is not None:
        choice = resolve_resume(resume, out)
        for path, reason in choice.skipped:
            print(f"resume: skipped {path}: {reason}", file=sys.stderr)
    elif ckpt_dir.is_dir() and checkpoint_files(ckpt_dir):
        existing = checkpoint_files(ckpt_dir)
        raise PretrainConfigError(
            f"output_dir {str(out)!r} already holds {len(existing)} checkpoint(s) of an earlier run (newest: "
            f"{existing[0].name}): continue it with --resume last, or start a new run with another --output-dir"
        )
    seed_everything(plan.seed, workers=True, verbose=False)
    transform = build_transform(plan)
    dataset = build_dataset(plan, transform)
    report_generated_motion(plan, transform.motion)  # make-video output: the motion of a pair in tokens
    loader = build_dataloader(plan, dataset)
    model = build_model(plan, transform)
    if resume_official is not None:
        _start_from_official(model, resume_official, resume)
    stop_on_signal = StopOnSignal()
    sampler = cast(StepBatchSampler, loader.batch_sampler)
    trainer = build_trainer(plan, callbacks=[SeedEveryStep(sampler), WeightGuard(), stop_on_signal, *(callbacks or [])])
    plan.check_batch(len(dataset), trainer.world_size)
    peak_lr = model.peak_lr(trainer.world_size)
    if not math.isfinite(peak_lr) or peak_lr > _MAX_LR:
        raise PretrainConfigError(
            f"optim.base_lr={plan.base_lr!r} gives a peak learning rate of {peak_lr:g} (base_lr x "
            f"batch / 256), beyond what float32 weights survive (> {_MAX_LR:g}); use a learning rate near 5e-4"
        )
    written = cast(AtomicCheckpointIO, trainer.strategy.checkpoint_io).written  # build_trainer's plugin
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
            _health_report(model, trainer, out)  # what led there: the health curves up to the divergence
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
    health = _health_report(model, trainer, out)
    return {
        "output_dir": out,
        "checkpoint_dir": ckpt_dir,
        "last_checkpoint": last if last in written else (written[-1] if written else None),
        "checkpoints_written": list(written),
        "resumed_from": choice.path if choice else None,
        "resume_skipped": list(choice.skipped) if choice else [],
        "global_step": int(trainer.global_step),
        "interrupted_by": stop_on_signal.signal_name,
        "csv_log": Path(str(csv_logger.log_dir)) / "metrics.csv",
        "tensorboard_dir": Path(str(tb_logger.log_dir)),
        "dataset": repr(dataset),
        "compile": model.compile_status(),
        "optimizer": model.optimizer_implementation,
        "augment": "device" if model.batch_augment is not None else "cpu",
        "health": health,
    }


def _health_report(model: Midway, trainer: Trainer, out: Path) -> dict[str, Any] | None:
    """Rank 0: ``health.json`` + ``health.png`` (curves from this run's ``metrics.csv``) in ``out``; the summary."""
    if not trainer.is_global_zero:
        return None
    csv_logger = next((lg for lg in trainer.loggers if type(lg).__name__ == "CSVLogger"), None)
    csv_path = Path(str(csv_logger.log_dir)) / "metrics.csv" if csv_logger is not None else None
    try:
        return write_health_report(model.health, out, csv_path)
    except OSError as err:  # a report must not turn a finished run into a failed one
        print(f"learning health: could not write the report into {out}: {err}", file=sys.stderr)
        return None


def _start_from_official(model: Midway, path: str | os.PathLike[str], resume: str | os.PathLike[str] | None) -> None:
    """``--resume-official``: load the released student, EMA teacher, heads and centre into the new module."""
    if resume is not None:
        raise PretrainConfigError("--resume and --resume-official exclude each other")
    try:
        print(load_official_training_state(model, path).summary())
    except OfficialCheckpointError as err:
        raise PretrainConfigError(f"--resume-official: {err}") from err


def _newest_checkpoint_note(written: list[Path], choice: ResumeChoice | None) -> str:
    """Where to go back to after divergence: every checkpoint written passed the parameter check."""
    if written:
        return f"The newest checkpoint of this run, {written[-1]}, holds finite weights (resume from it)."
    if choice is not None:
        return f"This run wrote no checkpoint; it started from {choice.path} (global step {choice.global_step})."
    return "This run wrote no checkpoint."
