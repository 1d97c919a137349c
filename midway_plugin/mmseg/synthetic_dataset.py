"""`MidwaySyntheticDataset`: a ``midway make-video`` folder as an MMSegmentation dataset (frames + class masks).

Reads the folder unchanged: ``dataset.json`` (classes, palette, the train/val split by video), the lossless PNG
frames ``frames/NAME/NNNNNN.png`` and the class masks ``masks/NAME/NNNNNN.png`` (0 = background, a real class).
Standard mmseg pipelines apply (``LoadImageFromFile``, ``LoadAnnotations``, ``PackSegInputs``, ...).
"""

from __future__ import annotations

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from midway_plugin.data.synthetic.index import SyntheticIndexError, read_index, segmentation_samples

__all__ = ["MidwaySyntheticDataset"]


@DATASETS.register_module()
class MidwaySyntheticDataset(BaseSegDataset):
    """The frames of one split of a ``midway make-video`` output, with their class masks.

    Args:
        data_root: The ``midway make-video --out`` folder.
        split: ``'train'`` or ``'val'`` (the split is by video, recorded in ``dataset.json``).
        frame_stride: Keep frames ``0, s, 2s, ...`` of each video (consecutive frames are near duplicates).
        metainfo: Optional overrides; ``classes`` and ``palette`` come from ``dataset.json`` otherwise.
        **kwargs: ``BaseSegDataset`` arguments (``pipeline``, ``test_mode``, ``indices``, ...).

    Raises:
        ValueError: the folder is not a make-video output with frames, the split is unknown or empty, or a
            file is missing (the message names the file and key).
    """

    METAINFO: dict = dict()

    def __init__(
        self, data_root: str, split: str = "train", frame_stride: int = 1, metainfo: dict | None = None, **kwargs
    ) -> None:
        for key in ("ann_file", "data_prefix", "img_suffix", "seg_map_suffix"):
            if key in kwargs:
                raise ValueError(
                    f"MidwaySyntheticDataset: {key!r} is not used: the files come from "
                    f"{data_root}/dataset.json (choose them with split / frame_stride)"
                )
        if kwargs.get("reduce_zero_label"):
            raise ValueError("MidwaySyntheticDataset: reduce_zero_label=True would drop the background class 0")
        self.split = split
        self.frame_stride = frame_stride
        try:
            index = read_index(data_root)
        except SyntheticIndexError as err:
            raise ValueError(f"MidwaySyntheticDataset: {err}") from err
        metainfo = dict(
            classes=tuple(index["classes"]), palette=[list(c) for c in index["palette"]], **(metainfo or {})
        )
        super().__init__(data_root=data_root, metainfo=metainfo, img_suffix=".png", seg_map_suffix=".png", **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per kept frame of every video of the split (video order, then frame order)."""
        try:
            _, samples = segmentation_samples(self.data_root, self.split, self.frame_stride)
        except SyntheticIndexError as err:
            raise ValueError(f"MidwaySyntheticDataset: {err}") from err
        return [
            dict(sample, label_map=self.label_map, reduce_zero_label=self.reduce_zero_label, seg_fields=[])
            for sample in samples
        ]
