"""Reading an export's header: its format, config and tensor shapes, checked before any tensor is read."""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.export_checks import check_export_config, check_tensor_shapes
from midway_plugin.models.key_report import MidwayExportError

EXPORT_FORMAT = "midway-plugin-export"
EXPORT_FORMAT_VERSION = "1"


def read_export_header(
    path: str | os.PathLike[str],
) -> tuple[MidwayConfig, dict[str, str], dict[str, tuple[int, ...]]]:
    """An export's config, metadata and tensor shapes, checked without reading any tensor.

    The metadata may only describe this package's architectures within bounds and the tensor shapes must match
    it (see :mod:`~midway_plugin.models.export_checks`).

    Raises:
        MidwayExportError: naming the file and the problem (missing, not an export, unsupported version, bad
            config, shapes that disagree with the config).
    """
    path = Path(path)
    if not path.is_file():
        raise MidwayExportError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise MidwayExportError(
            f"{path}: not a Midway export (not a readable safetensors file: {err}). "
            "Create one with `midway export CKPT OUT` or `midway import-official CKPT OUT`."
        ) from err
    if metadata.get("format") != EXPORT_FORMAT:
        raise MidwayExportError(
            f"{path}: not a Midway export (metadata format={metadata.get('format')!r}, expected {EXPORT_FORMAT!r}); "
            "a plain timm/DINO ViT must first be converted (`midway import-official`)."
        )
    if metadata.get("format_version") != EXPORT_FORMAT_VERSION:
        raise MidwayExportError(
            f"{path}: export format version {metadata.get('format_version')!r} is not supported "
            f"(this midway-plugin reads version {EXPORT_FORMAT_VERSION})"
        )
    try:
        config = MidwayConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, json.JSONDecodeError, TypeError, ValueError) as err:
        raise MidwayExportError(f"{path}: invalid 'config' metadata: {err}") from err
    # The metadata is data: only this package's architectures within bounds, shapes checked before loading.
    check_export_config(config, str(path))
    check_tensor_shapes(config, shapes, str(path))
    return config, metadata, shapes


def read_export_config(path: str | os.PathLike[str]) -> MidwayConfig:
    """The :class:`MidwayConfig` an export was written with (checked as :func:`read_export_header` does)."""
    return read_export_header(path)[0]


__all__ = ["EXPORT_FORMAT", "EXPORT_FORMAT_VERSION", "read_export_config", "read_export_header"]
