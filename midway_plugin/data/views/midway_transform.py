"""Paired-frame transforms of Midway Network, in Lightly's transform style.

Each transform is called on two frames of one video, ``transform(frame_t, frame_t_plus_dt)`` (PIL images, uint8
arrays of shape (H, W, 3), or uint8/float tensors of shape (3, H, W)), and returns tensors normalised with
ImageNet's statistics (Lightly's ``IMAGENET_NORMALIZE``). They are built from torchvision transforms and Lightly's
``DINOViewTransform`` (whole for the local crops, its photometric steps for the others); only the geometry that
must be shared between the two frames is sampled here (torchvision's ``RandomResizedCrop.get_params``). One file
per part:

* ``motion_transform.py``: :class:`MidwayMotionTransform` -> ``[x_t, x_tdt]``: the "motion crops" of the dynamics
  objective.
* ``dino_transform.py``: :class:`MidwayDINOTransform` -> ``[g1_t, g2_t, g1_tdt, g2_tdt, l1_t, ..., lK_t, l1_tdt,
  ..., lK_tdt]``: the paired-frame DINO crops. The teacher takes the first 4 (global) views, the student all
  ``4 + 2K`` (docs/paper.md §1.7: g1_x, g2_x, g1_y, g2_y, then 8 locals of x and 8 of y).
* this file: :class:`MidwayTransform` -> ``{"motion": [x_t, x_tdt], "dino_global": [g1_t, g2_t, g1_tdt, g2_tdt],
  "dino_local": [l1_t, ..., lK_t, l1_tdt, ..., lK_tdt]}`` (both of the above on the same pair).
* ``color_view.py``: :func:`~midway_plugin.data.views.color_view.color_view`, the photometric steps (Lightly's);
  ``crop_box.py``: the crop boxes and their sampler; ``pair_input.py``: frame conversion and argument checks.

Shapes per pair: motion and global views ``(3, crop_size, crop_size)``, local views ``(3, local_size, local_size)``.
Through :class:`~midway_plugin.data.video.VideoPairDataset` and the default collate, each becomes ``(B, R, 3, S, S)``;
:func:`~midway_plugin.data.views.flatten_pairs` gives ``(B * R, 3, S, S)``.

Every transform exposes its geometry: ``sample_params(height, width)`` draws the shared boxes/flips and
``apply(frame_t, frame_tdt, params)`` renders them, so tests and analyses can replay or inspect the crops.
Randomness uses torch's and numpy's global generators (DataLoader seeds both per worker), as Lightly does.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026 (arXiv 2510.05558), §4.1 and Appendix B (motion crops: area
    [0.2, 0.4], same location in both frames, DINO global augmentations 1 and 2; DINO crops: initial crop of area
    [0.05, 0.2], 2 global + 8 local crops per frame). Caron et al., "Emerging Properties in Self-Supervised Vision
    Transformers" (DINO), ICCV 2021, for the view augmentations.
"""

from __future__ import annotations

from typing import Any

import torch

from midway_plugin.data.views.dino_transform import MidwayDINOTransform
from midway_plugin.data.views.motion_transform import MidwayMotionTransform
from midway_plugin.data.views.pair_input import check_pair


class MidwayTransform:
    """Both Midway objectives' views of one frame pair, as one dict.

    Output::

        {
            "motion": [x_t, x_tdt],                         # 2 x (3, motion_size, motion_size)
            "dino_global": [g1_t, g2_t, g1_tdt, g2_tdt],    # 4 x (3, global_size, global_size): teacher views
            "dino_local": [l1_t, ..., lK_t, l1_tdt, ..., lK_tdt],  # 2K x (3, local_size, local_size)
        }

    The student's DINO views are ``dino_global + dino_local`` (docs/paper.md §1.7). With ``with_dino=False`` (a
    dynamics-only run) the two ``dino_*`` keys are absent; with ``with_motion=False`` (the DINO-only base of
    Table 3, row 1) ``motion`` is absent.

    Args:
        motion: The motion-crop transform (None: paper settings).
        dino: The DINO-crop transform (None: paper settings).
        with_motion: Produce the motion crops.
        with_dino: Produce the DINO crops.

    Raises:
        ValueError: Both ``with_motion`` and ``with_dino`` are False.
    """

    def __init__(
        self,
        motion: MidwayMotionTransform | None = None,
        dino: MidwayDINOTransform | None = None,
        *,
        with_motion: bool = True,
        with_dino: bool = True,
    ) -> None:
        self.motion = (motion or MidwayMotionTransform()) if with_motion else None
        self.dino = (dino or MidwayDINOTransform()) if with_dino else None
        if self.motion is None and self.dino is None:
            raise ValueError("MidwayTransform needs at least one of the motion and DINO transforms")

    @classmethod
    def small(
        cls,
        crop_size: int = 32,
        local_crop_size: int = 16,
        n_local_views: int = 2,
        initial_crop_scale: tuple[float, float] | None = (0.3, 0.6),
        **kwargs: Any,
    ) -> MidwayTransform:
        """A transform for tiny frames (e.g. 64 x 64 synthetic video): 32 px motion/global crops, 2 x 16 px locals.

        The initial crop is enlarged (area 0.3-0.6) so that crops of tiny frames keep some content.

        Args:
            crop_size: Motion and global crop size.
            local_crop_size: Local crop size.
            n_local_views: Local crops per frame.
            initial_crop_scale: Initial crop area range (None: whole frame).
            **kwargs: ``with_motion`` / ``with_dino``.
        """
        return cls(
            MidwayMotionTransform(crop_size=crop_size),
            MidwayDINOTransform(
                global_crop_size=crop_size,
                local_crop_size=local_crop_size,
                n_local_views=n_local_views,
                initial_crop_scale=initial_crop_scale,
            ),
            **kwargs,
        )

    def __call__(self, frame_t: Any, frame_tdt: Any) -> dict[str, list[torch.Tensor]]:
        """Returns the views dict of one pair (see the class docstring)."""
        img_t, img_u = check_pair(frame_t, frame_tdt)
        out: dict[str, list[torch.Tensor]] = {}
        if self.motion is not None:
            out["motion"] = self.motion(img_t, img_u)
        if self.dino is not None:
            views = self.dino(img_t, img_u)
            out["dino_global"], out["dino_local"] = views[:4], views[4:]
        return out
