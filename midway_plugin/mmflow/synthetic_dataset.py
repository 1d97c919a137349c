"""`MidwaySyntheticFlow`: a ``midway make-video`` folder as an MMFlow dataset (frame pairs + exact forward flow).

Reads the folder unchanged: ``dataset.json`` (the train/val split by video), the lossless PNG frames
``frames/NAME/NNNNNN.png`` and the forward flow ``flow/NAME/NNNNNN.flo`` (frame N -> N + G, G = ``frame_gap`` of
``dataset.json``, ``midway make-video --frame-gap``, 1 by default; Middlebury format,
read by MMFlow's own ``LoadAnnotations``). Every pixel has ground truth (``gt_valid_fw`` is not set), so the EPE
is over all pixels, occluded ones included (as Sintel's "all").
"""

from __future__ import annotations

from mmengine.dataset import BaseDataset
from mmflow.registry import DATASETS

from midway_plugin.data.synthetic.index import SyntheticIndexError, flow_samples, read_index

__all__ = ["MidwaySyntheticFlow"]


@DATASETS.register_module()
class MidwaySyntheticFlow(BaseDataset):
    """The frame pairs (t, t + G) of one split of a ``midway make-video`` output, with their flow (G: the
    folder's ``frame_gap``, 1 by default).

    Args:
        data_root: The ``midway make-video --out`` folder.
        split: ``'train'`` or ``'val'`` (the split is by video, recorded in ``dataset.json``).
        frame_stride: Keep pairs starting at frames ``0, s, 2s, ...`` of each video.
        metainfo: Extra meta information (``dataset`` and ``classes`` are filled in).
        **kwargs: ``mmengine.dataset.BaseDataset`` arguments (``pipeline``, ``test_mode``, ``indices``, ...).

    Raises:
        ValueError: the folder is not a make-video output with frames, the split is unknown or empty, or a
            file is missing (the message names the file and key).
    """

    METAINFO = dict(dataset="MidwaySyntheticFlow")

    def __init__(
        self, data_root: str, split: str = "train", frame_stride: int = 1, metainfo: dict | None = None, **kwargs
    ) -> None:
        for key in ("ann_file", "data_prefix"):
            if key in kwargs:
                raise ValueError(
                    f"MidwaySyntheticFlow: {key!r} is not used: the files come from "
                    f"{data_root}/dataset.json (choose them with split / frame_stride)"
                )
        self.split = split
        self.frame_stride = frame_stride
        try:
            index = read_index(data_root)
        except SyntheticIndexError as err:
            raise ValueError(f"MidwaySyntheticFlow: {err}") from err
        metainfo = dict(classes=tuple(index["classes"]), **(metainfo or {}))
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per kept pair of every video of the split (video order, then frame order)."""
        try:
            _, samples = flow_samples(self.data_root, self.split, self.frame_stride)
        except SyntheticIndexError as err:
            raise ValueError(f"MidwaySyntheticFlow: {err}") from err
        return samples
