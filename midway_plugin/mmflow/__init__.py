"""MMFlow 1.x adapter: ``custom_imports=dict(imports=['midway_plugin.mmflow'])``.

Importing it activates the compatibility layer (:mod:`midway_plugin.compat`) and registers the
plugin's mmflow modules.
"""

from midway_plugin.compat import enable_mmengine, enable_mmflow

enable_mmengine()
enable_mmflow()

from midway_plugin.mmflow.datasets import LoadFlowAnnotations, SintelSplit, TartanAir  # noqa: E402
from midway_plugin.mmflow.dpt_head import DPTHead  # noqa: E402
from midway_plugin.mmflow.laplacian_loss_bounded import LaplacianLossBounded  # noqa: E402
from midway_plugin.mmflow.midway_flow import MidwayFlow  # noqa: E402
from midway_plugin.mmflow.synthetic_dataset import MidwaySyntheticFlow  # noqa: E402
from midway_plugin.mmflow.vit_encoder import MidwayViTEncoder  # noqa: E402

__all__ = [
    "DPTHead",
    "LaplacianLossBounded",
    "LoadFlowAnnotations",
    "MidwayFlow",
    "MidwaySyntheticFlow",
    "MidwayViTEncoder",
    "SintelSplit",
    "TartanAir",
]
