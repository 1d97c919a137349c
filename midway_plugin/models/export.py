"""Tensors-only weight files written by ``midway export`` and read by every adapter.

A safetensors file: the encoder under timm's key names (so a plain timm ViT loads it after dropping the
``dynamics.`` keys), the dynamics networks under ``dynamics.<module path>``, and in its metadata
``format = "midway-plugin-export"``, ``format_version``, and ``config`` (JSON of :class:`MidwayConfig`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.export_checks import check_finite
from midway_plugin.models.export_header import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, read_export_header
from midway_plugin.models.key_report import MidwayExportError, key_report
from midway_plugin.models.midway import DYNAMICS_PREFIX, MidwayNetwork, export_part

#: The parts of an export, by the core's module names: the encoder (timm key names, no prefix) and the dynamics
#: networks (``dynamics.<part>.*``; see :meth:`MidwayNetwork.dynamics_modules`).
EXPORT_PARTS = ("encoder", "backward", "midway", "predictor")


def part_prefix(part: str) -> str:
    """Key prefix of an export part in the file (``""`` for the encoder, ``"dynamics.backward."``, ...)."""
    if part not in EXPORT_PARTS:
        raise ValueError(f"unknown export part {part!r}; expected one of {EXPORT_PARTS}")
    return "" if part == "encoder" else f"{DYNAMICS_PREFIX}{part}."


@dataclass
class MidwayExport:
    """A loaded export: its config, encoder tensors (timm names), dynamics tensors (``dynamics.*``), metadata.

    Attributes:
        skipped: keys of the file that were not read (outside the ``parts`` asked of :func:`load_export`).
    """

    config: MidwayConfig
    encoder_state: dict[str, torch.Tensor]
    dynamics_state: dict[str, torch.Tensor]
    metadata: dict[str, str]
    skipped: tuple[str, ...] = ()

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.encoder_state, **self.dynamics_state}

    def part(self, name: str) -> dict[str, torch.Tensor]:
        """One part's tensors under the module's own key names (prefix removed), e.g. ``part("backward")``
        for ``MidwayNetwork.backward.load_state_dict``; empty if the file has none."""
        prefix = part_prefix(name)
        return {
            k[len(prefix) :]: v for k, v in self.state_dict.items() if k.startswith(prefix) and export_part(k) == name
        }


def save_export(
    model: MidwayNetwork,
    path: str | os.PathLike[str],
    *,
    use_teacher: bool = True,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``model``'s weights and config as a Midway export (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(
        format=EXPORT_FORMAT,
        format_version=EXPORT_FORMAT_VERSION,
        config=json.dumps(model.cfg.to_dict()),
        weights="teacher" if use_teacher and model.has_teacher else "student",
    )
    state = {k: v.contiguous() for k, v in model.export_state_dict(use_teacher=use_teacher).items()}
    save_file(state, str(path), metadata=meta)
    return path


def load_export(path: str | os.PathLike[str], parts: Sequence[str] | None = None) -> MidwayExport:
    """Read an export; anything else raises :class:`MidwayExportError` naming the file and the problem.

    Args:
        path: the export file.
        parts: the parts to read (:data:`EXPORT_PARTS`, e.g. ``("encoder", "backward")``); None reads all.
            The keys of the other parts are listed in ``MidwayExport.skipped``; keys of no known part
            (``dynamics.<other>.*``) are always read, so that a loader refuses them by name.

    The header is checked first (:func:`read_export_header`), then every tensor read must be finite.
    """
    if parts is not None:
        for name in parts:
            part_prefix(name)  # validates the name
    config, metadata, shapes = read_export_header(path)
    wanted = [k for k in shapes if parts is None or export_part(k) in parts or export_part(k) not in EXPORT_PARTS]
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in wanted}
    except (SafetensorError, OSError, ValueError) as err:
        raise MidwayExportError(f"{path}: unreadable tensors: {err}") from err
    check_finite(state, str(path))
    encoder = {k: v for k, v in state.items() if not k.startswith(DYNAMICS_PREFIX)}
    dynamics = {k: v for k, v in state.items() if k.startswith(DYNAMICS_PREFIX)}
    skipped = tuple(sorted(set(shapes) - set(state)))
    return MidwayExport(config, encoder, dynamics, metadata, skipped)


def load_timm_vit(path: str | os.PathLike[str], **timm_kwargs: Any) -> torch.nn.Module:
    """A plain timm ``VisionTransformer`` with an export's encoder weights (``num_classes=0`` unless given)."""
    export = load_export(path, parts=("encoder",))
    cfg = export.config
    kwargs = dict(pretrained=False, num_classes=0, img_size=cfg.img_size, **cfg.encoder_kwargs)
    kwargs.update(timm_kwargs)
    vit = timm.create_model(cfg.encoder, **kwargs)
    own = {k: v for k, v in vit.state_dict().items() if not k.startswith("head")}  # a classifier head is new
    encoder = export.part("encoder")
    key_report(own, encoder, str(path), f"timm {cfg.encoder} encoder").raise_for(limit=10)
    vit.load_state_dict(encoder, strict=False)
    return vit
