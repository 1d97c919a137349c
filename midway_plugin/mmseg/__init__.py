"""MMSegmentation 1.x adapter: ``custom_imports=dict(imports=['midway_plugin.mmseg'])``.

Importing it activates the compatibility layer (:mod:`midway_plugin.compat`) and registers the
plugin's mmseg modules.
"""

from midway_plugin.compat import enable_mmengine

enable_mmengine()

from midway_plugin.mmseg.linear_head import BNLinearHead  # noqa: E402  (registers MODELS 'BNLinearHead')
from midway_plugin.mmseg.midway_vit import MidwayViT  # noqa: E402  (registers MODELS 'MidwayViT')
from midway_plugin.mmseg.synthetic_dataset import MidwaySyntheticDataset  # noqa: E402  (registers DATASETS)

__all__ = ["BNLinearHead", "MidwaySyntheticDataset", "MidwayViT"]
