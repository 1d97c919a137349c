"""Fixes that let the pinned OpenMMLab stack run on today's torch and numpy.

Nothing here is imported by the core (:mod:`midway_plugin.models`). The adapters activate it:
importing :mod:`midway_plugin.mmseg` calls :func:`enable_mmengine`; importing
:mod:`midway_plugin.mmflow` calls :func:`enable_mmengine` and :func:`enable_mmflow`. A config
therefore only needs ``custom_imports=dict(imports=['midway_plugin.mmflow'])`` (or ``.mmseg``).

- :mod:`.safe_checkpoint`: mmengine checkpoints load under torch >= 2.6 through an allow-list.
- :mod:`.mmflow_color_jitter`: mmflow 1.0.0rc0's ``ColorJitter`` runs on numpy >= 1.24.
"""

from __future__ import annotations


def enable_mmengine() -> None:
    """Routes mmengine's checkpoint loading through the allow-list loader (idempotent)."""
    from midway_plugin.compat import safe_checkpoint

    safe_checkpoint.install()


def enable_mmflow() -> None:
    """Registers the numpy-compatible ``ColorJitter`` in mmflow's registry (idempotent)."""
    from midway_plugin.compat import mmflow_color_jitter

    mmflow_color_jitter.register()
