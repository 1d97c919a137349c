"""The divergence guard on weights: no checkpoint with diverged parameters is ever written.

:class:`~midway_plugin.lightly.midway.Midway` stops on a non-finite loss before the optimizer step; a huge learning
rate, however, can blow the weights up (|w| ~ 1e30) while the loss of that step is still finite, and the step
checkpoint written right after would hold them. This callback checks every parameter and buffer after each
optimizer step, before Lightning's checkpoint callbacks run (those always come last), and stops training when one
is non-finite or larger in magnitude than :data:`MAX_ABS_WEIGHT`.
"""

from __future__ import annotations

from typing import Any

import torch
from pytorch_lightning import Callback

from midway_plugin.lightly.midway import NonFiniteLossError

#: Largest parameter magnitude accepted. Trained ViT / DINO-head weights and LayerNorm gains are O(1)-O(10);
#: anything beyond this has diverged (float32 overflows a few orders of magnitude later).
MAX_ABS_WEIGHT = 1e6


class WeightGuard(Callback):
    """Raises :class:`~midway_plugin.lightly.midway.NonFiniteLossError` naming the step and the tensors (non-finite
    or huge after an optimizer step), before that step is checkpointed: nothing of that step is saved."""

    def __init__(self, max_abs: float = MAX_ABS_WEIGHT) -> None:
        self.max_abs = float(max_abs)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        tensors = [
            (n, t)
            for n, t in (*pl_module.named_parameters(), *pl_module.named_buffers())
            if t.is_floating_point() and t.numel()
        ]
        if not tensors:
            return
        peaks = torch.stack([t.detach().abs().amax().float() for _, t in tensors])
        local_bad = not bool((peaks <= self.max_abs).all())  # NaN compares False: caught too
        if not trainer.strategy.reduce_boolean_decision(local_bad, all=False):
            return
        bad = [
            f"{name} (max |w| = {float(peak):g})"
            for (name, _), peak in zip(tensors, peaks, strict=True)
            if not bool(peak <= self.max_abs)
        ]
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        detail = ", ".join(bad[:5]) + more if bad else "on another process"
        raise NonFiniteLossError(
            f"weights diverged at global step {trainer.global_step}: {detail} (non-finite or above "
            f"{self.max_abs:g}). Training stopped before checkpointing this step; lower optim.base_lr."
        )


__all__ = ["MAX_ABS_WEIGHT", "WeightGuard"]
