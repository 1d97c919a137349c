"""Midway's views rendered on the training device: workers only decode and draw the crop boxes.

Today's CPU path (:class:`~midway_plugin.data.views.MidwayTransform`) crops, resizes, flips and colour-augments every
view with PIL in the data-loader workers: 50-70 % of a worker's time (docs/performance.md). On an accelerator
the same views are rendered batched, in a few kernels per step:

* In the workers, :class:`PairGeometryTransform` (a paired transform for
  :class:`~midway_plugin.data.video.VideoPairDataset`) returns the two decoded frames as uint8 ``(2, H, W, 3)`` and the
  crop geometry drawn with the CPU transforms' own samplers (``sample_params``, :func:`sample_box`; torch's global
  generator, so seeding per sample keeps working): the motion box, the DINO initial box, the global boxes and
  flips, and the local boxes and flips, all in frame pixels. :func:`collate_decoded` pads frames of different
  sizes in one batch.
* On the device, :class:`DeviceAugment` crops and resizes all boxes of one output size with a single
  ``torchvision.ops.roi_align`` call (bilinear samples averaged over each output pixel's footprint, so
  downscaling is anti-aliased like PIL's filtered resize), flips, and applies the photometric chain of
  :mod:`~midway_plugin.data.views.tensor_augment` with one draw per view.

Why plain tensor ops and ``roi_align`` rather than torchvision.transforms.v2 or kornia: v2 draws one set of
parameters per call, so a batch would still be a Python loop of per-view calls; kornia is not a dependency of this
project; ``roi_align`` renders boxes of any size and aspect from many frames into one output tensor in one kernel.
Differences from the CPU path that remain: bilinear/area instead of bicubic resampling, float instead of uint8
rounding between the colour operations, and a true Gaussian instead of PIL's box-filter approximation; the
distributions of every random choice and magnitude are the same (tests/data/test_device_augment.py).

Output: the ``{"motion": [x_t, x_tdt], "dino_global": [g1_t, g2_t, g1_tdt, g2_tdt], "dino_local": [...]}`` dict of
:class:`~midway_plugin.data.views.MidwayTransform`, each entry ``(N, 3, S, S)`` for N pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import default_collate
from torchvision.ops import roi_align

from midway_plugin.data.views.crop_box import sample_box
from midway_plugin.data.views.midway_transform import MidwayTransform
from midway_plugin.data.views.tensor_augment import ColorSpec, photometric

#: Keys of the decoded items (besides ``frames``) holding geometry, per pair.
GEOMETRY_KEYS = ("motion_box", "global_boxes", "global_flips", "local_boxes", "local_flips")


def _frame_array(frame: Any) -> np.ndarray:
    array = np.asarray(frame, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {array.shape}")
    return array


class PairGeometryTransform:
    """Worker side of the accelerator path: the decoded pair and its crop geometry, nothing rendered.

    Args:
        transform: The :class:`~midway_plugin.data.views.MidwayTransform` whose geometry is drawn (its samplers and
            settings); :class:`DeviceAugment` renders it.

    Output per pair: ``{"frames": uint8 (2, H, W, 3)}`` plus, with motion crops, ``"motion_box"`` float ``(4,)``
    and, with DINO crops, ``"global_boxes"`` ``(2, 2, 4)`` (frame, crop, box), ``"global_flips"`` bool ``(2, 2)``,
    ``"local_boxes"`` ``(2, K, 4)`` and ``"local_flips"`` ``(2, K)``; boxes are ``(top, left, height, width)``
    in frame pixels.
    """

    #: The dataset passes the decoded uint8 arrays as they are (no PIL images), all pairs of an item at once.
    takes_arrays = True
    takes_pair_batches = True

    def __init__(self, transform: MidwayTransform) -> None:
        if not isinstance(transform, MidwayTransform):
            raise TypeError(f"PairGeometryTransform needs a MidwayTransform, got {type(transform).__name__}")
        self.transform = transform

    def geometry(self, height: int, width: int) -> dict[str, Tensor]:
        """Draws the crop geometry of one pair of ``height`` x ``width`` frames."""
        out: dict[str, Tensor] = {}
        motion, dino = self.transform.motion, self.transform.dino
        if motion is not None:
            out["motion_box"] = torch.tensor(motion.sample_params(height, width).box, dtype=torch.float32)
        if dino is not None:
            params = dino.sample_params(height, width)
            top, left, ih, iw = params.initial_box
            shift = torch.tensor([top, left, 0, 0], dtype=torch.float32)
            boxes = torch.tensor(params.global_boxes, dtype=torch.float32) + shift
            out["global_boxes"] = boxes.expand(2, 2, 4).clone()
            out["global_flips"] = torch.tensor(params.global_flips).expand(2, 2).clone()
            k = dino.n_local_views
            local = [sample_box(ih, iw, dino.local_crop_scale, dino.crop_ratio) for _ in range(2 * k)]
            out["local_boxes"] = (
                torch.tensor(local, dtype=torch.float32).view(2, k, 4) + shift if k else torch.zeros(2, 0, 4)
            )
            out["local_flips"] = torch.rand(2, k) < dino.hf_prob
        return out

    def pairs(self, frames: Any) -> dict[str, Tensor]:
        """All pairs of one item at once: ``frames`` ``(R, 2, H, W, 3)`` uint8 (numpy, or a tensor from the GPU
        decoder) -> the per-pair outputs of :meth:`__call__` stacked over R, without copying the frames again.

        The geometry is drawn pair after pair, as R calls of :meth:`__call__` would draw it.
        """
        tensor = frames if isinstance(frames, Tensor) else torch.from_numpy(np.ascontiguousarray(frames))
        if tensor.dtype != torch.uint8 or tensor.ndim != 5 or tensor.shape[1] != 2 or tensor.shape[4] != 3:
            raise ValueError(f"expected (R, 2, H, W, 3) uint8 frames, got {tuple(tensor.shape)} {tensor.dtype}")
        height, width = int(tensor.shape[2]), int(tensor.shape[3])
        drawn = [self.geometry(height, width) for _ in range(tensor.shape[0])]
        out = {"frames": tensor}
        for key in drawn[0] if drawn else ():
            out[key] = torch.stack([d[key] for d in drawn])
        return out

    def __call__(self, frame_t: Any, frame_tdt: Any) -> dict[str, Tensor]:
        if isinstance(frame_t, Tensor) and isinstance(frame_tdt, Tensor):  # GPU-decoded frames stay on the GPU
            shapes = tuple(frame_t.shape), tuple(frame_tdt.shape)
            if frame_t.dtype != torch.uint8 or frame_t.ndim != 3 or frame_t.shape[2] != 3:
                raise ValueError(f"expected (H, W, 3) uint8 RGB frames, got {shapes[0]} {frame_t.dtype}")
            frames = torch.stack([frame_t, frame_tdt]) if shapes[0] == shapes[1] else None
        else:
            first, second = _frame_array(frame_t), _frame_array(frame_tdt)
            shapes = first.shape, second.shape
            frames = torch.from_numpy(np.stack([first, second])) if shapes[0] == shapes[1] else None
        if frames is None:
            raise ValueError(f"the two frames of a pair differ in size: {shapes[0]} vs {shapes[1]}")
        out = {"frames": frames}
        out.update(self.geometry(int(frames.shape[1]), int(frames.shape[2])))
        return out


def collate_decoded(items: Sequence[Any]) -> Any:
    """``default_collate`` that first zero-pads the ``frames`` of items of different frame sizes to a common one.

    Boxes stay valid (they are in pixels from the top-left corner and lie inside each item's own frames).
    """
    views = [item.get("views") if isinstance(item, dict) else None for item in items]
    if all(isinstance(v, dict) and "frames" in v for v in views):
        shapes = {tuple(v["frames"].shape[-3:-1]) for v in views}  # type: ignore[index]
        if len(shapes) > 1:
            height = max(s[0] for s in shapes)
            width = max(s[1] for s in shapes)
            items = [
                dict(item, views={**v, "frames": _pad(v["frames"], height, width)})  # type: ignore[index,dict-item]
                for item, v in zip(items, views, strict=True)
            ]
    return default_collate(list(items))


def _pad(frames: Tensor, height: int, width: int) -> Tensor:
    out = frames.new_zeros(*frames.shape[:-3], height, width, frames.shape[-1])
    out[..., : frames.shape[-3], : frames.shape[-2], :] = frames
    return out


class DeviceAugment:
    """Renders the views of decoded pairs on their device (the accelerator half of the accelerator path).

    The frames are converted to ``dtype`` whole before cropping: 11 MB per 720p frame in float32, so a step of
    100 pairs holds 2.2 GB of frames for the duration of the rendering (``dtype=torch.float16`` halves it;
    torchvision's ``roi_align`` has no bfloat16 kernel on the CPU).

    Args:
        transform: The :class:`~midway_plugin.data.views.MidwayTransform` whose views are rendered (sizes, photometric
            settings); the same one given to :class:`PairGeometryTransform`.
        dtype: Working precision of the crops and colour operations.
    """

    def __init__(self, transform: MidwayTransform, dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(transform, MidwayTransform):
            raise TypeError(f"DeviceAugment needs a MidwayTransform, got {type(transform).__name__}")
        self.transform = transform
        self.dtype = dtype
        motion, dino = transform.motion, transform.dino
        # (frame t, frame t + dt) and (global 1, global 2, locals): read off the CPU path's own view transforms.
        self.motion_specs = tuple(map(ColorSpec.from_view, (motion.view_t, motion.view_tdt))) if motion else None
        self.dino_specs = tuple(map(ColorSpec.from_view, (*dino.global_views, dino.local_view))) if dino else None

    def worker_transform(self) -> PairGeometryTransform:
        """The paired transform the dataset's workers run for this augmenter."""
        return PairGeometryTransform(self.transform)

    def __call__(self, views: dict[str, Tensor]) -> dict[str, list[Tensor]]:
        """Renders a batch: ``views`` holds ``frames`` ``(N, 2, H, W, 3)`` uint8 and the geometry, ``(N, ...)``.

        Raises:
            ValueError: A key the transform needs is missing, or shapes do not match (named).
        """
        if "frames" not in views:
            raise ValueError(f"decoded views need 'frames'; got keys {sorted(views)}")
        frames = views["frames"]
        if frames.dim() != 5 or frames.shape[1] != 2 or frames.shape[-1] != 3:
            raise ValueError(f"views['frames'] must be (N, 2, H, W, 3) uint8, got {tuple(frames.shape)}")
        n = frames.shape[0]
        # (N * 2, 3, H, W): frame 2i is pair i's frame t, 2i + 1 its frame t + dt.
        images = frames.flatten(0, 1).permute(0, 3, 1, 2).to(self.dtype).div_(255)
        out: dict[str, list[Tensor]] = {}
        if self.transform.motion is not None:
            box = self._geometry(views, "motion_box", (n, 4))
            size = self.transform.motion.crop_size
            crops = self._crop(images, box.unsqueeze(1).expand(n, 2, 4), size).view(n, 2, 3, size, size)
            out["motion"] = [photometric(crops[:, j], self.motion_specs[j]) for j in range(2)]  # type: ignore[index]
        if self.transform.dino is not None:
            dino = self.transform.dino
            k, gsize, lsize = dino.n_local_views, dino.global_crop_size, dino.local_crop_size
            boxes = self._geometry(views, "global_boxes", (n, 2, 2, 4))
            flips = self._geometry(views, "global_flips", (n, 2, 2)).bool()
            crops = self._crop(images, boxes.flatten(1, 2), gsize, flips.flatten(1, 2)).view(n, 2, 2, 3, gsize, gsize)
            # [g1_t, g2_t, g1_tdt, g2_tdt]
            specs: tuple[ColorSpec, ...] = self.dino_specs  # type: ignore[assignment]
            out["dino_global"] = [photometric(crops[:, j, c], specs[c]) for j in range(2) for c in range(2)]
            local: list[Tensor] = []
            if k:
                lboxes = self._geometry(views, "local_boxes", (n, 2, k, 4))
                lflips = self._geometry(views, "local_flips", (n, 2, k)).bool()
                lcrops = self._crop(images, lboxes.flatten(1, 2), lsize, lflips.flatten(1, 2))
                # One photometric draw per local view, all locals in one batch, then split into views.
                lcrops = photometric(lcrops, self.dino_specs[2]).view(n, 2, k, 3, lsize, lsize)  # type: ignore[index]
                local = [lcrops[:, j, i] for j in range(2) for i in range(k)]
            out["dino_local"] = local
        return out

    @staticmethod
    def _geometry(views: dict[str, Tensor], key: str, shape: tuple[int, ...]) -> Tensor:
        if key not in views:
            raise ValueError(
                f"decoded views lack {key!r} (got {sorted(views)}): were they made by "
                "PairGeometryTransform with the same transform?"
            )
        value = views[key]
        if tuple(value.shape) != shape:
            raise ValueError(f"views[{key!r}] has shape {tuple(value.shape)}, expected {shape}")
        return value

    def _crop(self, images: Tensor, boxes: Tensor, size: int, flips: Tensor | None = None) -> Tensor:
        """Crops ``boxes`` (N, V, 4) of frames ``2i + V // per_frame`` into ``(N * V, 3, size, size)``.

        Box ``v`` of pair ``i`` is taken from frame t for the first half of ``v``, from frame t + dt for the second.
        """
        n, v = boxes.shape[:2]
        frame = torch.arange(n, device=images.device).view(n, 1) * 2 + (
            torch.arange(v, device=images.device) >= v // 2
        ).view(1, v)
        top, left, height, width = boxes.to(images.device, self.dtype).unbind(-1)
        rois = torch.stack([frame.to(self.dtype), left, top, left + width, top + height], dim=-1).view(n * v, 5)
        crops = roi_align(images, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
        if flips is not None:
            crops = torch.where(flips.to(images.device).reshape(n * v, 1, 1, 1), crops.flip(-1), crops)
        clamped: Tensor = crops.clamp_(0, 1)
        return clamped
