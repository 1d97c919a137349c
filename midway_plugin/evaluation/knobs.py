"""The knobs of ``midway bench quality``: its flags turned into ``midway pretrain`` and ``midway make-video`` options.

A knob left unset (None) keeps the value of the pretraining config (``--pretrain-config`` / the recipe's YAML) or
make-video's default; a set knob becomes a ``--section.key VALUE`` override of ``midway pretrain`` (every variant and
seed alike) or a make-video flag. :func:`pretrain_knob_overrides` checks the values and names the flag of a bad one.
"""

from __future__ import annotations

import inspect
from typing import Any

from midway_plugin.data.views.dino_transform import MidwayDINOTransform
from midway_plugin.data.views.motion_transform import MidwayMotionTransform

#: The photometric probabilities of the DINO views / motion crops, scaled by ``--dino-photometric`` /
#: ``--motion-photometric``: colour jitter, grayscale, blur (one per view kind), solarisation.
PHOTOMETRIC_KEYS = ("cj_prob", "random_gray_scale", "gaussian_blur", "solarization_prob")


class KnobError(ValueError):
    """A bench knob with a bad value; the message names the flag (``midway bench`` prints it as is, where a
    config error gets the config's name in front)."""


def photometric(transform: type, strength: float, flag: str) -> dict[str, Any]:
    """The transform's photometric probabilities times ``strength``: 1 = its defaults (the paper's), 0 = none.

    Args:
        transform: :class:`~midway_plugin.data.views.MidwayDINOTransform` or
            :class:`~midway_plugin.data.views.MidwayMotionTransform`.
        strength: In [0, 1].
        flag: The flag named in the error.

    Raises:
        KnobError: ``strength`` outside [0, 1].
    """
    if not 0.0 <= strength <= 1.0:
        raise KnobError(
            f"{flag} must be in [0, 1] (0 = no colour jitter, grayscale, blur or solarisation; 1 = the "
            f"paper's), got {strength}"
        )
    params = inspect.signature(transform).parameters
    out: dict[str, Any] = {}
    for key in PHOTOMETRIC_KEYS:
        default = params[key].default
        out[key] = [p * strength for p in default] if isinstance(default, tuple) else default * strength
    return out


def feature_levels(depth: int) -> list[int]:
    """Four feature levels spread over ``depth`` blocks as the paper's 3/6/9/12 of 12 (1..4 of 4)."""
    return sorted({max(1, round(depth * k / 4)) for k in range(1, 5)})


def pretrain_knob_overrides(s: Any, model: Any) -> dict[str, Any]:
    """``midway pretrain`` overrides of the knobs set in ``s`` (a :class:`~midway_plugin.evaluation.quality.Settings`).

    Args:
        s: The bench settings.
        model: The :class:`~midway_plugin.models.MidwayConfig` the pretraining config resolves to (its encoder
            arguments are completed, not replaced, by ``--patch-size`` / ``--embed-dim`` / ``--depth`` / ``--heads``).

    Raises:
        KnobError: A value out of range (the message names the flag).
    """

    out: dict[str, Any] = {}
    for flag, value in (
        ("--patch-size", s.patch_size),
        ("--embed-dim", s.embed_dim),
        ("--depth", s.depth),
        ("--heads", s.heads),
        ("--head-output-dim", s.head_output_dim),
        ("--head-hidden-dim", s.head_hidden_dim),
        ("--head-bottleneck-dim", s.head_bottleneck_dim),
    ):
        if value is not None and value < 1:
            raise KnobError(f"{flag} must be >= 1, got {value}")
    encoder = {
        key: value
        for key, value in (
            ("patch_size", s.patch_size),
            ("embed_dim", s.embed_dim),
            ("depth", s.depth),
            ("num_heads", s.heads),
        )
        if value is not None
    }
    if encoder:
        kwargs = {**model.encoder_kwargs, **encoder}
        if "patch_size" in encoder and model.img_size % s.patch_size:
            raise KnobError(f"--patch-size {s.patch_size} does not divide the model's input size {model.img_size} px")
        if "embed_dim" in kwargs and "num_heads" in kwargs and kwargs["embed_dim"] % kwargs["num_heads"]:
            raise KnobError(f"--embed-dim {kwargs['embed_dim']} is not divisible by --heads {kwargs['num_heads']}")
        out["model.encoder_kwargs"] = kwargs
        if s.depth is not None:
            out["model.feature_levels"] = feature_levels(s.depth)
        if s.heads is not None:  # the backward layers and the predictor work at the encoder's width
            out["model.backward_heads"] = out["model.forward_heads"] = s.heads
    if s.delta_t is not None:
        lo, hi = s.delta_t
        if not 1 <= lo <= hi:
            raise KnobError(f"--delta-t must be MIN,MAX frames with 1 <= MIN <= MAX, got {lo},{hi}")
        out["data.delta_t"] = [lo, hi]
        out["data.delta_unit"] = "frames"
    for key, value in (
        ("head_output_dim", s.head_output_dim),
        ("head_hidden_dim", s.head_hidden_dim),
        ("head_bottleneck_dim", s.head_bottleneck_dim),
    ):
        if value is not None:
            out[f"method.{key}"] = value
    for flag, key, value in (
        ("--teacher-temp", "teacher_temp", s.teacher_temp),
        ("--student-temp", "student_temp", s.student_temp),
    ):
        if value is not None:
            if not value > 0:
                raise KnobError(f"{flag} must be > 0, got {value}")
            out[f"method.{key}"] = value
    if s.momentum_start is not None:
        if not 0.0 <= s.momentum_start <= 1.0:
            raise KnobError(f"--momentum-start must be in [0, 1], got {s.momentum_start}")
        out["method.momentum_start"] = s.momentum_start
    if s.dino_photometric is not None:
        for key, value in photometric(MidwayDINOTransform, s.dino_photometric, "--dino-photometric").items():
            out[f"data.dino.{key}"] = value
    if s.motion_photometric is not None:
        for key, value in photometric(MidwayMotionTransform, s.motion_photometric, "--motion-photometric").items():
            out[f"data.motion.{key}"] = value
    return out


def make_video_knob_args(s: Any) -> list[str]:
    """``midway make-video`` flags of the data knobs set in ``s``.

    Raises:
        KnobError: A value out of range (the message names the flag).
    """
    args: list[str] = []
    for flag, value, low in (
        ("--object-speed", s.object_speed, 0.0),
        ("--camera-speed", s.camera_speed, 0.0),
        ("--texture-wavelength", s.texture_wavelength, 2.0),
    ):
        if value is None:
            continue
        lo, hi = value
        if not low <= lo <= hi:
            raise KnobError(f"{flag} must be MIN,MAX with {low:g} <= MIN <= MAX, got {lo:g},{hi:g}")
        args += [flag, f"{lo:g},{hi:g}"]
    if s.frame_gap < 1:
        raise KnobError(f"--frame-gap must be >= 1, got {s.frame_gap}")
    if s.frame_gap >= s.frames:
        raise KnobError(f"--frame-gap ({s.frame_gap}) must be below --frames ({s.frames})")
    if s.zs_gap % s.frame_gap:
        raise KnobError(
            f"--zs-gap ({s.zs_gap}) must be a multiple of --frame-gap ({s.frame_gap}): zero-shot ground "
            "truth chains the flow files"
        )
    if s.frame_gap != 1:
        args += ["--frame-gap", str(s.frame_gap)]
    return args
