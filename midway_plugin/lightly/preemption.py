"""SIGTERM (SLURM preemption, ``kill``) and SIGINT (Ctrl-C): finish the current step, checkpoint it, stop.

Lightning's own SIGTERM handling raises at the next batch without saving, and Ctrl-C interrupts wherever Python
is (possibly between the optimizer step and the step counter). This callback replaces both handlers while
training runs: a signal only sets a flag, and at the end of the step (optimizer step done, counters consistent)
it asks the trainer to stop, so the ``on_train_end`` checkpoint (``step-N.ckpt`` and ``last.ckpt``) records the
current step. A second Ctrl-C interrupts at once. Under DDP the flag is combined over processes every step, so all
ranks stop at the same step even if only one received the signal. Data-loader workers ignore both signals
(:func:`ignore_stop_signals`): a Ctrl-C or a SLURM SIGTERM reaches the whole process group, and a worker that died
of it would end the run with a "DataLoader worker exited unexpectedly" error instead of the clean stop.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from pytorch_lightning import Callback

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def ignore_stop_signals(worker_id: int) -> None:  # noqa: ARG001
    """DataLoader ``worker_init_fn``: workers leave SIGTERM/SIGINT to the training process, which stops them."""
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class StopOnSignal(Callback):
    """Stops training cleanly at the end of the step during which SIGTERM or SIGINT arrived.

    Attributes:
        received: The signal number received (None while training was not interrupted).
        stopped_at: The global step training stopped at because of it.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopped_at: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if self.received is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt  # second Ctrl-C: the user does not want to wait for the step to end
        self.received = signum

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in HANDLED_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            trainer.should_stop = True
            self.stopped_at = trainer.global_step

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._restore()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._restore()

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.received).name if self.received is not None else None


__all__ = ["StopOnSignal", "ignore_stop_signals"]
