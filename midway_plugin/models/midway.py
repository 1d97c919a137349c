"""The Midway network: encoder, EMA teacher, backward layers, midway path, forward predictor, loss.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §3, Algorithm 1, App. B.1.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, overload

import torch
from timm.models.vision_transformer import init_weights_vit_timm
from torch import nn

from midway_plugin.models.backward_layers import CrossBlock, top_down
from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.encoder import MidwayEncoder
from midway_plugin.models.forward_predictor import ForwardPredictor
from midway_plugin.models.key_report import key_report
from midway_plugin.models.levels import level_key
from midway_plugin.models.loss import forward_prediction_loss
from midway_plugin.models.midway_path import MidwayPath
from midway_plugin.models.pos_embed import resample_pos_embed

DYNAMICS_PREFIX = "dynamics."


def export_part(key: str) -> str:
    """The export part of an export key: ``"encoder"`` (timm names) or the dynamics module (``"dynamics.<part>."``)."""
    return key[len(DYNAMICS_PREFIX) :].split(".", 1)[0] if key.startswith(DYNAMICS_PREFIX) else "encoder"


class LoadResult(NamedTuple):
    """What :meth:`MidwayNetwork.load_export_state_dict` did: the keys it did not load and what it resampled."""

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    resampled: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]


@dataclass
class DynamicsOutput:
    """Intermediate results of one top-down pass (level index → tensor; index i ↔ ``cfg.feature_levels[i]``).

    Attributes:
        predictions: forward predictions ẑ_{t+1}^l, ``(B, N, D)``.
        motion: motion latents used to predict each level, ``(B, K, d)``.
        backward: source-side backward features v_t^l fed to the predictor, ``(B, N, D)``.
        midway_target_tokens: target tokens as processed by the top midway level, ``(B, N, d)``.
        gates: the forward predictor's spatial gates of blocks 2..depth, ``(B, N, D)`` each; filled only when
            :meth:`MidwayNetwork.run_dynamics` is asked for them (``return_gates=True``) and gating is on.
    """

    predictions: dict[int, torch.Tensor] = field(default_factory=dict)
    motion: dict[int, torch.Tensor] = field(default_factory=dict)
    backward: dict[int, torch.Tensor] = field(default_factory=dict)
    midway_target_tokens: torch.Tensor | None = None
    gates: dict[int, list[torch.Tensor]] = field(default_factory=dict)


@dataclass
class MidwayOutput:
    """Result of :meth:`MidwayNetwork.forward`: the total dynamics loss and its per-level parts.

    Attributes:
        loss: the total dynamics loss.
        level_losses: level key → that level's loss.
        dynamics: the top-down pass's intermediate results.
        src_levels: the student's source-side features (``return_features=True`` only), low → high, CLS first.
        tgt_levels: the teacher's target features, detached (``return_features=True`` only).
        grid: the token grid (H/p, W/p) of the pass (``return_features=True`` only).
    """

    loss: torch.Tensor
    level_losses: dict[str, torch.Tensor]
    dynamics: DynamicsOutput | None = None
    src_levels: list[torch.Tensor] | None = None
    tgt_levels: list[torch.Tensor] | None = None
    grid: tuple[int, int] | None = None


class MidwayNetwork(nn.Module):
    """Student encoder + dynamics networks (+ EMA teacher), computing the dense forward-prediction loss.

    Level indices: ``i`` refers to ``cfg.feature_levels[i]`` (0 = lowest). Objective levels are all but the
    top one (blocks 3, 6, 9 by default); the top level (block 12) only seeds the midway path.

    Args:
        cfg: the configuration (every ablation switch).
        with_teacher: build the EMA teacher (encoder, backward layers, source projector). Downstream
            adapters that only finetune pass False.
    """

    def __init__(self, cfg: MidwayConfig | None = None, with_teacher: bool = True) -> None:
        super().__init__()
        self.cfg = cfg = cfg or MidwayConfig()
        self.encoder = MidwayEncoder(cfg)
        dim = self.encoder.embed_dim
        self.num_levels = len(cfg.feature_levels)
        top = self.num_levels - 1
        self.objective_indices: list[int] = list(range(top)) if cfg.multi_level else [top - 1]
        self.has_dynamics = cfg.latent_dynamics
        self.has_teacher = with_teacher

        if cfg.latent_dynamics:
            keys = [self.level_key(i) for i in self.objective_indices]
            if cfg.backward_layers:
                self.backward = nn.ModuleDict({k: CrossBlock(dim, cfg.backward_heads) for k in keys})
            grid = cfg.img_size // self.encoder.patch_size
            self.midway = MidwayPath(
                dim,
                cfg.midway_dim,
                cfg.midway_depth,
                cfg.midway_heads,
                cfg.num_motion_tokens,
                grid,
                keys,
                cfg.motion_token_init,
            )
            self.predictor = nn.ModuleDict(
                {
                    k: ForwardPredictor(
                        dim, cfg.forward_depth, cfg.forward_heads, cfg.gating, cfg.gate_input, cfg.gating_bias
                    )
                    for k in keys
                }
            )
            for module in self.dynamics_modules().values():
                module.apply(init_weights_vit_timm)  # trunc-normal(0.02) linears, zero biases

        if with_teacher:
            self.teacher_encoder = MidwayEncoder(cfg, drop_path_rate=0.0)
            self.teacher_encoder.load_state_dict(self.encoder.state_dict())
            if cfg.latent_dynamics:
                if cfg.backward_layers:
                    self.teacher_backward = copy.deepcopy(self.backward)
                self.teacher_embed = copy.deepcopy(self.midway.src_embed)
            for module in self.teacher_modules().values():
                module.requires_grad_(False)
                module.eval()

    # -- structure ---------------------------------------------------------------------------------------------
    def level_key(self, index: int) -> str:
        """Module key of a level index, named after its block (e.g. 2 → ``"level9"``; see :mod:`.levels`)."""
        return level_key(self.cfg.feature_levels[index])

    def dynamics_modules(self) -> dict[str, nn.Module]:
        """The trainable dynamics networks by name (empty without latent dynamics)."""
        names = ("backward", "midway", "predictor")
        return {n: getattr(self, n) for n in names if hasattr(self, n)}

    def teacher_modules(self) -> dict[str, nn.Module]:
        names = ("teacher_encoder", "teacher_backward", "teacher_embed")
        return {n: getattr(self, n) for n in names if hasattr(self, n)}

    def dynamics_parameters(self) -> Iterator[nn.Parameter]:
        """Trainable parameters of the dynamics networks (what Table 9's "dynamics networks" counts)."""
        for module in self.dynamics_modules().values():
            yield from module.parameters()

    def train(self, mode: bool = True) -> MidwayNetwork:
        super().train(mode)
        for module in self.teacher_modules().values():
            module.eval()
        return self

    # -- teacher -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA update ``teacher ← momentum·teacher + (1 − momentum)·student`` of encoder, backward, projector."""
        if not self.has_teacher:
            raise RuntimeError("update_teacher: this MidwayNetwork was built with with_teacher=False")
        pairs: list[tuple[nn.Module, nn.Module]] = [(self.teacher_encoder, self.encoder)]
        if hasattr(self, "teacher_backward"):
            pairs.append((self.teacher_backward, self.backward))
        if hasattr(self, "teacher_embed"):
            pairs.append((self.teacher_embed, self.midway.src_embed))
        teacher: list[torch.Tensor] = [p for t, _ in pairs for p in t.parameters()]
        student = [p.detach() for _, s in pairs for p in s.parameters()]
        torch._foreach_lerp_(teacher, student, 1.0 - momentum)

    # -- the top-down pass -------------------------------------------------------------------------------------------
    def backward_features(self, levels: list[torch.Tensor], teacher: bool = False) -> dict[int, torch.Tensor]:
        """Backward features v^l for every objective level plus v^L = z^L at the top."""
        top = self.num_levels - 1
        out = {top: levels[top]}
        if not (self.has_dynamics and self.cfg.backward_layers):
            out.update({i: levels[i] for i in self.objective_indices})
            return out
        blocks = self.teacher_backward if teacher else self.backward
        return top_down(levels, blocks, {i: self.level_key(i) for i in self.objective_indices})

    @overload
    def predict_level(
        self, index: int, v: torch.Tensor, motion: torch.Tensor, return_gates: Literal[False] = False
    ) -> torch.Tensor: ...

    @overload
    def predict_level(
        self, index: int, v: torch.Tensor, motion: torch.Tensor, return_gates: Literal[True]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def predict_level(
        self, index: int, v: torch.Tensor, motion: torch.Tensor, return_gates: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """One level's forward prediction ẑ from source features ``v (B, N, D)`` and motion ``(B, K, d)``.

        A pure function of its inputs (use :func:`~midway_plugin.models.layers.unfused_attention` around
        ``torch.func.jvp``). With ``return_gates``: ``(prediction, spatial gates)`` as
        :meth:`ForwardPredictor.forward <midway_plugin.models.ForwardPredictor.forward>` returns them.
        """
        self._require_dynamics()
        predictor: ForwardPredictor = self.predictor[self.level_key(index)]  # type: ignore[assignment]
        projected = self.midway.motion_proj(motion)
        if return_gates:
            with_gates: tuple[torch.Tensor, list[torch.Tensor]] = predictor(projected, v, return_gates=True)
            return with_gates
        prediction: torch.Tensor = predictor(projected, v)
        return prediction

    def run_dynamics(
        self,
        src_levels: list[torch.Tensor],
        tgt_levels: list[torch.Tensor],
        tgt_backward: dict[int, torch.Tensor] | None = None,
        *,
        motion: dict[int, torch.Tensor] | None = None,
        teacher: bool = True,
        grid: tuple[int, int] | None = None,
        return_gates: bool = False,
    ) -> DynamicsOutput:
        """Algorithm 1's top-down pass on given features (both lists low → high, CLS first).

        Args:
            src_levels: source-frame features (student encoder).
            tgt_levels: target-frame features (EMA teacher during pretraining).
            tgt_backward: target-side backward features by level index; computed when needed and None.
            motion: level index → motion latents to use instead of running the midway path there.
            teacher: project target tokens with the EMA teacher's projector (detached); False = the student's.
            grid: token grid (H/p, W/p); None = square.
            return_gates: also keep the forward predictors' spatial gates (``DynamicsOutput.gates``), from the
                same pass.

        Returns:
            A :class:`DynamicsOutput`.
        """
        self._require_dynamics()
        cfg, top = self.cfg, self.num_levels - 1
        if grid is None:
            side = round((src_levels[0].shape[1] - 1) ** 0.5)
            grid = (side, side)
        if (1 + grid[0] * grid[1]) != src_levels[0].shape[1]:
            raise ValueError(f"grid {grid} does not match {src_levels[0].shape[1]} tokens (1 CLS + H*W)")
        use_tgt_backward = cfg.backward_layers and cfg.midway_target == "backward"
        if use_tgt_backward and tgt_backward is None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not teacher):
                tgt_backward = self.backward_features(tgt_levels, teacher=teacher and self.has_teacher)
        embed_target = self.teacher_embed if teacher and hasattr(self, "teacher_embed") else self.midway.src_embed

        out = DynamicsOutput()
        v_src = self.backward_features(src_levels)
        m: torch.Tensor | None = None
        for i in sorted(self.objective_indices, reverse=True):
            j = i + 1  # the level whose features feed the midway path for predicting level i
            key = self.level_key(i)
            if motion is not None and i in motion:
                m = motion[i]
            else:
                at_top = j == top
                source = src_levels[j] if at_top or not cfg.refinement else out.predictions[j]
                target = tgt_levels[j] if at_top or not use_tgt_backward or tgt_backward is None else tgt_backward[j]
                target = embed_target(target)
                if teacher:
                    target = target.detach()
                previous = self.midway.initial_motion(source.shape[0]) if m is None else m
                new_m, tgt_tokens = self.midway(key, previous, source, target, grid)
                if out.midway_target_tokens is None:
                    out.midway_target_tokens = tgt_tokens
                m = new_m if m is None else new_m + m  # residual accumulation below the top (motion_agg_type add)
            out.motion[i] = m
            out.backward[i] = v_src[i]
            if return_gates:
                out.predictions[i], gates = self.predict_level(i, v_src[i], m, return_gates=True)
                if gates:
                    out.gates[i] = gates
            else:
                out.predictions[i] = self.predict_level(i, v_src[i], m)
        return out

    def forward(
        self, x_src: torch.Tensor, x_tgt: torch.Tensor, *, return_gates: bool = False, return_features: bool = False
    ) -> MidwayOutput:
        """Dense forward-prediction loss of a batch of frame pairs (the "motion crops").

        Both orderings (t→t+Δ and t+Δ→t) share one batch when ``cfg.symmetric`` (docs/paper.md §1.10.4).
        Targets are the EMA teacher's raw encoder features at each objective level, under stop-gradient.

        Args:
            x_src: source frames ``(B, C, H, W)``.
            x_tgt: target frames, same shape.
            return_gates: keep the predictors' spatial gates in ``output.dynamics.gates`` (no second pass).
            return_features: keep the encoder features and the grid in the output (``src_levels``,
                ``tgt_levels``, ``grid``), e.g. for :mod:`midway_plugin.models.health`. The loss is the same.
        """
        if x_src.shape != x_tgt.shape:
            raise ValueError(f"source {tuple(x_src.shape)} and target {tuple(x_tgt.shape)} frames differ in shape")
        if not self.has_dynamics:
            return MidwayOutput(loss=x_src.new_zeros(()), level_losses={})
        if not self.has_teacher:
            raise RuntimeError("MidwayNetwork.forward needs the EMA teacher (with_teacher=True)")
        grid = self.encoder.grid_size(x_src)
        frames = torch.cat([x_src, x_tgt]) if self.cfg.symmetric else x_src
        src_levels = self.encoder(frames)
        with torch.no_grad():
            tgt_frames = torch.cat([x_tgt, x_src]) if self.cfg.symmetric else x_tgt
            tgt_levels = self.teacher_encoder(tgt_frames)
        dyn = self.run_dynamics(src_levels, tgt_levels, teacher=True, grid=grid, return_gates=return_gates)
        level_losses = {
            self.level_key(i): forward_prediction_loss(dyn.predictions[i], tgt_levels[i])
            for i in self.objective_indices
        }
        total = torch.stack(list(level_losses.values()))
        loss = total.sum() if self.cfg.level_loss_reduction == "sum" else total.mean()
        if not return_features:
            return MidwayOutput(loss=loss, level_losses=level_losses, dynamics=dyn)
        return MidwayOutput(
            loss=loss,
            level_losses=level_losses,
            dynamics=dyn,
            src_levels=list(src_levels),
            tgt_levels=list(tgt_levels),
            grid=(int(grid[0]), int(grid[1])),
        )

    # -- export ----------------------------------------------------------------------------------------------------
    def export_state_dict(self, use_teacher: bool = True) -> dict[str, torch.Tensor]:
        """Encoder under timm's key names + ``dynamics.<module path>`` tensors.

        With ``use_teacher`` (default, as DINO evaluates its teacher) the encoder and backward layers come from
        the EMA teacher; the midway path and predictors have no teacher and come from the student.
        """
        teacher = use_teacher and self.has_teacher
        encoder = self.teacher_encoder if teacher else self.encoder
        out = {k: v.detach().clone() for k, v in encoder.vit.state_dict().items()}
        for name, module in self.dynamics_modules().items():
            if name == "backward" and teacher and hasattr(self, "teacher_backward"):
                module = self.teacher_backward
            for k, v in module.state_dict().items():
                out[f"{DYNAMICS_PREFIX}{name}.{k}"] = v.detach().clone()
        return out

    def export_parts(self) -> tuple[str, ...]:
        """The export parts this network holds (``"encoder"`` and the names of :meth:`dynamics_modules`)."""
        return ("encoder", *self.dynamics_modules())

    def load_export_state_dict(
        self,
        state: Mapping[str, torch.Tensor],
        strict: bool = True,
        source: str = "state dict",
        parts: Collection[str] | None = None,
    ) -> LoadResult:
        """Load :meth:`export_state_dict`-style tensors; position embeddings are resampled to this model's grid.

        Args:
            state: the tensors (encoder under timm's names, ``dynamics.<part>.*``).
            strict: missing or unexpected keys raise :class:`MidwayExportError` naming them (and ``source``);
                shape mismatches always raise.
            source: the file (or state dict) the tensors came from, for messages.
            parts: the parts to load (``"encoder"``, ``"backward"``, ``"midway"``, ``"predictor"``); None: every
                part this network has. The other parts keep their weights and are not compared.

        Returns:
            A :class:`LoadResult`: missing and unexpected keys, resampled position embeddings.
        """
        state = dict(state)
        wanted = self.export_parts() if parts is None else tuple(parts)
        own = {k: v for k, v in self.export_state_dict(use_teacher=False).items() if export_part(k) in wanted}
        resampled = self._resample_position_embeddings(state, own)
        report = key_report(own, state, source, "Midway model")
        report.raise_for(missing=strict, unexpected=strict, limit=None)  # every key named; shapes always raise
        if "encoder" in wanted:
            encoder_sd = {k: v for k, v in state.items() if not k.startswith(DYNAMICS_PREFIX) and k in own}
            self.encoder.vit.load_state_dict(encoder_sd, strict=False)
        for name, module in self.dynamics_modules().items():
            prefix = f"{DYNAMICS_PREFIX}{name}."
            module.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and k in own}, strict=False
            )
        if self.has_teacher:
            self.teacher_encoder.load_state_dict(self.encoder.state_dict())
            if hasattr(self, "teacher_backward"):
                self.teacher_backward.load_state_dict(self.backward.state_dict())
            if hasattr(self, "teacher_embed"):
                self.teacher_embed.load_state_dict(self.midway.src_embed.state_dict())
        return LoadResult(report.missing, report.unexpected, tuple(resampled))

    def _resample_position_embeddings(
        self, state: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]
    ) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
        """Resamples the position embeddings of ``state`` in place; returns ``(key, old shape, new shape)``."""
        done: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
        for key, halves in (("pos_embed", 1), (f"{DYNAMICS_PREFIX}midway.pos_embed", 2)):
            if key not in state or key not in own or state[key].shape == own[key].shape:
                continue
            src, dst = state[key], own[key]
            if src.ndim != 3 or src.shape[-1] != dst.shape[-1]:
                continue  # reported as a shape mismatch
            n_src, n_dst = src.shape[1] // halves - 1, dst.shape[1] // halves - 1
            g_src, g_dst = round(n_src**0.5), round(n_dst**0.5)
            if g_src * g_src != n_src or g_dst * g_dst != n_dst or src.shape[1] % halves:
                continue
            if key == "pos_embed":  # the encoder's: as configured (timm's or DINO's interpolation)
                state[key] = resample_pos_embed(src, (g_dst, g_dst), (g_src, g_src), mode=self.cfg.pos_embed_interp)
            else:
                state[key] = torch.cat(
                    [resample_pos_embed(p, (g_dst, g_dst), (g_src, g_src)) for p in src.chunk(halves, dim=1)], dim=1
                )
            done.append((key, tuple(src.shape), tuple(dst.shape)))
        return done

    def _require_dynamics(self) -> None:
        if not self.has_dynamics:
            raise RuntimeError("this MidwayNetwork has no dynamics networks (latent_dynamics=False)")
