"""Training randomness as a function of (seed, step, sample), so a resumed run repeats the uninterrupted one.

A DataLoader with ``shuffle=True`` and workers seeded at start draws from random streams that restart whenever
the process does: after a kill and ``--resume``, step 20 would draw the videos, pairs and crops of step 0 again.
Here nothing depends on how long the process lived:

* :class:`StepBatchSampler` makes batch ``k`` (``k`` = optimizer step, counted over the whole run) from a
  permutation of the dataset seeded by ``(seed, epoch = k // batches_per_epoch)``, sharded over DDP ranks like
  ``DistributedSampler``; every ``iter()`` starts at the trainer's current global step.
* Each index it yields carries a per-sample seed ``(seed, k, rank, position)``; :class:`SeededSamples` seeds
  ``torch``, ``numpy`` and ``random`` with it before building the item, so the video's pairs, the gap Δt and the
  crops are the same in any process, data-loader worker or not.
* :class:`SeedEveryStep` reseeds the training process's generators at the start of every step from
  ``(seed, k, rank)`` (stochastic depth, anything random in the model).

Reference: the kill-and-resume test in ``tests/reliability/test_kill_and_resume.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from pytorch_lightning import Callback
from torch.utils.data import Dataset, Sampler


def derive_seed(*entropy: int) -> int:
    """A 32-bit seed mixed from integers (numpy's ``SeedSequence``: nearby inputs give unrelated seeds)."""
    return int(np.random.SeedSequence([int(e) & 0xFFFFFFFFFFFFFFFF for e in entropy]).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seeds the global generators of ``torch``, ``numpy`` and ``random`` (what transforms and Lightly use)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, sample_seed)`` determined by the run seed and the global step.

    Args:
        num_items: Dataset length.
        batch_size: Items per batch and process; incomplete batches are dropped.
        seed: The run's seed.

    Attributes:
        step_source: Returns the global step the next ``iter()`` starts at (:class:`SeedEveryStep` points it at
            the trainer); None starts at step 0.
    """

    _PERMUTATION, _SAMPLE, _STEP = 1, 2, 3  # domain tags: the three kinds of seeds never coincide

    def __init__(self, num_items: int, batch_size: int, seed: int) -> None:
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.step_source: Callable[[], int] | None = None
        self.started_at: int | None = None  # the step the latest iter() started at

    def _shard(self) -> tuple[int, int, int]:
        rank, world = _distributed()
        per_rank = self.num_items // world
        return rank, world, per_rank // self.batch_size

    def __len__(self) -> int:
        return self._shard()[2]

    def batch(self, step: int) -> list[tuple[int, int]]:
        """The ``(index, sample_seed)`` pairs of global step ``step`` on this process."""
        rank, world, per_epoch = self._shard()
        if per_epoch < 1:
            raise ValueError(f"{self.num_items} items cannot fill one batch of {self.batch_size} per process")
        epoch, position = divmod(step, per_epoch)
        generator = torch.Generator().manual_seed(derive_seed(self._PERMUTATION, self.seed, epoch))
        order = torch.randperm(self.num_items, generator=generator)[rank::world]
        chosen = order[position * self.batch_size : (position + 1) * self.batch_size].tolist()
        return [(index, derive_seed(self._SAMPLE, self.seed, step, rank, i)) for i, index in enumerate(chosen)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_epoch = len(self)
        step = int(self.step_source()) if self.step_source is not None else 0
        self.started_at = step
        end = (step // per_epoch + 1) * per_epoch if per_epoch else step  # up to the end of the current epoch
        while step < end:
            yield self.batch(step)
            step += 1

    def step_seed(self, step: int) -> int:
        rank, _, _ = self._shard()
        return derive_seed(self._STEP, self.seed, step, rank)


class SeededSamples(Dataset[Any]):
    """Wraps a dataset so that item ``(index, sample_seed)`` is built with every generator seeded by it."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, sample_seed = key
        seed_all(sample_seed)
        return self.dataset[index]

    def __repr__(self) -> str:
        return repr(self.dataset)


class SeedEveryStep(Callback):
    """Points the sampler at the trainer's global step and reseeds the generators at the start of every step."""

    def __init__(self, sampler: StepBatchSampler) -> None:
        self.sampler = sampler

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        # Read at every iter(): after a resume Lightning restores the step before it first iterates the loader.
        self.sampler.step_source = lambda: trainer.global_step

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # Lightning iterates the loader once before restoring a checkpoint (to count the steps for the schedules);
        # data-loader workers then already hold indices from step 0. Start again from the restored step.
        fetcher = getattr(trainer.fit_loop, "_data_fetcher", None)
        if fetcher is not None and self.sampler.started_at not in (None, trainer.global_step):
            iter(fetcher)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        seed_all(self.sampler.step_seed(trainer.global_step))


__all__ = ["SeedEveryStep", "SeededSamples", "StepBatchSampler", "derive_seed", "seed_all"]
