"""Feature levels: the one encoding of "which encoder blocks" and its conversion to internal level indices.

The public surface (configs, adapter arguments, messages) names feature levels by their encoder **block**, 1-based
as the paper writes them (ViT-S/16: blocks 3, 6, 9, 12; ``MidwayConfig.feature_levels``). Inside the core a level
is an **index** into ``feature_levels`` (0 = lowest), and module keys are ``"level<block>"`` (e.g. ``"level9"``).
"""

from __future__ import annotations

from collections.abc import Sequence


def level_key(block: int) -> str:
    """Module key of the feature level at encoder block ``block`` (e.g. 9 → ``"level9"``)."""
    return f"level{int(block)}"


def blocks_to_indices(
    blocks: int | Sequence[int], feature_levels: Sequence[int], *, where: str = "blocks"
) -> tuple[int, ...]:
    """Level indices of 1-based encoder blocks, validated against ``feature_levels``.

    Args:
        blocks: one block number or a non-empty sequence of them (e.g. ``(3, 12)``).
        feature_levels: the model's ``MidwayConfig.feature_levels``.
        where: the argument's name for error messages (e.g. ``"MidwayViT: out_blocks"``).

    Raises:
        ValueError: a value that is not one of the feature-level blocks (the message lists the valid blocks).
    """
    valid = tuple(int(b) for b in feature_levels)
    values = (blocks,) if isinstance(blocks, int) else tuple(blocks)
    bad = [b for b in values if not isinstance(b, int) or isinstance(b, bool) or b not in valid]
    if not values or bad:
        raise ValueError(
            f"{where}={blocks!r}: expected one or more of the feature-level blocks {valid} (1-based encoder "
            "block numbers as the paper writes them)"
        )
    return tuple(valid.index(b) for b in values)


def indices_to_blocks(
    indices: int | Sequence[int], feature_levels: Sequence[int], *, where: str = "indices"
) -> tuple[int, ...]:
    """Encoder blocks of level indices (positions in ``feature_levels``; negative counts from the top).

    Raises:
        ValueError: an index outside the feature levels (the message lists the levels and their blocks).
    """
    valid = tuple(int(b) for b in feature_levels)
    n = len(valid)
    values = (indices,) if isinstance(indices, int) else tuple(indices)
    bad = [i for i in values if not isinstance(i, int) or isinstance(i, bool) or not -n <= i < n]
    if not values or bad:
        raise ValueError(
            f"{where}={indices!r} must be positions in the {n} feature levels (blocks {valid}): integers in "
            f"[{-n}, {n - 1}]"
        )
    return tuple(valid[i] for i in values)


__all__ = ["blocks_to_indices", "indices_to_blocks", "level_key"]
