"""At the start of ``midway pretrain`` on ``midway make-video`` output: how far content moves, in tokens.

When ``data.root`` is the ``videos`` (or ``videos_val``) folder of a make-video output, the ``dataset.json`` next to
it holds the |flow| percentiles of that split; with the run's motion crop, patch size and ``delta_t`` they give the
motion between the two crops of a pair in tokens (:mod:`midway_plugin.data.motion_tokens`), printed at the start,
with a :class:`~midway_plugin.data.motion_tokens.SubTokenMotionWarning` when most of it is below one token.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from midway_plugin.data.motion_tokens import format_token_stats, token_motion_stats, warn_if_sub_token
from midway_plugin.data.synthetic.index import INDEX_FILE, VIDEO_DIRS, SyntheticIndexError, frame_gap
from midway_plugin.data.video.frame_decoding import decode_size
from midway_plugin.data.video.pair_sampling import check_delta_t, gap_range
from midway_plugin.data.views.motion_transform import MidwayMotionTransform
from midway_plugin.lightly.pretrain_plan import PretrainPlan

REMEDY = (
    "generate faster motion (`midway make-video --object-speed / --camera-speed`), raise data.delta_t, or zoom "
    "in (a smaller data.motion.crop_scale, a smaller patch)"
)


def patch_size(model: Any) -> int:
    """The patch size of a :class:`~midway_plugin.models.MidwayConfig` (``encoder_kwargs`` or the timm name)."""
    size = (model.encoder_kwargs or {}).get("patch_size")
    if size is None:
        match = re.search(r"patch(\d+)", str(model.encoder))
        size = int(match.group(1)) if match else 16
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def generated_motion(plan: PretrainPlan, motion: MidwayMotionTransform | None) -> dict[str, Any] | None:
    """Token statistics of the pretraining pairs of ``plan`` (cropped by ``motion``) on make-video output, or None
    (other videos, an older folder without ``percentiles``, or no dynamics objective)."""
    root = plan.data_root
    if root is None or not root.is_dir():
        return None
    split = {folder: name for name, folder in VIDEO_DIRS.items()}.get(root.name)
    index_path = root.parent / INDEX_FILE
    if split is None or not index_path.is_file():
        return None
    data = plan.dataset_options
    try:
        index = json.loads(index_path.read_text())
        percentiles = index["flow_stats"][split]["percentiles"]
        gap = frame_gap(index)
        height, width = decode_size(int(index["height"]), int(index["width"]), data["decode_short_side"])
        num_frames, fps = int(index["num_frames"]), float(index["fps"])
    except (OSError, ValueError, KeyError, TypeError, SyntheticIndexError):
        return None
    if motion is None or not percentiles:
        return None
    lo, hi = gap_range(check_delta_t(data["delta_t"], data["delta_unit"]), data["delta_unit"], fps)
    hi = max(1, min(hi, num_frames - 1))  # pair_sampling clips the gap to the video
    stats = token_motion_stats(
        percentiles,
        (height, width),
        crop_scale=motion.crop_scale,
        input_size=motion.crop_size,
        patch_size=patch_size(plan.network),
        delta_t=(min(lo, hi), hi),
        frame_gap=gap,
    )
    return {"index": str(index_path), "split": split, **stats}


def report_generated_motion(plan: PretrainPlan, motion: MidwayMotionTransform | None) -> dict[str, Any] | None:
    """Prints :func:`generated_motion` (first process only) and warns when its median is below one token."""
    stats = generated_motion(plan, motion)
    if stats is None or os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return stats
    print(f"motion of the generated {stats['split']} videos ({stats['index']}): {format_token_stats(stats)}")
    warn_if_sub_token(stats, f"pretrain on {plan.data_root}", REMEDY)
    return stats
