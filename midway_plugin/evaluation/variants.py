"""The pretraining variants of ``midway bench quality``: paper Table 3's rows as ``MidwayConfig`` switches.

Table 3 of the paper (Hoang & Ren, ICLR 2026: base 28.3 mIoU / 6.2 EPE, full Midway 31.5 / 4.1) compares the
DINO-only base model with the full Midway Network and removes one component at a time. Every variant here is
pretrained with the same data, steps and seeds; only the ``model`` switches below differ (docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Variant:
    """One row of the table.

    Attributes:
        name: short name used in paths, flags and the JSON (``base``, ``full``, ``no-backward``, ...).
        label: the row label of the Markdown table.
        model: ``MidwayConfig`` fields changed from the preset (the ``model`` section of the pretraining config).
        table3_row: the matching row number of the paper's Table 3.
    """

    name: str
    label: str
    model: dict[str, Any] = field(default_factory=dict)
    table3_row: int | None = None

    @property
    def has_dynamics(self) -> bool:
        """Whether pretraining trains latent dynamics (the base model has none to perturb)."""
        return bool(self.model.get("latent_dynamics", True))


#: Every variant, in table order. ``base`` and ``full`` are the headline comparison (several seeds).
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("base", "Base (DINO only)", {"latent_dynamics": False}, table3_row=1),
        Variant("full", "Full Midway", {}, table3_row=6),
        Variant("no-backward", "No backward layers", {"backward_layers": False}, table3_row=7),
        Variant("single-level", "Single level", {"multi_level": False}, table3_row=8),
        Variant("no-refinement", "No refinement", {"refinement": False}, table3_row=9),
        Variant("no-gating", "No gating", {"gating": False}, table3_row=5),
    )
}

#: Variants run with several seeds by default; the others (ablations) run with one.
HEADLINE = ("base", "full")


def parse_variants(text: str) -> list[Variant]:
    """``"base,full"`` or ``"all"`` → variants in table order.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(VARIANTS.values())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown variant(s) {unknown or [text]}; known: all, {', '.join(VARIANTS)}")
    return [v for v in VARIANTS.values() if v.name in names]
