"""Converts checkpoints of the official Midway implementation into this package's export layout (torch only).

The key names and shapes of the released files are described in :mod:`~midway_plugin.official.layout`
(written from reading the official code; none of it is reused). In short:

* ``student`` / ``teacher``: the multi-crop wrapper around the ViT, ``backbone.<name>`` (``module.backbone.<name>``
  for the DDP-wrapped student) in DINO's ViT naming, which equals timm's (``cls_token``, ``pos_embed``,
  ``patch_embed.proj``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``), and the DINO
  projection head ``dino_head.*`` (``head.*`` in DINO's own checkpoints; not part of an export).
* ``motion_loss``: the dynamics module (``module.`` prefix from DDP), one entry per objective level index ``i``
  (0 = lowest): ``student_feature_blocks_i.0`` / ``teacher_feature_blocks_i.0`` (backward cross blocks),
  ``motion_blocks_i.J`` (midway blocks), ``forward_predictor_i.J`` (forward predictor blocks),
  ``gating_mlps_i.B.{norm_layer, mlp.fc1, mlp.fc2}``; shared across levels: ``student_embed`` / ``teacher_embed``,
  ``pos_embed``, ``motion_tokens``, ``motion_proj``. The dynamics module's attention layers have no qkv bias.
* ``dino_loss``: the DINO centre; ``optimizer``, ``fp16_scaler``, ``epoch``, ``args``: training state.

Mapping onto :meth:`MidwayNetwork.export_state_dict` names: encoder → timm names (no prefix);
``student/teacher_feature_blocks_i.0`` → ``dynamics.backward.level<b>`` (the separate k/v projections are
concatenated into ``cross_attn.kv``, ``norm_y`` → ``norm_memory``); ``motion_blocks_i.J`` →
``dynamics.midway.blocks.level<b>.J``; ``student_embed`` → ``dynamics.midway.src_embed``; ``forward_predictor_i.J``
→ ``dynamics.predictor.level<b>.blocks.J``; ``gating_mlps_i.B.{norm_layer,mlp.fc1,mlp.fc2}`` →
``dynamics.predictor.level<b>.gates.B.{norm,fc1,fc2}``. The core's dynamics layers match the released ones (no
qkv bias, LayerNorm eps 1e-5); should a layer ever have a bias the official one lacks, it is zero-filled, which
computes the same function.

An export holds one copy of each network. :func:`convert_official_training_state` keeps both EMA copies (teacher
encoder, teacher backward layers, ``teacher_embed``), both DINO heads and the DINO centre, to continue
pretraining (``midway pretrain --resume-official``).

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), App. B.1 (structure); docs/official-checkpoints.md.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.levels import level_key
from midway_plugin.models.refused_pickle import refusal_message
from midway_plugin.official.layout import TRAINING_STATE_ENTRIES

#: Entries of an official checkpoint that an export does not need (training state; the DINO centre).
IGNORED_ENTRIES = (*TRAINING_STATE_ENTRIES, "dino_loss")
#: Prefixes of the DINO projection head inside the multi-crop wrapper: ``dino_head`` in the official Midway code,
#: ``head`` in DINO's own checkpoints.
HEAD_PREFIXES = ("dino_head.", "head.")

#: timm ViT presets by (embed dim, depth, patch size); anything else is built from ``vit_small_patch16_224`` with
#: explicit ``encoder_kwargs``.
_TIMM_PRESETS = {(384, 12, 16): "vit_small_patch16_224", (768, 12, 16): "vit_base_patch16_224"}
#: Attention heads of DINO's ViT sizes (tiny, small, base, large): head count is not stored in the weights.
_HEADS_BY_DIM = {192: 3, 384: 6, 768: 12, 1024: 16}
#: The released configs' dynamics heads (``num_motion_heads: 3``, ``num_pred_heads: 6``,
#: ``num_feature_heads: 6``), also for ViT-B (docs/official-code.md).
OFFICIAL_MIDWAY_HEADS, OFFICIAL_FORWARD_HEADS, OFFICIAL_BACKWARD_HEADS = 3, 6, 6

_ENCODER_KEY = re.compile(
    r"^(cls_token|pos_embed|reg_token|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)|"
    r"blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias))$"
)


class OfficialCheckpointError(ValueError):
    """The file is not an official Midway checkpoint this converter understands; the message says why."""


class _Opaque:
    """Inert stand-in for every non-tensor class in a checkpoint (hydra/omegaconf ``args``, numpy scalars...).

    Loading stays ``weights_only=True``: these globals are allow-listed only as this class, which stores nothing
    and calls nothing, so a crafted file cannot execute code through them.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> _Opaque:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return "<non-tensor object>"


