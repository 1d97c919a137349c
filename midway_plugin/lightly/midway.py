"""The Midway Network pretraining method as a Lightning module, in the idiom of Lightly's benchmarks.

Built from Lightly's parts like ``benchmarks/imagenet/vitb16/dino.py``: ``DINOProjectionHead`` for student and
teacher, ``update_momentum`` + ``cosine_schedule`` for the EMA teacher, ``get_weight_decay_parameters`` and
``update_param_groups`` for the weight-decay groups and schedule, ``CosineWarmupScheduler`` for the learning rate
and ``OnlineLinearClassifier`` when class labels are available (Lightly's benchmark ``main.py``). The Midway parts
(encoder, EMA teacher encoder, dynamics networks, dense forward-prediction loss) come from the core,
:class:`~midway_plugin.models.MidwayNetwork`; the paired-frame DINO loss is :class:`DINOPairLoss`.

Batches: either the dict collated from :class:`~midway_plugin.data.video.VideoPairDataset` with
:class:`~midway_plugin.data.views.MidwayTransform` (``batch["views"]`` holding ``(B, R, C, H, W)`` tensors), or
Lightly's ``(views, targets, filenames)`` triple whose ``views`` is the flat list produced by
:class:`~midway_plugin.lightly.benchmark_method.MidwayImageTransform` (see :mod:`midway_plugin.data.views.batch_views`).

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558): Eq. 3 (total loss), §4.1 + Table 8 (recipe); docs/paper.md §1.7, §1.8, §1.10, §2.4.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

import torch
from lightly.models.modules import DINOProjectionHead
from lightly.models.utils import deactivate_requires_grad, get_weight_decay_parameters, update_momentum
from lightly.utils.benchmarking import OnlineLinearClassifier
from lightly.utils.optim import update_param_groups
from lightly.utils.scheduler import CosineWarmupScheduler, cosine_schedule
from pytorch_lightning import LightningModule
from torch import Tensor, nn
from torch.optim import Optimizer

from midway_plugin.data.views.batch_views import flatten_pairs, unpack_batch
from midway_plugin.lightly.dino_pair_loss import DINOPairLoss
from midway_plugin.lightly.health import HealthMonitor
from midway_plugin.lightly.train_step import (
    clip_grad_per_parameter_,
    compile_guarded,
    compile_report,
    make_adamw,
    student_head_outputs,
)
from midway_plugin.models import MidwayNetwork, resolve_config
from midway_plugin.models.health import cross_image_cosine, dino_teacher_stats, dynamics_health, view_image_ids

CLIP_MODES = ("per_parameter", "norm")
#: EMA momentum schedules: "paper" = cosine from ``momentum_start`` to ``momentum_end`` over the run (Table 8);
#: "official" = the released loop's indexing, which traverses only 1 / (dataset items per step) of that cosine.
EMA_SCHEDULES = ("paper", "official")


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; raised before the optimizer step, so no bad update is made or saved."""


