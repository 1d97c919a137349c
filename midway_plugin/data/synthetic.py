"""Old import path of the synthetic-video names, kept for importers outside the data package until they move.

The names live in :mod:`~midway_plugin.data.synthetic_render` (the video), :mod:`~midway_plugin.data.flo_io`
(``.flo`` files), :mod:`~midway_plugin.data.video_encode` (mp4) and :mod:`~midway_plugin.data.synthetic_writer`
(the make-video folder); ``midway_plugin.data`` exports them all.
"""
from midway_plugin.data.flo_io import read_flo, write_flo  # noqa: F401
from midway_plugin.data.synthetic_render import CLASS_NAMES, PALETTE, SyntheticVideo, generate_video  # noqa: F401
from midway_plugin.data.synthetic_writer import write_synthetic_dataset  # noqa: F401
from midway_plugin.data.video_encode import check_decord_readable, write_video  # noqa: F401
