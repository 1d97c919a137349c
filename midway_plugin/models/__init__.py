"""The framework-free Midway core (torch + timm only).

Reference:
    Hoang & Ren, "Midway Network: Learning Representations for Recognition and Motion from Latent Dynamics",
    ICLR 2026, arXiv 2510.05558.
"""
from midway_plugin.models.backward_layers import CrossBlock, top_down
from midway_plugin.models.config import PRESET_NAMES, MidwayConfig
from midway_plugin.models.encoder import MidwayEncoder
from midway_plugin.models.export import (
    MidwayExport,
    build_from_export,
    load_export,
    load_timm_vit,
    save_export,
)
from midway_plugin.models.forward_predictor import ForwardPredictor, GatedBlock
from midway_plugin.models.layers import GatingMlp, unfused_attention
from midway_plugin.models.loss import forward_prediction_loss
from midway_plugin.models.midway import (
    DYNAMICS_PREFIX,
    DynamicsOutput,
    MidwayExportError,
    MidwayNetwork,
    MidwayOutput,
)
from midway_plugin.models.midway_path import MidwayPath
from midway_plugin.models.pos_embed import resample_pos_embed

__all__ = [
    "DYNAMICS_PREFIX",
    "PRESET_NAMES",
    "CrossBlock",
    "DynamicsOutput",
    "ForwardPredictor",
    "GatedBlock",
    "GatingMlp",
    "MidwayConfig",
    "MidwayEncoder",
    "MidwayExport",
    "MidwayExportError",
    "MidwayNetwork",
    "MidwayOutput",
    "MidwayPath",
    "build_from_export",
    "forward_prediction_loss",
    "load_export",
    "load_timm_vit",
    "resample_pos_embed",
    "save_export",
    "top_down",
    "unfused_attention",
]
