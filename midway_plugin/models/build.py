"""The one way from an export (or a preset, dict or config) to a network: the core entry of every adapter.

:func:`build_network` resolves the architecture (the export's config decides it; ``arch`` only when there is no
export), builds the student network with the parts asked for, loads the export's tensors of those parts
(position embeddings resampled once, by :meth:`MidwayNetwork.load_export_state_dict`), compares every key once
(:class:`~midway_plugin.models.KeyReport`) and freezes the network when asked. mmseg's ``MidwayViT``, mmflow's
``MidwayFlow`` / ``MidwayViTEncoder`` and ``midway analyze`` call it.

Key policy, the same everywhere: a key the network needs and the file lacks, a key of the loaded parts the network
does not have (an *unexpected* key) and a shape that differs (other than a resampled position embedding) are
refused, every key named. Parts not asked for are not read (listed in :attr:`BuiltNetwork.skipped`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from midway_plugin.models.config import MidwayConfig
from midway_plugin.models.export import EXPORT_PARTS, MidwayExport, load_export
from midway_plugin.models.key_report import MidwayExportError
from midway_plugin.models.midway import MidwayNetwork, export_part
from midway_plugin.models.resolve import ConfigSpec, resolve_config


@dataclass(frozen=True)
class BuiltNetwork:
    """What :func:`build_network` built and loaded, for the adapters' log lines.

    Attributes:
        network: the network (an EMA teacher only with ``with_teacher``).
        export: the file the weights came from; None when none was loaded.
        missing_export: the export path that did not exist (``missing_ok``: built from ``arch`` without weights).
        loaded: the export parts whose tensors were loaded (:data:`EXPORT_PARTS` names).
        skipped: keys of the file that were not read (parts the network does not load).
        resampled: ``(key, file shape, network shape)`` of the position embeddings resampled to the network's grid.
        metadata: the export's metadata (empty without an export).
    """

    network: MidwayNetwork
    export: str | None = None
    missing_export: str | None = None
    loaded: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    resampled: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


def _config_parts(cfg: MidwayConfig) -> tuple[str, ...]:
    """The export parts a network of ``cfg`` has."""
    if not cfg.latent_dynamics:
        return ("encoder",)
    return ("encoder", "backward", "midway", "predictor") if cfg.backward_layers else ("encoder", "midway", "predictor")


def build_network(
    export: str | os.PathLike[str] | None = None,
    *,
    arch: ConfigSpec = None,
    overrides: Mapping[str, Any] | None = None,
    parts: Collection[str] = EXPORT_PARTS,
    dynamics: bool | None = None,
    frozen: bool = False,
    missing_ok: bool = False,
    with_teacher: bool = False,
    where: str = "",
) -> BuiltNetwork:
    """A :class:`MidwayNetwork` from an export (or ``arch``), with ``parts`` loaded from the file.

    Args:
        export: a ``midway export`` / ``midway import-official`` file; its config decides the architecture.
        arch: the architecture when there is no export: a preset name, a dict of ``MidwayConfig`` fields or a
            ``MidwayConfig`` (ignored when the export is read).
        overrides: ``MidwayConfig`` fields changed on the resolved config (e.g. ``img_size``, ``drop_path_rate``).
        parts: the export parts to load (:data:`EXPORT_PARTS`); a part the file or the network lacks stays as
            built (random), e.g. the dynamics of a DINO-only export.
        dynamics: build the dynamics networks: None as the config says, True always (random where the export has
            none, paper §3.2), False never (the encoder alone).
        frozen: no parameter gets gradients and the network is put in eval mode (adapters keep it there with
            :class:`~midway_plugin.models.FrozenParts`).
        missing_ok: an export path that does not exist builds ``arch`` without weights (``mim test`` builds the
            model before loading its own checkpoint); the path is kept in ``missing_export``.
        with_teacher: also build an EMA teacher, initialised from the loaded weights.
        where: prefix of messages naming the caller (e.g. ``"MidwayViT: "``).

    Raises:
        FileNotFoundError: the export does not exist (and ``missing_ok`` with ``arch`` does not apply).
        MidwayExportError: not an export, or its keys do not fit the network (every key named).
        ValueError: neither ``export`` nor ``arch``, an unknown part, or bad config values (named).
    """
    unknown = sorted(set(parts) - set(EXPORT_PARTS))
    if unknown:
        raise ValueError(f"{where}unknown export part(s) {unknown}; expected some of {EXPORT_PARTS}")
    if export is None and arch is None:
        raise ValueError(
            f"{where}set `export` (a `midway export` file) or `arch` (a preset name or a dict of "
            "MidwayConfig fields, for a randomly initialised model)"
        )
    missing = None
    if export is not None and not os.path.isfile(export):
        if not (missing_ok and arch is not None):
            raise FileNotFoundError(
                f"{where}export file {export} does not exist; write it with `midway export` or `midway import-official`"
            )
        missing, export = str(export), None
    file = None if export is None else _read(export, parts, where)
    if file is None:
        cfg = resolve_config(arch, overrides=overrides, where=where, name="arch")
    else:
        cfg = resolve_config(file.config, overrides=overrides, where=where, name="overrides")
    if dynamics is not None and dynamics != cfg.latent_dynamics:
        cfg = cfg.replace(latent_dynamics=dynamics)
    network = MidwayNetwork(cfg, with_teacher=with_teacher)
    loaded: tuple[str, ...] = ()
    resampled: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    if file is not None:
        in_file = _config_parts(file.config)
        loaded = tuple(p for p in _config_parts(cfg) if p in parts and p in in_file)
        # Tensors of parts not loaded are not compared; keys of a part the file's config does not have (or of no
        # known part) are, and are refused.
        state = {k: v for k, v in file.state_dict.items() if export_part(k) in loaded or export_part(k) not in in_file}
        resampled = network.load_export_state_dict(state, parts=loaded, source=str(export)).resampled
    if frozen:
        network.requires_grad_(False)
        network.eval()
    return BuiltNetwork(
        network=network,
        export=None if export is None else str(export),
        missing_export=missing,
        loaded=loaded,
        skipped=() if file is None else file.skipped,
        resampled=resampled,
        metadata={} if file is None else dict(file.metadata),
    )


def export_argument(
    export: str | os.PathLike[str] | None, init_cfg: Mapping[str, Any] | Sequence[Any] | None, where: str
) -> str | None:
    """The export path of an adapter given as ``export`` or as ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

    Every other ``init_cfg`` (another type, or ``Pretrained`` with more keys such as ``prefix``) is refused by
    name: the adapters initialise their pretrained parts from the export only, so an init option they would
    silently skip must not be accepted.

    Raises:
        ValueError: an unsupported ``init_cfg``, more than one checkpoint, or ``export`` beside it (named).
    """
    from_init_cfg = None
    if init_cfg is not None:
        cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
        for c in cfgs:
            if not isinstance(c, Mapping) or c.get("type") != "Pretrained" or set(c) != {"type", "checkpoint"}:
                raise ValueError(
                    f"{where}init_cfg={init_cfg!r} is not supported; the only init_cfg accepted is "
                    "dict(type='Pretrained', checkpoint=<path of a `midway export` file>) (the same as `export`)"
                )
            if from_init_cfg is not None:
                raise ValueError(f"{where}init_cfg={init_cfg!r} names more than one checkpoint")
            from_init_cfg = c["checkpoint"]
    if export is not None and from_init_cfg is not None:
        raise ValueError(f"{where}both export={export!r} and init_cfg checkpoint={from_init_cfg!r} are set; give one")
    path = export if export is not None else from_init_cfg
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{where}export must be a file path, got {type(path).__name__} {path!r}")
    return None if path is None else str(path)


def _read(path: str | os.PathLike[str], parts: Collection[str], where: str) -> MidwayExport:
    try:
        return load_export(path, parts=tuple(parts))
    except MidwayExportError as err:
        raise MidwayExportError(
            f"{where}{err} (expected a safetensors file written by `midway export` or `midway import-official`)"
        ) from err


def build_from_export(
    path: str | os.PathLike[str],
    *,
    with_teacher: bool = False,
    config_overrides: Mapping[str, Any] | None = None,
) -> MidwayNetwork:
    """Rebuild the network an export was written from and load all its weights (:func:`build_network`).

    Args:
        path: the export file.
        with_teacher: also build (and initialise from the loaded weights) an EMA teacher.
        config_overrides: fields to change, e.g. ``{"img_size": 512}`` (position embeddings are resampled).

    Raises:
        MidwayExportError: not an export, or missing, unexpected or mis-shaped keys (named).
    """
    return build_network(path, overrides=config_overrides, with_teacher=with_teacher, where=f"{path}: ").network


__all__ = ["BuiltNetwork", "build_from_export", "build_network", "export_argument"]
