"""Which feature level to analyse: blocks with a forward predictor, the default, and the one conversion to indices.

The public surface names a level by its 1-based encoder **block**, as the paper does (3, 6, 9 for ViT-S/B) and as
``midway analyze --level`` does; the core's :mod:`midway_plugin.models.levels` converts it to the level index that
``MidwayNetwork.predict_level`` and the encoder's feature list use.
"""

from __future__ import annotations

import numbers

from midway_plugin.analysis.errors import AnalysisError
from midway_plugin.models.levels import blocks_to_indices, indices_to_blocks
from midway_plugin.models.midway import MidwayNetwork


def available_levels(model: MidwayNetwork) -> tuple[int, ...]:
    """The blocks that have a forward predictor (the objective levels), low → high.

    Raises:
        AnalysisError: the model has no dynamics networks (``latent_dynamics=False``).
    """
    if not model.cfg.latent_dynamics or getattr(model, "predictor", None) is None:
        raise AnalysisError("this model has no forward predictor (latent_dynamics=False): there is nothing to perturb")
    return indices_to_blocks(tuple(model.objective_indices), model.cfg.feature_levels)


def default_level(model: MidwayNetwork) -> int:
    """The default perturbed level (a block number): the highest level with a forward predictor.

    That is block 9 for the released ViT-S/B configs: the top objective level, whose predictor sees the
    most semantic features and the motion latents straight from the top of the midway path (Algorithm 1),
    so its heatmaps follow objects rather than textures.
    """
    return max(available_levels(model))


def resolve_level(model: MidwayNetwork, block: int | None) -> int:
    """The block to perturb: ``block`` checked against the levels that have a predictor, or the default.

    Args:
        model: a ``MidwayNetwork``.
        block: the 1-based encoder block (paper notation: 3, 6, 9), or ``None`` for :func:`default_level`.

    Raises:
        AnalysisError: naming the block and the levels that have a predictor.
    """
    levels = available_levels(model)
    if block is None:
        return max(levels)
    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block not in levels:
        raise AnalysisError(
            f"level {block} has no forward predictor; this model predicts levels {sorted(levels)} "
            f"(blocks of feature_levels={tuple(model.cfg.feature_levels)})"
        )
    return int(block)


def feature_index(model: MidwayNetwork, block: int) -> int:
    """The level index of an encoder block (any feature level, with or without a predictor).

    Raises:
        AnalysisError: the block is not one of ``cfg.feature_levels`` (the message lists them).
    """
    try:
        return blocks_to_indices(block, model.cfg.feature_levels, where="block")[0]
    except ValueError as err:
        raise AnalysisError(str(err)) from None


def block_argument(model: MidwayNetwork, block: int | None, *, predicted: bool = True) -> int:
    """The block a public function was asked for, checked; ``None`` is the default level.

    Args:
        model: a ``MidwayNetwork``.
        block: the 1-based block; ``None`` is the default level (:func:`default_level`).
        predicted: the level must have a forward predictor (:func:`resolve_level`); else any feature level.

    Raises:
        AnalysisError: a block that is not a (predicted) feature level.
    """
    if predicted:
        return resolve_level(model, block)
    if block is None:
        return default_level(model) if model.cfg.latent_dynamics else int(model.cfg.feature_levels[-1])
    feature_index(model, block)
    return int(block)


__all__ = ["available_levels", "block_argument", "default_level", "feature_index", "resolve_level"]
