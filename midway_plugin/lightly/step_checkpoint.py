"""Lightning's ``ModelCheckpoint`` that also saves the final step of a run.

``every_n_train_steps=N`` alone saves at multiples of N only: a run of 1,050 steps with N = 1,000 would lose its
last 50 steps. Lightning has no public hook for "save now, as this callback would", so :meth:`on_train_end` calls
the callback's own save methods (private API of ``pytorch_lightning`` 2.x, pinned in ``requirements.lock``; the
tests in ``tests/lightly/test_pretrain_run.py`` check the files written).
"""

from __future__ import annotations

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint


class StepCheckpoint(ModelCheckpoint):
    """Every N steps, and also at the end of training when the last step was not a multiple of N."""

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step > 0 and self._last_global_step_saved != trainer.global_step:
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)


__all__ = ["StepCheckpoint"]
