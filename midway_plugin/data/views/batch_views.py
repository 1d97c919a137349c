"""The view contract between the data and the pretraining method: which crop is which, in one batch.

:class:`~midway_plugin.data.views.MidwayTransform` (through :class:`~midway_plugin.data.video.VideoPairDataset` and
the default collate, or rendered on the device by :class:`~midway_plugin.data.views.DeviceAugment`) produces a dict of
views; Lightly's single-image benchmarks produce a flat list in :data:`VIEW_ORDER`. :func:`unpack_batch` turns either
into :class:`MidwayViews`, the one format the Midway method consumes. The teacher takes the global crops, the student
the global and local crops; among the globals, view ``v`` and ``v +- G/2`` are the same crop in the other frame
(docs/paper.md §1.7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

#: Order of the flat view list used by the Lightly-style ``(views, targets, filenames)`` batches: the two motion
#: crops, the 2 G global DINO crops (frame x first), then the local crops of frame x, then those of frame y.
VIEW_ORDER = ("motion_x", "motion_y", "g1_x", "g2_x", "g1_y", "g2_y", "locals_x...", "locals_y...")


@dataclass
class MidwayViews:
    """The crops of one batch of frame pairs, each tensor ``(N, C, H, W)`` (N = pairs in the batch).

    Attributes:
        motion: ``(x_t, x_t+dt)``: the dynamics objective's motion crops (same box in both frames), or None.
        globals_: teacher/student global crops ``[g1_x, ..., gG_x, g1_y, ..., gG_y]``.
        locals_: student-only local crops, frame x first.
        targets: class labels (Lightly benchmark batches only), for the online classifier.
    """

    motion: tuple[Tensor, Tensor] | None
    globals_: list[Tensor]
    locals_: list[Tensor]
    targets: Tensor | None = None

    @property
    def batch_size(self) -> int:
        if self.motion is not None:
            return int(self.motion[0].shape[0])
        return int(self.globals_[0].shape[0])


def flatten_pairs(batch: Any, rank: int | None = None) -> Any:
    """Merges the batch and pair dimensions of every tensor in a collated batch.

    A DataLoader with the default collate turns the per-item ``(R, ...)`` tensors of
    :class:`~midway_plugin.data.video.VideoPairDataset` into ``(B, R, ...)``; models want ``(B * R, ...)``. Order:
    item-major (item 0's R pairs first).

    Args:
        batch: A tensor or a (nested) list, tuple or mapping of tensors; other leaves (strings, ints) are kept.
        rank: Reshape only tensors of exactly this rank (5: image stacks ``(B, R, C, H, W)``, leaving views that
            are already ``(N, C, H, W)`` alone); None reshapes every tensor of rank >= 2.

    Returns:
        The same structure with those tensors reshaped to ``(B * R, ...)``.
    """
    if isinstance(batch, Tensor):
        flatten = batch.dim() >= 2 if rank is None else batch.dim() == rank
        return batch.flatten(0, 1) if flatten else batch
    if isinstance(batch, Mapping):
        return {key: flatten_pairs(value, rank) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(flatten_pairs(value, rank) for value in batch)
    return batch


def _as_view_list(value: Any, key: str) -> list[Tensor]:
    """A stacked ``(V, N, C, H, W)`` tensor or a list of ``(N, C, H, W)`` tensors -> list of views."""
    if isinstance(value, Tensor):
        if value.dim() == 4:
            return [value]
        if value.dim() == 5:
            return list(value.unbind(0))
    elif isinstance(value, (list, tuple)) and all(isinstance(v, Tensor) and v.dim() == 4 for v in value):
        return list(value)
    raise ValueError(f"batch views[{key!r}] must be (N, C, H, W) tensors, got {type(value).__name__}")


def unpack_batch(batch: Any, num_global_views: int = 4) -> MidwayViews:
    """Turns a collated batch into :class:`MidwayViews`.

    Accepts the dict batches of :class:`~midway_plugin.data.video.VideoPairDataset` + ``MidwayTransform`` (views under
    ``batch["views"]`` with keys ``motion``, ``dino_global``, ``dino_local``; pair dimension R merged into the
    batch) and
    Lightly's ``(views, targets, filenames)`` batches with the flat :data:`VIEW_ORDER` list.

    Args:
        batch: The collated batch.
        num_global_views: Global views in the flat-list format (2 per frame in the paper).

    Raises:
        ValueError: The batch has neither format; the message says what was found.
    """
    if isinstance(batch, Mapping):
        if "views" not in batch:
            raise ValueError(f"a dict batch must hold 'views'; got keys {sorted(batch)}")
        views = flatten_pairs(batch["views"], rank=5)
        if not isinstance(views, Mapping):
            raise ValueError(f"batch['views'] must be a dict of crops, got {type(views).__name__}")
        if "frames" in views:
            raise ValueError(
                "batch['views'] holds decoded frames (the accelerator-augment path) but no augmenter rendered them: "
                "set Midway.batch_augment to the DeviceAugment of the dataset's PairGeometryTransform"
            )
        if "motion" not in views and "dino_global" not in views:
            raise ValueError(f"batch['views'] has neither 'motion' nor 'dino_global' crops; has {sorted(views)}")
        motion = None
        if "motion" in views:
            pair = _as_view_list(views["motion"], "motion")
            if len(pair) != 2:
                raise ValueError(f"batch views['motion'] must hold 2 crops (x_t, x_t+dt), got {len(pair)}")
            motion = (pair[0], pair[1])
        globals_ = _as_view_list(views["dino_global"], "dino_global") if "dino_global" in views else []
        locals_ = _as_view_list(views["dino_local"], "dino_local") if "dino_local" in views else []
        targets = batch.get("target")
        return MidwayViews(motion, globals_, locals_, targets if isinstance(targets, Tensor) else None)
    if isinstance(batch, (list, tuple)) and len(batch) >= 1 and isinstance(batch[0], (list, tuple)):
        views = [flatten_pairs(v, rank=5) for v in batch[0]]
        if len(views) < 2 + num_global_views or (len(views) - 2 - num_global_views) % 2:
            raise ValueError(
                f"a Lightly-style batch needs {list(VIEW_ORDER)} views (2 motion + {num_global_views} global + an "
                f"equal number of local crops per frame), got {len(views)} views"
            )
        targets = batch[1] if len(batch) > 1 and isinstance(batch[1], Tensor) else None
        return MidwayViews(
            (views[0], views[1]), views[2 : 2 + num_global_views], views[2 + num_global_views :], targets
        )
    raise ValueError(
        "unsupported batch: expected a VideoPairDataset dict with 'views' or a Lightly (views, targets, filenames) "
        f"tuple, got {type(batch).__name__}"
    )


__all__ = ["VIEW_ORDER", "MidwayViews", "flatten_pairs", "unpack_batch"]
