"""The named recipes of ``midway bench quality`` (``--recipe``): data and pretraining settings sized together.

``demo``: the pipeline check (``configs/pretrain/demo.yaml``, 64x64 frames, the tiny preset at patch 8).
``small``: the smallest setting in which both objectives measurably learn on generated video
(``configs/pretrain/small_synthetic.yaml``; why each value: that file's comments and docs/bench.md, "The
small-scale recipe"). ``--quick`` and every flag apply on top of the recipe.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

RECIPES: dict[str, dict[str, Any]] = {
    "demo": {},
    "small": dict(
        pretrain_config=REPO / "configs" / "pretrain" / "small_synthetic.yaml",
        size=(40, 40), num_videos=168, val_videos=24,  # 144 training + 24 held-out videos
        object_speed=(3.0, 6.0), camera_speed=(2.0, 4.0),  # px/frame: >= 1 token at patch 4 over delta_t 1-3
        texture_wavelength=(12.0, 24.0),  # above twice the per-frame motion: features stay matchable
        pretrain_steps=1200,
    ),
}


def recipe_settings(name: str) -> dict[str, Any]:
    """The :class:`~midway_plugin.bench.quality.Settings` values of recipe ``name``.

    Raises:
        ValueError: An unknown name (the message lists the known ones).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return dict(RECIPES[name])
