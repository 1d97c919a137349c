"""Checkpoints of the official Midway implementation: their layout and a converter to this package's export.

A foreign file format, so it lives outside the core (:mod:`midway_plugin.models`), which it imports (torch only
otherwise). :mod:`~midway_plugin.official.layout` describes the released files; :mod:`~midway_plugin.official.convert`
turns them into an export (``midway import-official``) or into the full training state (``midway pretrain
--resume-official``).
"""

from midway_plugin.official.convert import (
    ConversionReport,
    OfficialCheckpointError,
    OfficialConversion,
    OfficialTrainingState,
    convert_official_checkpoint,
    convert_official_training_state,
    load_official_checkpoint,
)
from midway_plugin.official.layout import OfficialLayout, official_checkpoint_shapes

__all__ = [
    "ConversionReport",
    "OfficialCheckpointError",
    "OfficialConversion",
    "OfficialLayout",
    "OfficialTrainingState",
    "convert_official_checkpoint",
    "convert_official_training_state",
    "load_official_checkpoint",
    "official_checkpoint_shapes",
]
