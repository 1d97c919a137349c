"""Small building blocks of the dynamics networks."""

from midway_plugin.models.layers.cross_attention import CrossAttention, unfused_attention
from midway_plugin.models.layers.gating import GatingMlp

__all__ = ["CrossAttention", "GatingMlp", "unfused_attention"]
