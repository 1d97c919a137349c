"""The named recipes of ``midway bench quality`` (``--recipe``): data and pretraining settings sized together.

``demo``: the pipeline check (``configs/pretrain/demo.yaml``, 64x64 frames, the tiny preset at patch 8).
``small``: the smallest setting in which both objectives measurably learn on generated video
(``configs/pretrain/small_synthetic.yaml``; why each value: that file's comments and docs/bench.md, "The
small-scale recipe"). ``--quick`` and every flag apply on top of the recipe.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from midway_plugin.evaluation.knobs import make_video_knob_args
from midway_plugin.evaluation.quality import Settings, resolve_pretraining

REPO = Path(__file__).resolve().parents[2]

RECIPES: dict[str, dict[str, Any]] = {
    "demo": {},
    "small": dict(
        pretrain_config=REPO / "configs" / "pretrain" / "small_synthetic.yaml",
        size=(40, 40),
        num_videos=168,
        val_videos=24,  # 144 training + 24 held-out videos
        object_speed=(3.0, 6.0),
        camera_speed=(2.0, 4.0),  # px/frame: >= 1 token at patch 4 over delta_t 1-3
        texture_wavelength=(12.0, 24.0),  # above twice the per-frame motion: features stay matchable
        pretrain_steps=1200,
        zs_gap=2,  # zero-shot pairs at the middle of the pretraining delta_t (1-3 frames)
    ),
}


def recipe_settings(name: str) -> dict[str, Any]:
    """The :class:`~midway_plugin.evaluation.quality.Settings` values of recipe ``name``.

    Raises:
        ValueError: An unknown name (the message lists the known ones).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return dict(RECIPES[name])


def make_video_args(name: str) -> list[str]:
    """The ``midway make-video`` flags of recipe ``name``'s data (``make demo`` generates its videos with them).

    The frame size, the object / camera speeds and texture wavelengths
    (:func:`~midway_plugin.evaluation.knobs.make_video_knob_args`) and the ``--stats-*`` flags that describe the
    recipe's pretraining pairs in tokens, as the bench passes them.

    Raises:
        ValueError: An unknown name.
    """

    s = _settings(name)
    return ["--size", f"{s.size[0]}x{s.size[1]}", *make_video_knob_args(s), *resolve_pretraining(s).stats_args]


def _settings(name: str) -> Settings:
    return Settings(out=Path("."), variants=[], recipe=name, **recipe_settings(name))


if __name__ == "__main__":  # `python -m midway_plugin.evaluation.recipes NAME`: the recipe's pretraining config and
    # make-video flags, one line each (scripts/demo.sh reads them)
    if len(sys.argv) != 2:
        sys.exit("usage: python -m midway_plugin.evaluation.recipes NAME")
    try:
        print(_settings(sys.argv[1]).pretrain_config)
        print(" ".join(make_video_args(sys.argv[1])))
    except ValueError as err:
        sys.exit(f"recipe: {err}")
