"""The parts of a pretraining run, each built from its :class:`~.pretrain_plan.PretrainPlan`: transform, dataset,
data loader, module, trainer.

The builders read the plan only (device, precision, where views are rendered, epochs and paths are decided there,
once); the run that wires the parts together: :mod:`.pretrain`.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning import Callback, Trainer
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from midway_plugin.data.video.pairs import VideoPairDataset
from midway_plugin.data.views.device_augment import DeviceAugment, PairGeometryTransform, collate_decoded
from midway_plugin.data.views.dino_transform import MidwayDINOTransform
from midway_plugin.data.views.midway_transform import MidwayTransform
from midway_plugin.data.views.motion_transform import MidwayMotionTransform
from midway_plugin.lightly.atomic_checkpoint import AtomicCheckpointIO
from midway_plugin.lightly.midway import Midway
from midway_plugin.lightly.preemption import ignore_stop_signals
from midway_plugin.lightly.pretrain_config import PretrainConfigError
from midway_plugin.lightly.pretrain_plan import PretrainPlan
from midway_plugin.lightly.reproducible import SeededSamples, StepBatchSampler
from midway_plugin.lightly.step_checkpoint import StepCheckpoint


def build_transform(plan: PretrainPlan) -> MidwayTransform:
    """The paired :class:`~midway_plugin.data.views.MidwayTransform` of ``data.motion`` / ``data.dino``.

    Built once per run: the dataset renders views with it, or (views on the device) draws its geometry while the
    module's :class:`~midway_plugin.data.views.device_augment.DeviceAugment` renders with the same transform.
    """
    try:
        motion = MidwayMotionTransform(**plan.motion) if plan.motion is not None else None
        dino = MidwayDINOTransform(**plan.dino) if plan.dino is not None else None
        return MidwayTransform(motion, dino, with_motion=motion is not None, with_dino=dino is not None)
    except TypeError as err:
        raise PretrainConfigError(f"data.motion / data.dino: {err}") from err
    except ValueError as err:
        raise PretrainConfigError(f"data transform: {err}") from err


def build_dataset(plan: PretrainPlan, transform: MidwayTransform) -> VideoPairDataset:
    """The :class:`~midway_plugin.data.video.VideoPairDataset` of ``data`` (views from ``transform``, or their geometry
    when views are rendered on the device).

    Raises:
        PretrainConfigError: ``data.root`` missing or invalid options.
        midway_plugin.data.video.NoUsableVideoError: No usable video under ``data.root``.
    """
    root = plan.data_root
    if root is None:
        raise PretrainConfigError("data.root is not set: give a folder of videos or one video file")
    if not root.exists():
        raise PretrainConfigError(f"data.root {str(root)!r} does not exist")
    # Views on the device: workers decode and draw boxes; the module renders the views.
    item_transform = PairGeometryTransform(transform) if plan.augment_on_device else transform
    try:
        return VideoPairDataset(root, transform=item_transform, **plan.dataset_options)
    except ValueError as err:
        raise PretrainConfigError(f"data: {err}") from err


def build_dataloader(plan: PretrainPlan, dataset: VideoPairDataset) -> DataLoader[dict[str, Any]]:
    """DataLoader whose batches are a function of (seed, global step, sample): see :mod:`.reproducible`.

    Its ``batch_sampler`` is a :class:`~midway_plugin.lightly.reproducible.StepBatchSampler` (sharded over DDP
    ranks itself, so Lightning must not add a distributed sampler); dict batches from the default collate.
    """
    workers = plan.num_workers
    decoded = plan.augment_on_device
    return DataLoader(
        SeededSamples(dataset),
        batch_sampler=StepBatchSampler(len(dataset), plan.batch_size, plan.seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate_decoded if decoded else None,
        pin_memory=decoded and plan.on_cuda and not plan.decodes_on_gpu,  # frames decoded on the GPU stay there
        worker_init_fn=ignore_stop_signals if workers > 0 else None,  # items seed themselves (SeededSamples)
    )


def build_model(plan: PretrainPlan, transform: MidwayTransform) -> Midway:
    """The :class:`~midway_plugin.lightly.Midway` module of a plan; it renders views with ``transform`` when the
    plan puts augmentation on the device.

    Raises:
        PretrainConfigError: An invalid model/method/optim value (the message names it).
    """
    try:
        model = Midway(**plan.midway_kwargs)
    except (TypeError, ValueError) as err:
        raise PretrainConfigError(f"model/method/optim: {err}") from err
    if plan.augment_on_device:
        model.batch_augment = DeviceAugment(transform)
    return model


def build_trainer(plan: PretrainPlan, *, callbacks: list[Callback] | None = None) -> Trainer:
    """Lightning Trainer with TensorBoard + CSV logs, step checkpoints and a final checkpoint.

    Layout under ``output_dir``: ``checkpoints/step-XXXXXXXX.ckpt`` every ``checkpoint_every_n_steps`` steps,
    ``checkpoints/last.ckpt`` (updated with them and written at the end of training), ``tensorboard/version_N/``,
    ``csv/version_N/metrics.csv``. Checkpoints are written atomically (:mod:`.atomic_checkpoint`).
    """
    out = str(plan.output_dir)
    checkpoint = StepCheckpoint(
        dirpath=str(plan.checkpoint_dir),
        filename="step-{step:08d}",
        auto_insert_metric_name=False,
        every_n_train_steps=plan.checkpoint_every,
        save_top_k=-1,
        save_last=True,
        enable_version_counter=False,  # one run, one directory: never a silent last-v1.ckpt
    )
    loggers = [
        TensorBoardLogger(save_dir=out, name="tensorboard", default_hp_metric=False),
        CSVLogger(save_dir=out, name="csv"),
    ]
    options: dict[str, Any] = dict(plan.trainer_options)
    try:
        return Trainer(
            **options,
            max_epochs=plan.max_epochs,
            precision=plan.precision,  # type: ignore[arg-type]  # a value of Lightning's precision Literal
            logger=loggers,
            callbacks=[checkpoint, *(callbacks or [])],
            default_root_dir=out,
            num_sanity_val_steps=0,
            plugins=[AtomicCheckpointIO()],
            use_distributed_sampler=False,  # the StepBatchSampler shards over ranks itself
        )
    except (ValueError, TypeError, RuntimeError) as err:
        raise PretrainConfigError(f"trainer: {err}") from err


__all__ = ["build_dataloader", "build_dataset", "build_model", "build_trainer", "build_transform"]
