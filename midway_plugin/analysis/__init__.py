"""Analysis of a trained Midway Network: forwarded-feature perturbation heatmaps and tracking (paper §4.4).

Submodules: :mod:`~midway_plugin.analysis.level_choice` (which block to perturb), :mod:`~.pair` (the predictor's
fixed inputs for a frame pair), :mod:`~.tangents` (jvp output tangents), :mod:`~.perturbation` (the heatmaps),
:mod:`~.tracking` (perturbation and feature-similarity tracking), :mod:`~.frames` (reading/resizing frames,
pixel ↔ token), :mod:`~.render` (pictures), :mod:`~.defaults` (torch-free defaults), :mod:`~.errors`. Levels are
named by 1-based encoder block (paper notation). Names are imported lazily so that ``midway --help`` does not
import torch.

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026 (arXiv 2510.05558), §4.4, Figures 6, 7, 13.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_REPEATS": "defaults",
    "TOP_K": "defaults",
    "AnalysisError": "errors",
    "PerturbationPair": "pair",
    "available_levels": "level_choice",
    "default_level": "level_choice",
    "encode_frames": "pair",
    "pair_from_levels": "pair",
    "perturbation_heatmaps": "perturbation",
    "prepare_pair": "pair",
    "resolve_level": "level_choice",
    "tangent_cosines": "tangents",
    "Track": "tracking",
    "track_feature_similarity": "tracking",
    "track_perturbation": "tracking",
    "write_tracks": "tracking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
