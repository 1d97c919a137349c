"""Filling a `MidwayViT` backbone from a ``midway export`` file, and which file that is.

The core reads and checks the file (:func:`~midway_plugin.models.load_export`, asked only for the parts a
segmentation backbone holds) and compares keys (:class:`~midway_plugin.models.KeyReport`); this module adds what is
mmseg-specific: the ``export`` / deprecated ``pretrained`` / ``init_cfg`` arguments, the check that the file matches
the architecture that was built, and mmengine log lines.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from mmengine.logging import print_log
from torch import nn

from midway_plugin.models import (MidwayConfig, MidwayExport, MidwayExportError, key_report, load_export,
                                  part_prefix, resample_pos_embed)

#: MidwayConfig fields that change the shapes of the modules the backbone holds (encoder and backward layers).
ARCH_FIELDS = (
    "encoder",
    "encoder_kwargs",
    "feature_levels",
    "latent_dynamics",
    "backward_layers",
    "backward_heads",
    "multi_level",
)


def log(msg: str, level: int = logging.INFO) -> None:
    print_log(f"MidwayViT: {msg}", logger="current", level=level)


def resolve_weights(export: Optional[str], pretrained: Optional[str], init_cfg: Optional[Union[dict, list]]
                    ) -> Optional[str]:
    """Folds ``export``, the deprecated ``pretrained`` and ``init_cfg=dict(type='Pretrained', checkpoint=...)``
    into one path.

    ``pretrained`` (also what mmseg's ``EncoderDecoder(pretrained=...)`` passes down) overrides ``export``, so
    ``--cfg-options model.backbone.pretrained=PATH`` keeps working on configs that set ``export``.
    """
    if pretrained is not None:
        warnings.warn("MidwayViT: `pretrained` is deprecated; use `export` (the `midway export` file, the same "
                      "name as in the mmflow models)", DeprecationWarning, stacklevel=3)
        if export is not None and str(export) != str(pretrained):
            log(f"pretrained={pretrained!r} overrides export={export!r}")
        export = pretrained
    from_init_cfg = None
    if init_cfg is not None:
        cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
        for c in cfgs:
            if not isinstance(c, Mapping) or c.get("type") != "Pretrained" or "checkpoint" not in c:
                raise ValueError(
                    f"MidwayViT: init_cfg={init_cfg!r} is not supported; the only init_cfg accepted is "
                    "dict(type='Pretrained', checkpoint=<path of a `midway export` file>) (the encoder is "
                    "initialised by timm otherwise)"
                )
            if from_init_cfg is not None:
                raise ValueError(f"MidwayViT: init_cfg={init_cfg!r} names more than one checkpoint")
            from_init_cfg = c["checkpoint"]
    if export is not None and from_init_cfg is not None:
        name = "pretrained" if pretrained is not None else "export"
        raise ValueError(
            f"MidwayViT: both {name}={export!r} and init_cfg checkpoint={from_init_cfg!r} are set; give one of them"
        )
    weights = export if export is not None else from_init_cfg
    if weights is not None and not isinstance(weights, (str, Path)):
        raise ValueError(f"MidwayViT: export must be a file path, got {type(weights).__name__} {weights!r}")
    return None if weights is None else str(weights)


def arch_differences(a: MidwayConfig, b: MidwayConfig) -> dict[str, tuple[Any, Any]]:
    """Architecture fields on which two configs differ: name -> (a's value, b's value)."""
    da, db = a.to_dict(), b.to_dict()
    return {k: (da.get(k), db.get(k)) for k in ARCH_FIELDS if da.get(k) != db.get(k)}


def read_export(path: Union[str, Path], parts: Optional[tuple[str, ...]] = None) -> MidwayExport:
    """`load_export` with a message that says what the backbone expects."""
    try:
        return load_export(path, parts=parts)
    except MidwayExportError as err:
        raise MidwayExportError(
            f"MidwayViT cannot use {path} as pretrained weights: {err} (expected a safetensors file written "
            "by `midway export` or `midway import-official`)"
        ) from err


def load_backbone_weights(backbone: nn.Module, path: Union[str, Path]) -> None:
    """Loads encoder (and, for ``feature_source='backward'``, backward-layer) weights into a `MidwayViT`.

    Position embeddings are resampled to the backbone's grid. Missing keys, shape mismatches or an architecture
    that differs from the one built are errors; unexpected keys are logged by name; the dynamics weights a
    segmentation backbone does not use (midway path, forward predictors) are not read and logged as skipped.

    Raises:
        FileNotFoundError: the file does not exist.
        MidwayExportError: the file is not a Midway export, lacks weights the backbone needs, or was exported from
            a different architecture (the message names the file and the keys/fields).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MidwayViT: pretrained weights file {path} does not exist; write it with `midway export` (or set "
            "model.backbone.export to an existing export)"
        )
    with_backward = backbone.backward_blocks is not None
    export = read_export(path, parts=("encoder", "backward") if with_backward else ("encoder",))
    cfg = backbone.cfg
    diff = arch_differences(cfg, export.config)
    if diff:
        raise MidwayExportError(
            f"MidwayViT cannot load {path}: it was exported from a different architecture than the one built ("
            + ", ".join(f"{k}: built {a!r}, file {b!r}" for k, (a, b) in diff.items())
            + "); rebuild the model with the export present (its config then decides the architecture)"
        )

    vit = backbone.encoder.vit
    encoder_state = export.part("encoder")
    if "pos_embed" in encoder_state and encoder_state["pos_embed"].shape != vit.pos_embed.shape:
        old = tuple(encoder_state["pos_embed"].shape)
        old_grid = round((old[1] - 1) ** 0.5)
        encoder_state["pos_embed"] = resample_pos_embed(
            encoder_state["pos_embed"], new_grid=vit.patch_embed.grid_size, old_grid=(old_grid, old_grid),
            mode=cfg.pos_embed_interp,
        )
        log(f"resampled pos_embed of {path} from {old} to {tuple(vit.pos_embed.shape)} "
            f"(img_size {cfg.img_size}, {cfg.pos_embed_interp}'s interpolation)")
    _load_part(vit, encoder_state, path, "encoder", "encoder")

    if with_backward:
        backward_state = export.part("backward")
        if not backward_state:
            raise MidwayExportError(
                f"MidwayViT cannot load {path}: feature_source='backward' needs the backward-layer weights, and "
                "the file has none (exported without dynamics?); use feature_source='encoder' or an export of "
                "the full model"
            )
        _load_part(backbone.backward_blocks, backward_state, path, "backward", "backward layers")
    if export.skipped:
        log(f"{len(export.skipped)} dynamics tensors of {path} are not used by this backbone "
            f"(feature_source={backbone.feature_source!r}) and were skipped")
    log(f"loaded {path} ({export.metadata.get('weights', 'unknown')} weights, "
        f"feature_source={backbone.feature_source!r}, frozen={backbone.frozen})")


def _load_part(module: nn.Module, state: dict, path: Path, part: str, what: str) -> None:
    """Missing keys and shape mismatches raise; unexpected keys are logged and ignored."""
    own = module.state_dict()
    report = key_report(own, state, str(path), f"MidwayViT {what}", prefix=part_prefix(part))
    if report.missing or report.mismatched:
        raise MidwayExportError("MidwayViT: " + report.format(unexpected=False))
    if report.unexpected:
        log(f"{len(report.unexpected)} unexpected {what} keys in {path} were ignored: "
            + ", ".join(report.unexpected), logging.WARNING)
    module.load_state_dict({k: state[k] for k in own}, strict=True)