@dataclass
class ConversionReport:
    """What the conversion did with every key.

    Attributes:
        source: The checkpoint file (or a description).
        weights: ``"teacher"`` or ``"student"`` (which copy of the EMA-paired modules was exported).
        used: Number of checkpoint tensors copied into the export.
        ignored: Checkpoint entries/keys deliberately not exported (DINO head, the other EMA copy, optimizer...).
        unknown: Checkpoint tensor keys this converter does not recognise (a different code version).
        missing: Export keys no checkpoint tensor provided (other than zero-filled biases).
        zero_filled: Export biases set to zero because the official layer has none.
        inferred: Config fields inferred from tensor shapes or taken from the released configs.
    """

    source: str
    weights: str
    used: int = 0
    ignored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    zero_filled: list[str] = field(default_factory=list)
    inferred: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.missing

    def problems(self) -> str:
        """Human-readable list of the unknown and missing keys (empty when :attr:`ok`)."""
        parts = []
        if self.unknown:
            parts.append(
                f"{len(self.unknown)} unknown key(s): {', '.join(self.unknown[:20])}"
                + (" ..." if len(self.unknown) > 20 else "")
            )
        if self.missing:
            parts.append(
                f"{len(self.missing)} missing key(s): {', '.join(self.missing[:20])}"
                + (" ..." if len(self.missing) > 20 else "")
            )
        return "; ".join(parts)


@dataclass
class OfficialConversion:
    """Result of :func:`convert_official_checkpoint`: the config, export-layout tensors and the report."""

    config: MidwayConfig
    state_dict: dict[str, torch.Tensor]
    report: ConversionReport


def load_official_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Loads an official checkpoint with ``torch.load(weights_only=True)``.

    Non-tensor classes it references (the hydra/omegaconf ``args``, numpy scalars, ``argparse.Namespace``...) are
    loaded as inert placeholders (see :class:`_Opaque`); tensors and state dicts load normally.

    Raises:
        OfficialCheckpointError: The file is missing or cannot be read safely (the message names the file and
            the reason).
    """
    path = Path(path)
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: no such file")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as err:  # legacy (non-zip) format or not a torch file at all
        unsafe = []
        first_error: Exception | None = err
    else:
        first_error = None
    stubs: list[Any] = [(_Opaque, name) for name in unsafe]
    try:
        with torch.serialization.safe_globals(stubs):
            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's message advises weights_only=False: never passed on
        raise OfficialCheckpointError(refusal_message(str(path), err)) from None
    except Exception as err:
        detail = f"{type(err).__name__}: {err}".splitlines()[0]
        hint = f" (zip scan: {first_error})" if first_error is not None else ""
        raise OfficialCheckpointError(
            f"{path}: cannot be loaded as a checkpoint with torch.load(weights_only=True): {detail}{hint}"
        ) from err
    if not isinstance(checkpoint, Mapping):
        raise OfficialCheckpointError(f"{path}: expected a dict checkpoint, got {type(checkpoint).__name__}")
    return dict(checkpoint)


def _strip(state: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Removes the first matching prefix (e.g. ``module.``) from every key."""
    out = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        out[key] = value
    return out


