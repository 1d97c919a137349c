"""Comparing a weights file's tensors with a module's: one report of missing, unexpected and mis-shaped keys."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import torch

#: How many key names a report lists per kind before counting the rest.
MAX_LISTED = 12


class MidwayExportError(ValueError):
    """A weights file or state dict is not a (complete) Midway export."""


@dataclass(frozen=True)
class KeyReport:
    """How a state dict from ``source`` fits the ``target`` module's.

    Attributes:
        source: the file (or state dict) the tensors came from, for messages.
        target: what they were compared with (e.g. ``"Midway encoder (timm ViT)"``).
        missing: keys the module has and the file lacks.
        unexpected: keys the file has and the module lacks.
        mismatched: ``(key, file shape, module shape)`` of keys in both with different shapes.
    """

    source: str
    target: str
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def format(
        self,
        *,
        missing: bool = True,
        unexpected: bool = True,
        mismatched: bool = True,
        limit: int | None = MAX_LISTED,
    ) -> str:
        """``"<source> does not match the <target>: missing N key(s): ...; ..."`` with the chosen kinds.

        Args:
            limit: key names listed per kind before counting the rest; None lists every key.
        """
        parts = []
        if missing and self.missing:
            parts.append(f"missing {len(self.missing)} key(s): {_listed(self.missing, limit)}")
        if unexpected and self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)} key(s): {_listed(self.unexpected, limit)}")
        if mismatched and self.mismatched:
            shapes = [f"{k} (file {a}, model {b})" for k, a, b in self.mismatched]
            parts.append(f"{len(shapes)} shape mismatch(es): {_listed(shapes, limit)}")
        return f"{self.source} does not match the {self.target}: " + "; ".join(parts)

    def raise_for(
        self,
        *,
        missing: bool = True,
        unexpected: bool = True,
        mismatched: bool = True,
        limit: int | None = MAX_LISTED,
    ) -> None:
        """Raises :class:`MidwayExportError` (:meth:`format`) if any of the chosen kinds is non-empty."""
        if (missing and self.missing) or (unexpected and self.unexpected) or (mismatched and self.mismatched):
            raise MidwayExportError(
                self.format(missing=missing, unexpected=unexpected, mismatched=mismatched, limit=limit)
            )


def _listed(keys: Sequence[str], limit: int | None = MAX_LISTED) -> str:
    if limit is None or len(keys) <= limit:
        return ", ".join(keys)
    return ", ".join(keys[:limit]) + f", … ({len(keys) - limit} more)"


def key_report(
    own: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    source: str,
    target: str,
    *,
    prefix: str = "",
    resampled: Collection[str] = (),
) -> KeyReport:
    """Compares ``state`` (from the file) with ``own`` (the module's state dict); keys sorted.

    Args:
        prefix: prepended to every key in the report (e.g. the file's key prefix of a part).
        resampled: keys whose shapes may differ because the loader resamples them (position embeddings).
    """
    return KeyReport(
        source=str(source),
        target=target,
        missing=tuple(prefix + k for k in sorted(set(own) - set(state))),
        unexpected=tuple(prefix + k for k in sorted(set(state) - set(own))),
        mismatched=tuple(
            (prefix + k, tuple(state[k].shape), tuple(own[k].shape))
            for k in sorted(set(own) & set(state))
            if tuple(state[k].shape) != tuple(own[k].shape) and k not in resampled
        ),
    )


__all__ = ["KeyReport", "MAX_LISTED", "MidwayExportError", "key_report"]
