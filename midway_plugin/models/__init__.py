"""The framework-free Midway core (torch + timm only).

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026, arXiv 2510.05558.
"""

from midway_plugin.models.backward_layers import CrossBlock, top_down
from midway_plugin.models.build import BuiltNetwork, build_from_export, build_network, export_argument
from midway_plugin.models.config import PRESET_NAMES, MidwayConfig
from midway_plugin.models.encoder import MidwayEncoder
from midway_plugin.models.export import (
    EXPORT_PARTS,
    MidwayExport,
    load_export,
    load_timm_vit,
    part_prefix,
    save_export,
)
from midway_plugin.models.export_header import read_export_config
from midway_plugin.models.forward_predictor import ForwardPredictor, GatedBlock
from midway_plugin.models.frozen import FrozenParts
from midway_plugin.models.key_report import KeyReport, MidwayExportError, key_report
from midway_plugin.models.layers import GatingMlp, unfused_attention
from midway_plugin.models.levels import blocks_to_indices, indices_to_blocks, level_key
from midway_plugin.models.loss import forward_prediction_loss
from midway_plugin.models.midway import (
    DYNAMICS_PREFIX,
    DynamicsOutput,
    LoadResult,
    MidwayNetwork,
    MidwayOutput,
)
from midway_plugin.models.midway_path import MidwayPath
from midway_plugin.models.pos_embed import resample_pos_embed
from midway_plugin.models.resolve import resolve_config

__all__ = [
    "DYNAMICS_PREFIX",
    "EXPORT_PARTS",
    "PRESET_NAMES",
    "BuiltNetwork",
    "CrossBlock",
    "DynamicsOutput",
    "ForwardPredictor",
    "FrozenParts",
    "GatedBlock",
    "GatingMlp",
    "KeyReport",
    "LoadResult",
    "MidwayConfig",
    "MidwayEncoder",
    "MidwayExport",
    "MidwayExportError",
    "MidwayNetwork",
    "MidwayOutput",
    "MidwayPath",
    "blocks_to_indices",
    "build_from_export",
    "build_network",
    "export_argument",
    "forward_prediction_loss",
    "indices_to_blocks",
    "key_report",
    "level_key",
    "load_export",
    "load_timm_vit",
    "part_prefix",
    "read_export_config",
    "resample_pos_embed",
    "resolve_config",
    "save_export",
    "top_down",
    "unfused_attention",
]
