"""mmflow 1.0.0rc0's ``ColorJitter`` made to run on numpy >= 1.24.

Every upstream RAFT / GMA training pipeline uses ``dict(type='ColorJitter', hue=0.5 / 3.14, ...)``.
mmflow 1.0.0rc0 (the last release, and the only mmengine-based one) shifts the hue in
``mmflow/datasets/utils/image.py:adjust_hue`` with ``.astype(np.int)``; ``np.int`` was removed in
numpy 1.24, so every training sample raises ``AttributeError: module 'numpy' has no attribute
'int'``. Upstream fixed it (``np.int`` -> ``int``) in open-mmlab/mmflow#270 / #271 (January 2023)
on the ``master`` and ``dev-1.x`` branches, but no release since contains the fix.

:func:`register` re-registers a corrected ``ColorJitter`` under the same name in mmflow's
``TRANSFORMS`` registry, so upstream configs run unchanged once ``midway_plugin.mmflow`` is imported
(``custom_imports=dict(imports=['midway_plugin.mmflow'])``).
"""

from __future__ import annotations

from typing import Any

import mmcv
import numpy as np
from mmcv.image import adjust_brightness, adjust_color, adjust_contrast
from mmflow.datasets.transforms.transforms import ColorJitter as _UpstreamColorJitter
from mmflow.registry import TRANSFORMS


def adjust_hue(img: np.ndarray, hue_factor: float | None) -> np.ndarray:
    """Shifts the hue of a BGR uint8 image (mmflow's ``adjust_hue`` without ``np.int``).

    Args:
        img: BGR image, uint8.
        hue_factor: Shift of the H channel in [-0.5, 0.5] (fraction of a full turn); ``None``
            leaves the image unchanged.

    Returns:
        The hue-shifted image.

    Raises:
        ValueError: If ``hue_factor`` is outside [-0.5, 0.5].
    """
    if hue_factor is None:
        return img
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor must be in [-0.5, 0.5], got {hue_factor}")
    hsv = mmcv.bgr2hsv(img)
    # OpenCV stores 8-bit hue in [0, 180); compute in int64 so the shift cannot wrap the uint8.
    hsv[:, :, 0] = (hsv[:, :, 0].astype(np.int64) + int(hue_factor * 180.0) + 180) % 180
    bgr: np.ndarray = mmcv.hsv2bgr(hsv)
    return bgr


class ColorJitter(_UpstreamColorJitter):  # mmflow is untyped
    """mmflow's ``ColorJitter`` (same arguments and behaviour) using the corrected hue shift.

    See :class:`mmflow.datasets.transforms.ColorJitter` for the arguments.
    """

    def color_jitter(self, img: Any) -> Any:
        """Applies brightness, contrast, saturation and hue jitter in a random order.

        Args:
            img: One image or a list/tuple of images jittered with the same parameters.

        Returns:
            The jittered image, or the list of jittered images when more than one was given.
        """
        fn_idx, brightness, contrast, saturation, hue = self._get_param()
        imgs = list(img) if isinstance(img, (list, tuple)) else [img]
        for fn in fn_idx:
            if fn == 0 and brightness:
                imgs = [adjust_brightness(i, brightness) for i in imgs]
            elif fn == 1 and contrast:
                imgs = [adjust_contrast(i, contrast) for i in imgs]
            elif fn == 2 and saturation:
                imgs = [adjust_color(i, saturation) for i in imgs]
            elif fn == 3 and hue:
                imgs = [adjust_hue(i, hue) for i in imgs]
        return imgs[0] if len(imgs) == 1 else imgs  # as upstream, also for a 1-element list


def register() -> None:
    """Makes ``type='ColorJitter'`` in mmflow configs build :class:`ColorJitter` (idempotent)."""
    if TRANSFORMS.get("ColorJitter") is not ColorJitter:
        TRANSFORMS.register_module(name="ColorJitter", module=ColorJitter, force=True)


def is_registered() -> bool:
    """Whether mmflow's ``ColorJitter`` name resolves to the corrected transform."""
    return TRANSFORMS.get("ColorJitter") is ColorJitter