def _split_wrapper(
    state: Mapping[str, Any], entry: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """Splits a (DDP-)multi-crop-wrapper state dict into encoder tensors, DINO-head tensors and other keys."""
    state = _strip(state, ("module.",))
    encoder, head, other = {}, {}, []
    for key, value in state.items():
        if key.startswith("backbone."):
            encoder[key[len("backbone.") :]] = value
            continue
        prefix = next((p for p in HEAD_PREFIXES if key.startswith(p)), None)
        if prefix is not None:
            head[key[len(prefix) :]] = value
        else:
            other.append(f"{entry}.{key}")
    return encoder, head, other


def _count_indices(keys: list[str], prefix: str) -> int:
    """Number of distinct ``<prefix><int>.`` indices among ``keys``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in keys if (m := pattern.match(k))}
    if found and found != set(range(len(found))):
        raise OfficialCheckpointError(f"indices of {prefix}* are not contiguous: {sorted(found)}")
    return len(found)


def infer_config(
    encoder: Mapping[str, torch.Tensor], dynamics: Mapping[str, torch.Tensor] | None, /, **overrides: Any
) -> tuple[MidwayConfig, dict[str, Any]]:
    """Infers the :class:`MidwayConfig` of an official checkpoint from its tensor shapes.

    Widths, depths, patch size, resolution, token count and the presence of backward layers / gating come from
    the shapes; head counts and the feature levels are not stored in weights and come from the released
    configs (ViT heads by width; dynamics heads 3 / 6 / 6; levels every ``depth / L`` blocks, i.e. 3, 6, 9, 12
    for ViT-S/B). The position embedding is resampled DINO-style (``pos_embed_interp="dino"``), as the official
    ViT does. ``overrides`` replace any field.

    Returns:
        ``(config, inferred)`` where ``inferred`` lists the fields that were inferred or assumed.

    Raises:
        OfficialCheckpointError: A tensor the inference needs is missing or has an unexpected shape.
    """
    try:
        embed_dim = int(encoder["cls_token"].shape[-1])
        proj = encoder["patch_embed.proj.weight"]
        pos = encoder["pos_embed"]
    except KeyError as err:
        raise OfficialCheckpointError(f"encoder tensor {err.args[0]!r} is missing") from err
    patch = int(proj.shape[-1])
    depth = _count_indices(list(encoder), "blocks.")
    grid = round((pos.shape[1] - 1) ** 0.5)
    if grid * grid != pos.shape[1] - 1:
        raise OfficialCheckpointError(f"pos_embed has {pos.shape[1]} tokens: not 1 + a square grid")
    heads = _HEADS_BY_DIM.get(embed_dim)
    # The official ViT (DINO's) resamples its position embedding on the fly, DINO-style: so does the converted one.
    fields: dict[str, Any] = {"img_size": grid * patch, "pos_embed_interp": "dino"}
    name = _TIMM_PRESETS.get((embed_dim, depth, patch))
    if name is not None:
        fields["encoder"] = name
    else:
        if heads is None and "encoder_kwargs" not in overrides:
            raise OfficialCheckpointError(
                f"cannot infer the attention heads of a width-{embed_dim} ViT; pass encoder_kwargs with num_heads"
            )
        fields["encoder"] = "vit_small_patch16_224"
        fields["encoder_kwargs"] = {"embed_dim": embed_dim, "depth": depth, "num_heads": heads, "patch_size": patch}
    inferred: dict[str, Any] = {
        "encoder": fields["encoder"],
        "img_size": fields["img_size"],
        "embed_dim": embed_dim,
        "depth": depth,
        "patch_size": patch,
        "num_heads": heads,
        "pos_embed_interp": "dino",
    }

    if dynamics is None:
        # No dynamics module: an encoder-only export; levels as the released configs space them (4 levels).
        fields["latent_dynamics"] = False
        fields["feature_levels"] = tuple(round((i + 1) * depth / 4) for i in range(4))
        inferred.update(latent_dynamics=False, feature_levels=fields["feature_levels"])
    else:
        keys = list(dynamics)
        num_objective = _count_indices(keys, "motion_blocks_")
        if num_objective == 0:
            raise OfficialCheckpointError(
                "the dynamics module has no per-level 'motion_blocks_<i>' (shared_motion=True checkpoints are not "
                "supported)"
            )
        num_levels = num_objective + 1
        try:
            tokens = dynamics["motion_tokens"]
        except KeyError as err:
            raise OfficialCheckpointError("dynamics tensor 'motion_tokens' is missing") from err
        fields.update(
            feature_levels=tuple(round((i + 1) * depth / num_levels) for i in range(num_levels)),
            midway_dim=int(tokens.shape[-1]),
            num_motion_tokens=int(tokens.shape[1]),
            midway_depth=_count_indices(keys, "motion_blocks_0."),
            forward_depth=_count_indices(keys, "forward_predictor_0."),
            backward_layers=_count_indices(keys, "student_feature_blocks_") > 0,
            gating=_count_indices(keys, "gating_mlps_") > 0,
            midway_heads=OFFICIAL_MIDWAY_HEADS,
            forward_heads=OFFICIAL_FORWARD_HEADS,
            backward_heads=OFFICIAL_BACKWARD_HEADS,
        )
        inferred.update(
            {
                k: fields[k]
                for k in (
                    "feature_levels",
                    "midway_dim",
                    "num_motion_tokens",
                    "midway_depth",
                    "forward_depth",
                    "backward_layers",
                    "gating",
                    "midway_heads",
                    "forward_heads",
                    "backward_heads",
                )
            }
        )
    fields.update(overrides)
    for key in overrides:
        inferred.pop(key, None)
    try:
        return MidwayConfig(**fields), inferred
    except (TypeError, ValueError) as err:
        raise OfficialCheckpointError(f"the inferred config is invalid: {err}") from err


def _map_encoder(
    encoder: Mapping[str, torch.Tensor], out: dict[str, torch.Tensor], report: ConversionReport, entry: str
) -> None:
    for key, value in encoder.items():
        if _ENCODER_KEY.match(key):
            out[key] = value
        elif key == "register_tokens":
            report.unknown.append(f"{entry}.backbone.register_tokens (register tokens are not supported)")
        else:
            report.unknown.append(f"{entry}.backbone.{key}")


def _map_cross_block(src: Mapping[str, torch.Tensor], dst_prefix: str, out: dict[str, torch.Tensor]) -> list[str]:
    """Maps one official cross block (keys relative to the block) to export keys; returns unconsumed keys."""
    rest = dict(src)
    renames = {"norm_y.": "norm_memory.", "cross_attn.projq.": "cross_attn.q.", "cross_attn.proj.": "cross_attn.proj."}
    for key in list(rest):
        if key.startswith("cross_attn.projk.") or key.startswith("cross_attn.projv."):
            continue
        new = key
        for old, repl in renames.items():
            if key.startswith(old):
                new = repl + key[len(old) :]
                break
        out[dst_prefix + new] = rest.pop(key)
    for suffix in ("weight", "bias"):
        k, v = rest.pop(f"cross_attn.projk.{suffix}", None), rest.pop(f"cross_attn.projv.{suffix}", None)
        if k is not None and v is not None:
            out[f"{dst_prefix}cross_attn.kv.{suffix}"] = torch.cat([k, v], dim=0)
        elif k is not None or v is not None:  # half a pair: report it
            rest[f"cross_attn.proj{'k' if k is not None else 'v'}.{suffix}"] = k if k is not None else v  # type: ignore[assignment]
    return list(rest)


def convert_official_checkpoint(
    checkpoint: Mapping[str, Any],
    *,
    use_teacher: bool = True,
    source: str = "checkpoint",
    expected_keys: Mapping[str, tuple[int, ...]] | None = None,
    **config_overrides: Any,
) -> OfficialConversion:
    """Converts an official checkpoint dict into export-layout tensors and a config.

    Args:
        checkpoint: The loaded checkpoint (:func:`load_official_checkpoint`). Also accepted: a dict with only
            ``teacher``/``student`` (an encoder-only export with ``latent_dynamics=False`` results when there is no
            ``motion_loss``).
        use_teacher: Export the EMA teacher's encoder and backward layers (as DINO evaluates the teacher); the
            midway path and predictors have no teacher copy and always come from ``motion_loss``'s student side.
        source: Name used in the report.
        expected_keys: ``{export key: shape}`` of the model the result will be loaded into (e.g.
            ``MidwayNetwork(config).export_state_dict()``); keys it has that the checkpoint lacks are zero-filled
            when they are biases the official layer does not have, otherwise reported as missing.
        **config_overrides: :class:`MidwayConfig` fields that replace the inferred ones.

    Returns:
        The conversion; check ``report.ok`` / ``report.problems()``.

    Raises:
        OfficialCheckpointError: The checkpoint lacks the encoder entry or has an unusable structure.
    """
    wanted = "teacher" if use_teacher else "student"
    other = "student" if use_teacher else "teacher"
    if wanted not in checkpoint:
        present = sorted(str(k) for k in checkpoint)
        raise OfficialCheckpointError(
            f"{source}: no {wanted!r} entry (found: {', '.join(present)}); an official Midway checkpoint holds "
            "'student', 'teacher' and 'motion_loss'"
        )
    report = ConversionReport(source=source, weights=wanted)
    for name in checkpoint:
        if name in IGNORED_ENTRIES:
            report.ignored.append(str(name))
        elif name == other:
            report.ignored.append(f"{name} (the other EMA copy)")
        elif name not in (wanted, "motion_loss"):
            report.unknown.append(str(name))

    encoder, head, other_keys = _split_wrapper(checkpoint[wanted], wanted)
    if not encoder:
        raise OfficialCheckpointError(
            f"{source}: {wanted!r} has no 'backbone.*' / 'module.backbone.*' keys (is this a Midway/DINO checkpoint?)"
        )
    if head:
        report.ignored.append(f"{wanted}.dino_head.* ({len(head)} DINO projection-head tensors)")
    report.unknown.extend(other_keys)

    dynamics = None
    if "motion_loss" in checkpoint:
        dynamics = _strip(checkpoint["motion_loss"], ("module.",))
    config, report.inferred = infer_config(encoder, dynamics, **config_overrides)

    out: dict[str, torch.Tensor] = {}
    _map_encoder(encoder, out, report, wanted)
    if dynamics is not None and config.latent_dynamics:
        _map_dynamics(dynamics, config, use_teacher, out, report)
    elif dynamics is not None:
        report.ignored.append("motion_loss (latent_dynamics=False)")

    if expected_keys is not None:
        for key, shape in expected_keys.items():
            if key in out:
                if tuple(out[key].shape) != tuple(shape):
                    report.unknown.append(f"{key} (shape {tuple(out[key].shape)}, model expects {tuple(shape)})")
                continue
            if key.endswith(".bias") and key.rsplit(".", 2)[-2] in ("qkv", "q", "kv"):
                out[key] = torch.zeros(shape)
                report.zero_filled.append(key)
            else:
                report.missing.append(key)
        extra = sorted(set(out) - set(expected_keys))
        report.unknown.extend(f"{k} (no such tensor in the model)" for k in extra)
        for k in extra:
            out.pop(k)
    report.used = len(out) - len(report.zero_filled)
    return OfficialConversion(config, out, report)


def _map_dynamics(
    dynamics: Mapping[str, torch.Tensor],
    config: MidwayConfig,
    use_teacher: bool,
    out: dict[str, torch.Tensor],
    report: ConversionReport,
) -> None:
    """Maps the official dynamics module's tensors (``module.`` stripped) to ``dynamics.*`` export keys."""
    level = {i: level_key(b) for i, b in enumerate(config.feature_levels)}
    backward_src = "teacher_feature_blocks_" if use_teacher else "student_feature_blocks_"
    backward_other = "student_feature_blocks_" if use_teacher else "teacher_feature_blocks_"
    shared = {"student_embed.": "midway.src_embed.", "motion_proj.": "midway.motion_proj."}
    blocks: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in dynamics.items():
        if key in ("pos_embed", "motion_tokens"):
            out[f"dynamics.midway.{key}"] = value
            continue
        if key.startswith("teacher_embed.") or key.startswith(backward_other):
            group = (
                "motion_loss.teacher_embed.* (the teacher's source projector)"
                if key.startswith("teacher_embed.")
                else f"motion_loss.{backward_other}* (the {'student' if use_teacher else 'teacher'} copy)"
            )
            if group not in report.ignored:
                report.ignored.append(group)
            continue
        mapped = next((dst + key[len(src) :] for src, dst in shared.items() if key.startswith(src)), None)
        if mapped is not None:
            out[f"dynamics.{mapped}"] = value
            continue
        m = re.match(r"^(motion_blocks|forward_predictor|gating_mlps|" + backward_src[:-1] + r")_(\d+)\.(.+)$", key)
        if m is None or int(m.group(2)) not in level or int(m.group(2)) == len(config.feature_levels) - 1:
            report.unknown.append(f"motion_loss.{key}")
            continue
        kind, index, rest = m.group(1), int(m.group(2)), m.group(3)
        lv = level[index]
        if kind == "motion_blocks":
            out[f"dynamics.midway.blocks.{lv}.{rest}"] = value
        elif kind == "forward_predictor":
            out[f"dynamics.predictor.{lv}.blocks.{rest}"] = value
        elif kind == "gating_mlps":
            b, _, sub = rest.partition(".")
            for old, new in (("norm_layer.", "norm."), ("mlp.fc1.", "fc1."), ("mlp.fc2.", "fc2.")):
                if sub.startswith(old):
                    out[f"dynamics.predictor.{lv}.gates.{b}.{new}{sub[len(old) :]}"] = value
                    break
            else:
                report.unknown.append(f"motion_loss.{key}")
        else:  # backward cross block: only feature_depth 1 (block 0) exists in the released configs
            j, _, sub = rest.partition(".")
            if j != "0":
                report.unknown.append(f"motion_loss.{key} (feature_depth > 1 is not supported)")
                continue
            blocks.setdefault(index, {})[sub] = value
    for index, block in blocks.items():
        for leftover in _map_cross_block(block, f"dynamics.backward.{level[index]}.", out):
            report.unknown.append(f"motion_loss.{backward_src}{index}.0.{leftover}")


@dataclass
class OfficialTrainingState:
    """Everything of an official checkpoint that continues pretraining: both EMA copies, both heads, the centre.

    Attributes:
        config: The inferred :class:`MidwayConfig`.
        student: Export-layout tensors of the student (encoder, backward layers, midway path, predictors).
        teacher: Export-layout tensors of the EMA teacher: encoder and backward layers (the midway path and the
            predictors have no teacher copy; their tensors here are the student's).
        teacher_embed: The teacher's copy of the midway path's source projector (``weight``, ``bias``); empty
            without dynamics.
        student_head: The student's DINO projection head in DINO's naming (``mlp.0.weight``, ...,
            ``last_layer.weight_g``, ``last_layer.weight_v``); empty if the checkpoint has none.
        teacher_head: The teacher's DINO projection head, same naming.
        center: The DINO loss centre ``(1, out_dim)``, or None.
        epoch: The saved ``epoch`` counter (the next epoch to run), or None.
        report: Unknown / missing keys of both copies; ``ignored`` names the skipped training-state entries.
    """

    config: MidwayConfig
    student: dict[str, torch.Tensor]
    teacher: dict[str, torch.Tensor]
    teacher_embed: dict[str, torch.Tensor]
    student_head: dict[str, torch.Tensor]
    teacher_head: dict[str, torch.Tensor]
    center: torch.Tensor | None
    epoch: int | None
    report: ConversionReport


def convert_official_training_state(
    checkpoint: Mapping[str, Any],
    *,
    source: str = "checkpoint",
    expected_keys: Mapping[str, tuple[int, ...]] | None = None,
    **config_overrides: Any,
) -> OfficialTrainingState:
    """Converts both the student and the EMA teacher of an official checkpoint, keeping them apart.

    Args:
        checkpoint: The loaded checkpoint (:func:`load_official_checkpoint`); needs ``student`` and ``teacher``.
        source: Name used in the report and errors.
        expected_keys: As in :func:`convert_official_checkpoint` (the export keys of the model to load into).
        **config_overrides: :class:`MidwayConfig` fields that replace the inferred ones.

    Returns:
        The state; check ``report.ok``. The optimizer, scaler and ``args`` are skipped (listed in
        ``report.ignored``): the optimizer's parameter order belongs to the official module tree.

    Raises:
        OfficialCheckpointError: ``student`` or ``teacher`` is missing, or a structure is unusable.
    """
    for entry in ("student", "teacher"):
        if entry not in checkpoint:
            raise OfficialCheckpointError(
                f"{source}: no {entry!r} entry; continuing pretraining needs both the student and the EMA teacher "
                f"(found: {', '.join(sorted(str(k) for k in checkpoint))})"
            )
    kwargs = dict(source=source, expected_keys=expected_keys, **config_overrides)
    student = convert_official_checkpoint(checkpoint, use_teacher=False, **kwargs)
    teacher = convert_official_checkpoint(checkpoint, use_teacher=True, **kwargs)
    report = ConversionReport(
        source=source,
        weights="student+teacher",
        used=student.report.used + teacher.report.used,
        inferred=student.report.inferred,
        zero_filled=student.report.zero_filled,
    )
    report.unknown = list(dict.fromkeys(student.report.unknown + teacher.report.unknown))
    report.missing = list(dict.fromkeys(student.report.missing + teacher.report.missing))
    report.ignored = [str(name) for name in checkpoint if name in TRAINING_STATE_ENTRIES]
    heads = {entry: _split_wrapper(checkpoint[entry], entry)[1] for entry in ("student", "teacher")}
    dynamics = _strip(checkpoint.get("motion_loss") or {}, ("module.",))
    teacher_embed = {k[len("teacher_embed.") :]: v for k, v in dynamics.items() if k.startswith("teacher_embed.")}
    if student.config.latent_dynamics and not teacher_embed:
        report.missing.append("motion_loss.teacher_embed.*")
    dino_loss = checkpoint.get("dino_loss")
    center = dino_loss.get("center") if isinstance(dino_loss, Mapping) else None
    epoch = checkpoint.get("epoch")
    return OfficialTrainingState(
        config=student.config,
        student=student.state_dict,
        teacher=teacher.state_dict,
        teacher_embed=teacher_embed,
        student_head=heads["student"],
        teacher_head=heads["teacher"],
        center=center if isinstance(center, torch.Tensor) else None,
        epoch=epoch if isinstance(epoch, int) else None,
        report=report,
    )