class Midway(LightningModule):
    """Midway Network pretraining: dense forward prediction (latent dynamics) + paired-frame DINO.

    Total loss = ``dynamics_weight`` x dynamics loss (summed or averaged over levels by the core, see
    ``MidwayConfig.level_loss_reduction``) + ``dino_weight`` x paired-frame DINO loss (paper Eq. 3, code
    weights 1 and 1: docs/paper.md §1.8). With ``model.latent_dynamics=False`` it is the DINO-only base of Table 3
    (row 1), trained on the same paired-frame crops.

    The constructor's first two arguments match Lightly's benchmark ``main.py``
    (``METHODS[m]["model"](batch_size_per_device=..., num_classes=...)``); everything else has the paper's value
    as default. All arguments are plain types so that Lightning checkpoints load with ``weights_only=True``.

    Reference:
        Midway Network (ICLR 2026) Table 8 / docs/paper.md §2.4 (AdamW, lr 5e-4 x batch/256, 10 warmup epochs,
        cosine to 1e-6, wd 0.04 -> 0.4, clip 3.0, EMA 0.996 -> 1), §1.7 (DINO head and temperatures), §1.10.7-8
        (how the released code scales the lr and treats the dynamics module's weight decay and clipping).

    Args:
        batch_size_per_device: Dataset items per device and step (videos in folder mode; images in Lightly's
            benchmark). Each item holds ``repeat_sample`` pairs.
        num_classes: > 0 adds Lightly's ``OnlineLinearClassifier`` on the teacher CLS feature (benchmarks).
        model: The core configuration: a preset name, a dict with optional ``preset``, a ``MidwayConfig``
            (:func:`midway_plugin.models.resolve_config`).
        dino_weight: Weight of the DINO loss (code ``dino_weight: 1.0``); 0 disables the DINO branch.
        dynamics_weight: Weight of the dynamics loss (code ``midway_weights: [1, 1, 1]``); 0 disables it.
        head_output_dim: DINO prototypes (code ``out_dim: 65536``).
        head_hidden_dim: DINO head hidden width (2048).
        head_bottleneck_dim: DINO head bottleneck (256).
        teacher_temp: DINO teacher temperature (constant 0.04 in the released configs).
        student_temp: DINO student temperature (0.1).
        center_momentum: DINO centre momentum (0.9).
        momentum_start: EMA momentum at step 0 (0.996).
        momentum_end: EMA momentum at the last step of the cosine (1.0).
        ema_schedule: ``"paper"``: cosine ``momentum_start`` → ``momentum_end`` over all optimizer steps (Table 8);
            ``"official"``: as the released code, which builds that cosine over ``epochs x len(dataset)`` steps but
            indexes it with ``R x`` its loop iteration, so a run covers only the first 1 / (dataset items per
            optimizer step) of it (1/40 for BDD on 2 GPUs: the momentum stays within 0.996-0.99601). See
            :meth:`ema_momentum`.
        repeat_sample: Pairs per dataset item (R = 5 for BDD100K); counts in the lr scaling.
        base_lr: Base learning rate before linear scaling (5e-4).
        lr_scaling_batch: Batch used in ``lr = base_lr x batch / 256``; None = the pairs per optimizer step
            (``batch_size_per_device x repeat_sample x world size``), as the code does (docs/paper.md §1.10.7).
        min_lr: Final learning rate of the cosine schedule (1e-6).
        epochs: Length of training in paper epochs, used to convert ``warmup_epochs`` and
            ``freeze_last_layer_epochs`` into fractions of the optimizer steps; None = the trainer's
            ``max_epochs``.
        warmup_epochs: Linear lr warmup (10 epochs).
        weight_decay: Weight decay at step 0 (0.04), cosine to ``weight_decay_end`` (0.4).
        weight_decay_end: Final weight decay.
        dynamics_weight_decay: Constant weight decay of the dynamics networks' weights; the released code leaves
            them at AdamW's default 0.01 (docs/paper.md §1.10.8). None = follow the encoder's schedule (Table 8).
        betas: AdamW betas.
        freeze_last_layer_epochs: The student head's last layer gets no update during these first (paper)
            epochs (code ``freeze_last_layer: 1``), via ``DINOProjectionHead.cancel_last_layer_gradients``.
        freeze_last_layer_steps: The same in optimizer steps; replaces ``freeze_last_layer_epochs`` when set.
            The released loop freezes while its epoch counter, which steps by R = 5 on BDD, is below 1: exactly
            the first pass over the videos (1,750 steps for 70,000 videos at 20 per GPU on 2 GPUs).
        clip_mode: How Lightning's ``gradient_clip_val`` (3.0) is applied: ``"per_parameter"`` clips every
            parameter's gradient norm separately, on the encoder and DINO head only, like the released code
            (docs/paper.md §1.10.8); ``"norm"`` is Lightning's global clipping over all parameters.
        fused_optimizer: AdamW's fused kernels: None = where the device supports them, True = required, False =
            torch's default (foreach).
        compile: ``torch.compile`` the student/teacher encoders and the dynamics networks at the start of
            training; a part that fails to compile runs eagerly (one warning with the reason).
        health_every: Learning-health telemetry every this many steps (:mod:`midway_plugin.models.health`,
            :mod:`midway_plugin.lightly.health`): DINO teacher entropies, prototypes used and cross-image CLS
            cosine, and per level the copy-the-source and target-replaced-by-source ("motion use") losses and the
            mean gates, logged beside the losses, with a warning once per collapse / identity-dynamics episode.
            Observation only (no_grad); its one extra compute is a dynamics pass without the target frame. None =
            the trainer's ``log_every_n_steps`` (checked on the steps Lightning logs); 0 = off.
        health_warmup_steps: Steps before the identity-dynamics warning is looked for; None = the longer of the
            lr warmup and 10 % of the run (a young predictor is expected to copy).

    Attributes:
        batch_augment: Renders decoded batches on the device (the accelerator-augment path,
            :class:`~midway_plugin.data.views.device_augment.DeviceAugment`), applied after the batch is moved to the
            device (:meth:`render_batch`); None for batches of rendered views. Not a hyperparameter: set by the
            pretraining run.
    """

    def __init__(
        self,
        batch_size_per_device: int,
        num_classes: int = 0,
        model: Mapping[str, Any] | None = None,
        dino_weight: float = 1.0,
        dynamics_weight: float = 1.0,
        head_output_dim: int = 65536,
        head_hidden_dim: int = 2048,
        head_bottleneck_dim: int = 256,
        teacher_temp: float = 0.04,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        momentum_start: float = 0.996,
        momentum_end: float = 1.0,
        ema_schedule: str = "paper",
        repeat_sample: int = 1,
        base_lr: float = 5e-4,
        lr_scaling_batch: int | None = None,
        min_lr: float = 1e-6,
        epochs: float | None = None,
        warmup_epochs: float = 10.0,
        weight_decay: float = 0.04,
        weight_decay_end: float = 0.4,
        dynamics_weight_decay: float | None = 0.01,
        betas: Sequence[float] = (0.9, 0.999),
        freeze_last_layer_epochs: float = 1.0,
        clip_mode: str = "per_parameter",
        freeze_last_layer_steps: int | None = None,
        fused_optimizer: bool | None = None,
        compile: bool = False,
        health_every: int | None = None,
        health_warmup_steps: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size_per_device < 1:
            raise ValueError(f"batch_size_per_device must be >= 1, got {batch_size_per_device}")
        if clip_mode not in CLIP_MODES:
            raise ValueError(f"clip_mode must be one of {CLIP_MODES}, got {clip_mode!r}")
        if ema_schedule not in EMA_SCHEDULES:
            raise ValueError(f"ema_schedule must be one of {EMA_SCHEDULES}, got {ema_schedule!r}")
        if freeze_last_layer_steps is not None and (
            not isinstance(freeze_last_layer_steps, int)
            or isinstance(freeze_last_layer_steps, bool)
            or freeze_last_layer_steps < 0
        ):
            raise ValueError(
                f"freeze_last_layer_steps must be an integer >= 0 or null, got {freeze_last_layer_steps!r}"
            )
        for name, value in (("health_every", health_every), ("health_warmup_steps", health_warmup_steps)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be an integer >= 0 or null, got {value!r}")
        if dino_weight < 0 or dynamics_weight < 0:
            raise ValueError(f"loss weights must be >= 0, got dino {dino_weight}, dynamics {dynamics_weight}")
        cfg = resolve_config(model, name="model")
        if dino_weight == 0 and (dynamics_weight == 0 or not cfg.latent_dynamics):
            raise ValueError("nothing to train: dino_weight is 0 and the dynamics loss is off")
        self.cfg = cfg
        # Plain types only: the checkpoint must load with torch.load(weights_only=True).
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model"] = cfg.to_dict()
        self.hparams["betas"] = [float(b) for b in betas]

        self.network = MidwayNetwork(cfg, with_teacher=True)
        self.batch_augment: Any = None
        self.optimizer_implementation: str | None = None
        self.compiled: dict[str, Any] = {}
        self.health = HealthMonitor()
        embed_dim = self.network.encoder.embed_dim
        head_kwargs = dict(
            input_dim=embed_dim,
            hidden_dim=head_hidden_dim,
            bottleneck_dim=head_bottleneck_dim,
            output_dim=head_output_dim,
            batch_norm=False,
            norm_last_layer=False,
        )
        self.student_head = DINOProjectionHead(**head_kwargs, freeze_last_layer=1)
        # Built separately, not deep-copied: a module holding a weight-normed layer cannot be deep-copied.
        self.teacher_head = DINOProjectionHead(**head_kwargs)
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        deactivate_requires_grad(self.teacher_head)
        self.criterion = DINOPairLoss(
            output_dim=head_output_dim,
            teacher_temp=teacher_temp,
            student_temp=student_temp,
            center_momentum=center_momentum,
        )
        self.online_classifier = (
            OnlineLinearClassifier(
                feature_dim=embed_dim, num_classes=num_classes, topk=(1, 5) if num_classes >= 5 else (1,)
            )
            if num_classes > 0
            else None
        )

    # ------------------------------------------------------------------ properties
    @property
    def hp(self) -> Any:
        """The hyperparameters by name (Lightning's ``AttributeDict``, which its stubs type as a plain mapping)."""
        return self.hparams

    @property
    def use_dynamics(self) -> bool:
        return bool(self.cfg.latent_dynamics and self.hp.dynamics_weight > 0)

    @property
    def use_dino(self) -> bool:
        return bool(self.hp.dino_weight > 0)

    def _total_steps(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches))

    def _epochs(self) -> float:
        if self.hp.epochs is not None:
            return float(self.hp.epochs)
        max_epochs = self.trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ValueError("set 'epochs' (paper epochs) when the trainer has no max_epochs (max_steps only)")
        return float(max_epochs)

    def ema_momentum(self, step: int) -> float:
        """The EMA momentum at an optimizer step, per ``ema_schedule``.

        ``"official"``: the released loop indexes a cosine of ``epochs x len(dataset)`` entries with
        ``R x step`` (its iteration counter advances by R per step), while a run has ``epochs x len(dataset) /
        (R x items per step)`` steps; the position in the cosine is therefore ``step / (total steps x items
        per step)``, items = videos (BDD) or pairs (WT) per device x devices.
        """
        hp = self.hp
        total = self._total_steps()
        if hp.ema_schedule == "official":
            items_per_step = hp.batch_size_per_device * self.trainer.world_size
            progress = step / (total * items_per_step)
            drop = (hp.momentum_end - hp.momentum_start) * (math.cos(math.pi * progress) + 1) / 2
            return float(hp.momentum_end - drop)
        return float(
            cosine_schedule(step=step, max_steps=total, start_value=hp.momentum_start, end_value=hp.momentum_end)
        )

    def last_layer_frozen(self, step: int) -> bool:
        """Whether the student head's last layer is frozen at an optimizer step (``freeze_last_layer_*``)."""
        if self.hp.freeze_last_layer_steps is not None:
            return bool(step < self.hp.freeze_last_layer_steps)
        return bool(self.paper_epoch() < self.hp.freeze_last_layer_epochs)

    def paper_epoch(self) -> float:
        """Training progress in (paper) epochs: global step x epochs / total steps."""
        return self.trainer.global_step * self._epochs() / self._total_steps()

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tensor:
        """Teacher (EMA) CLS features ``(B, D)``: the representation Lightly's kNN/linear evaluations read."""
        return self.network.teacher_encoder.forward_cls(x)

    def render_batch(self, batch: Any) -> Any:
        """Accelerator-augment path: renders the views of decoded frame pairs on the batch's (training) device.

        Called at the start of :meth:`training_step`, after the per-step reseeding of the generators
        (``SeedEveryStep.on_train_batch_start``), so the photometric draws are a function of (seed, step) too.
        """
        if self.batch_augment is not None and isinstance(batch, Mapping) and isinstance(batch.get("views"), Mapping):
            if "frames" in batch["views"]:
                with torch.no_grad():  # flatten_pairs: (B, R, ...) -> (B * R, ...), any rank
                    batch = {**batch, "views": self.batch_augment(flatten_pairs(batch["views"]))}
        return batch

    def on_fit_start(self) -> None:
        if self.hparams.get("compile") and not self.compiled:
            modules: dict[str, nn.Module] = {"encoder": self.network.encoder}
            if getattr(self.network, "teacher_encoder", None) is not None:
                modules["teacher_encoder"] = self.network.teacher_encoder
            for name, module in self.network.dynamics_modules().items():
                children = dict(module.items()) if isinstance(module, nn.ModuleDict) else {"": module}
                modules.update({f"{name}.{key}".rstrip("."): child for key, child in children.items()})
            self.compiled = compile_guarded(modules, methods=("forward", "forward_cls"))

    def compile_status(self) -> str:
        """What ``compile=True`` did: per compiled method, "compiled" / "failed (reason)" and compile time."""
        return compile_report(self.compiled) if self.compiled else "not compiled"

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        views = unpack_batch(self.render_batch(batch))
        step = self.trainer.global_step
        # EMA update of the teacher before this step's forward (Lightly's idiom): the teacher state saved in a
        # checkpoint after step N has seen the student up to step N - 1, so resuming repeats nothing.
        momentum = self.ema_momentum(step)
        self.network.update_teacher(momentum)
        update_momentum(self.student_head, self.teacher_head, m=momentum)

        terms: dict[str, Tensor] = {}
        level_losses: dict[str, Tensor] = {}
        teacher_cls: Tensor | None = None
        check_health = self.health_step(step)
        health: dict[str, float] = {}
        if self.use_dino:
            if len(views.globals_) < 2 or len(views.globals_) % 2:
                raise ValueError(f"the DINO loss needs 2 G global views (G per frame), got {len(views.globals_)}")
            with torch.no_grad():
                teacher_cls = self.network.teacher_encoder.forward_cls(torch.cat(views.globals_))
                teacher_out = self.teacher_head(teacher_cls).chunk(len(views.globals_))
            # One encoder pass per resolution (as DINO's multi-crop wrapper), one head call for all views.
            student_out = student_head_outputs(
                self.network.encoder.forward_cls, self.student_head, [views.globals_, views.locals_]
            )
            if check_health:  # before the loss: the centre the loss uses, before its update
                health.update(self._dino_health(teacher_out, teacher_cls, views.batch_size))
            terms["dino"] = self.criterion(teacher_out, student_out)
        if self.use_dynamics:
            if views.motion is None:
                raise ValueError("the dynamics loss needs the motion crops, but the batch has none")
            output = self.network(
                views.motion[0], views.motion[1], return_gates=check_health, return_features=check_health
            )
            terms["dynamics"] = output.loss
            level_losses = dict(output.level_losses)
        loss = cast(
            Tensor,
            sum(
                (self.hp.dino_weight if name == "dino" else self.hp.dynamics_weight) * value
                for name, value in terms.items()
            ),
        )
        self._check_finite(step, loss, terms, level_losses)

        batch_size = views.batch_size
        log: dict[str, Tensor | float] = {"train_loss": loss.detach(), "ema_momentum": momentum}
        for name, value in terms.items():
            log[f"loss_{name}"] = value.detach()
        for name, value in level_losses.items():
            log[f"loss_dynamics_{name}"] = value.detach()
        self.log_dict(log, prog_bar=False, sync_dist=True, batch_size=batch_size)
        self.log("loss", loss.detach(), prog_bar=True, logger=False, batch_size=batch_size)
        if check_health:
            if self.use_dynamics:
                health.update(self._dynamics_health(output))
                output = None  # the kept features are not needed any more
            self.log_dict(health, sync_dist=True, batch_size=batch_size)
            self.health.emit = self.trainer.is_global_zero
            self.health.update(step, {**health, **{k: float(v) for k, v in log.items() if k.startswith("loss_")}})

        if self.online_classifier is not None and views.targets is not None:
            if teacher_cls is None:
                with torch.no_grad():
                    features = self.forward(views.motion[0] if views.motion is not None else views.globals_[0])
            else:
                features = teacher_cls.chunk(len(views.globals_))[0].detach()
            cls_loss, cls_log = self.online_classifier.training_step((features, views.targets), batch_idx)
            self.log_dict(cls_log, sync_dist=True, batch_size=batch_size)
            loss = loss + cast(Tensor, cls_loss)
        return loss

    # ------------------------------------------------------------------ learning health
    def health_every(self) -> int:
        """Steps between health checks: ``health_every``, None = the trainer's ``log_every_n_steps``; 0 = off."""
        every = self.hparams.get("health_every")
        if every is None:
            try:
                every = int(self.trainer.log_every_n_steps)  # type: ignore[attr-defined]  # set by a connector
            except (RuntimeError, AttributeError):  # not attached to a (real) trainer
                every = 0
        return int(every)

    def health_step(self, step: int) -> bool:
        """Whether this step is checked: the steps Lightning logs, ``(step + 1) % every == 0``, when they coincide."""
        every = self.health_every()
        return every > 0 and (step + 1) % every == 0

    def health_warmup_steps(self) -> int:
        """``health_warmup_steps``, or the longer of the lr warmup and 10 % of the run."""
        if self.hparams.get("health_warmup_steps") is not None:
            return int(self.hp.health_warmup_steps)
        total = self._total_steps()
        warmup = int(round(total * self.hp.warmup_epochs / self._epochs()))
        return min(total, max(warmup, total // 10))

    def on_train_start(self) -> None:
        self.health = HealthMonitor(warmup_steps=self.health_warmup_steps())

    @torch.no_grad()
    def _dino_health(self, teacher_out: Sequence[Tensor], teacher_cls: Tensor, batch_size: int) -> dict[str, float]:
        """DINO teacher entropies / ln K and prototypes used (the loss's centre and temperature), cross-image cosine."""
        stats = dino_teacher_stats(self.criterion.teacher_probabilities(teacher_out))
        ids = view_image_ids(len(teacher_out), batch_size, device=teacher_cls.device)
        return {
            **{f"dino_{k}": float(v) for k, v in stats.items()},
            "dino_cross_image_cos": cross_image_cosine(teacher_cls, ids),
        }

    @torch.no_grad()
    def _dynamics_health(self, output: Any) -> dict[str, float]:
        """Per level: copy loss, motion-use loss (one extra dynamics pass, RNG state restored), mean gate."""
        devices = [output.loss.device] if output.loss.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            stats = dynamics_health(self.network, output)
        out: dict[str, float] = {}
        for level, row in stats.items():
            out[f"loss_copy_{level}"] = row["copy"]
            out[f"loss_motion_use_{level}"] = row["motion_use"]
            if "gate" in row:
                out[f"gate_{level}"] = row["gate"]
        return out

    def _check_finite(
        self, step: int, loss: Tensor, terms: Mapping[str, Tensor], level_losses: Mapping[str, Tensor]
    ) -> None:
        """Raises :class:`NonFiniteLossError` naming the step and term(s) when the loss is NaN/inf on any rank."""
        local_bad = not bool(torch.isfinite(loss.detach()).all())
        any_bad = self.trainer.strategy.reduce_boolean_decision(local_bad, all=False)
        if not any_bad:
            return
        if local_bad:
            named = {**terms, **{f"dynamics/{k}": v for k, v in level_losses.items()}}
            bad = [
                f"{name}={float(value.detach()):g}"
                for name, value in named.items()
                if not torch.isfinite(value.detach()).all()
            ]
            detail = ", ".join(bad) if bad else f"total={float(loss.detach()):g}"
        else:
            detail = "on another process"
        raise NonFiniteLossError(
            f"non-finite loss at global step {step} (epoch {self.current_epoch}, batch {batch_idx_str(self)}): "
            f"{detail}. Training stopped before the optimizer step (lower the learning rate or use fp32/bf16 "
            "precision)."
        )

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor | None:
        """Online-classifier validation for Lightly benchmark batches ``(images, targets, filenames)``."""
        if self.online_classifier is None:
            return None
        images, targets = batch[0], batch[1]
        features = self.forward(images).flatten(start_dim=1)
        cls_loss, cls_log = self.online_classifier.validation_step((features.detach(), targets), batch_idx)
        self.log_dict(cls_log, prog_bar=True, sync_dist=True, batch_size=len(targets))
        return cast(Tensor, cls_loss)

    # ------------------------------------------------------------------ optimisation
    def _dynamics_modules(self) -> list[nn.Module]:
        return [
            getattr(self.network, name)
            for name in ("backward", "midway", "predictor")
            if isinstance(getattr(self.network, name, None), nn.Module)
        ]

    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW parameter groups: Lightly's split into decayed / not decayed (biases, norms) parameters.

        ``encoder_head`` (student encoder + DINO head weights) follows the weight-decay schedule; ``dynamics``
        (dynamics networks' weights) gets ``dynamics_weight_decay`` or the schedule; ``no_weight_decay`` gets 0;
        ``online_classifier`` (benchmarks) gets 0.

        Raises:
            RuntimeError: A trainable parameter is in no group (names it), i.e. the core grew a module this
                method does not know.
        """
        encoder_head = [self.network.encoder, self.student_head]
        enc_decay, enc_no_decay = get_weight_decay_parameters(encoder_head)
        dyn_decay, dyn_no_decay = get_weight_decay_parameters(self._dynamics_modules())
        hp = self.hp
        groups: list[dict[str, Any]] = [
            {"name": "encoder_head", "params": _trainable(enc_decay), "weight_decay": hp.weight_decay},
            {
                "name": "dynamics",
                "params": _trainable(dyn_decay),
                "weight_decay": hp.weight_decay if hp.dynamics_weight_decay is None else hp.dynamics_weight_decay,
            },
            {
                "name": "no_weight_decay",
                "params": _trainable(enc_no_decay) + _trainable(dyn_no_decay),
                "weight_decay": 0.0,
            },
        ]
        if self.online_classifier is not None:
            groups.append(
                {"name": "online_classifier", "params": list(self.online_classifier.parameters()), "weight_decay": 0.0}
            )
        grouped = {id(p) for g in groups for p in g["params"]}
        missing = [n for n, p in self.named_parameters() if p.requires_grad and id(p) not in grouped]
        if missing:
            raise RuntimeError(f"trainable parameters in no optimizer group: {', '.join(missing[:10])}")
        return [g for g in groups if g["params"]]

    def peak_lr(self, world_size: int | None = None) -> float:
        """``base_lr x batch / 256`` (DINO's linear scaling rule as the released code applies it).

        Args:
            world_size: Processes; None = the trainer's.
        """
        hp = self.hp
        batch = hp.lr_scaling_batch
        if batch is None:
            world_size = self.trainer.world_size if world_size is None else world_size
            batch = hp.batch_size_per_device * hp.repeat_sample * world_size
        return float(hp.base_lr * batch / 256.0)

    def configure_optimizers(self) -> Any:
        hp = self.hp
        peak_lr = self.peak_lr()
        fused = hp.get("fused_optimizer")
        if _uses_grad_scaler(self) and fused is not False:
            # fp16 + GradScaler: a fused AdamW unscales inside step(), after our clipping, which would then clip
            # scaled gradients (Lightning refuses the combination for its own clipping).
            if fused:
                raise ValueError(
                    "fused_optimizer=True cannot be combined with 16-mixed precision (GradScaler) and "
                    "gradient clipping; use bf16-mixed, or fused_optimizer null/false"
                )
            fused = False
        optimizer, self.optimizer_implementation = make_adamw(
            self.parameter_groups(), lr=peak_lr, betas=hp.betas, fused=fused
        )
        total_steps = self._total_steps()
        warmup_steps = min(total_steps, int(round(total_steps * hp.warmup_epochs / self._epochs())))
        scheduler = {
            "scheduler": CosineWarmupScheduler(
                optimizer=optimizer,
                warmup_epochs=warmup_steps,
                max_epochs=total_steps,
                end_value=hp.min_lr / peak_lr if peak_lr > 0 else 0.0,
            ),
            "interval": "step",
        }
        return [optimizer], [scheduler]

    def weight_decay_at(self, step: int) -> float:
        """The cosine weight-decay schedule (0.04 -> 0.4) at an optimizer step."""
        return float(
            cosine_schedule(
                step=step,
                max_steps=self._total_steps(),
                start_value=self.hp.weight_decay,
                end_value=self.hp.weight_decay_end,
            )
        )

    def on_before_optimizer_step(self, optimizer: Optimizer, *args: Any) -> None:
        # Freeze the last head layer early in training (DINO's freeze_last_layer), in steps or paper epochs.
        self.student_head.cancel_last_layer_gradients(
            current_epoch=0 if self.last_layer_frozen(self.trainer.global_step) else 1
        )
        weight_decay = self.weight_decay_at(self.trainer.global_step)
        updates = [{"name": "encoder_head", "weight_decay": weight_decay}]
        if self.hp.dynamics_weight_decay is None:
            updates.append({"name": "dynamics", "weight_decay": weight_decay})
        present = {g.get("name") for g in optimizer.param_groups}
        update_param_groups(optimizer, updates=[u for u in updates if u["name"] in present])
        self.log_dict(
            {"lr": optimizer.param_groups[0]["lr"], "weight_decay": weight_decay},
            batch_size=self.hp.batch_size_per_device,
        )

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if not gradient_clip_val:
            return
        if self.hp.clip_mode == "norm":
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        # The released code clips each parameter's gradient to norm 3.0, on the encoder and DINO head only.
        clip_grad_per_parameter_(_params(self.network.encoder, self.student_head), gradient_clip_val)


def _uses_grad_scaler(module: LightningModule) -> bool:
    """Whether the trainer's precision plugin scales the loss (fp16 mixed precision)."""
    try:
        return getattr(module.trainer.precision_plugin, "scaler", None) is not None
    except RuntimeError:  # not attached to a trainer
        return False


def _trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]


def _params(*modules: nn.Module) -> Iterator[nn.Parameter]:
    for module in modules:
        yield from module.parameters()


def batch_idx_str(module: LightningModule) -> str:
    """The current batch index within the epoch, for error messages."""
    try:
        return str(module.trainer.fit_loop.epoch_loop.batch_progress.current.ready - 1)
    except AttributeError:
        return "?"


__all__ = ["CLIP_MODES", "EMA_SCHEDULES", "Midway", "NonFiniteLossError"]
