"""GPU video decoding (``data.decoder: cuda``): torchcodec's CUDA decoder (NVDEC) behind the dataset's reader API.

For nodes with few CPU cores per GPU: the GPU's hardware decoder produces the frames, already on the device, so
the loader's CPU work is only the sampling and the crop boxes. Used only when asked (``decoder="cuda"``).

Why torchcodec rather than NVIDIA DALI's video reader: the dataset draws its pairs per item from torch's seeded
generator (reproducible per step, resumable) and reads them by frame index through one ``get_batch`` call;
torchcodec's ``VideoDecoder`` is exactly that (``get_frames_at(indices)``, uint8 tensors on the device), and its
``seek_mode="exact"`` builds its own frame table from a scan of the file instead of trusting the container's
timing, like :mod:`~midway_plugin.data.video.pyav_reader`. DALI's reader is a pipeline operator that owns the file list,
the sequence sampling and the batching, so it would replace the sampler, the per-step seeding and the
seek-check fallbacks rather than plug into them. torchcodec is a pip wheel matched to the installed torch.

torchcodec is not a dependency of this package: install the wheel matching your torch (``pip install torchcodec``,
see its compatibility table) on the GPU machine. Frame exactness is checked per file at the scan against a
sequential CPU decode (:func:`~midway_plugin.data.video.seek_check.check_gpu_frames`, the seek check's own comparison),
so a file the GPU decoder reads wrong is refused before training, never trained on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


class GPUDecodeUnavailable(RuntimeError):
    """``decoder="cuda"`` was asked for where it cannot run (no torchcodec, or no CUDA GPU); the message says which."""


def _require_torchcodec() -> Any:
    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError as err:
        raise GPUDecodeUnavailable(
            f"decoder='cuda' needs torchcodec with CUDA support ({err}); install the torchcodec wheel matching "
            "your torch on the GPU machine, or use decoder='auto' / 'pyav' (CPU)"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise GPUDecodeUnavailable("decoder='cuda' needs a CUDA GPU visible to torch; none is")
    return VideoDecoder


class CUDAReader:
    """Frames of one video decoded on the GPU by torchcodec, in the readers' API (:mod:`.readers`).

    Args:
        path: The video file.
        width: Output width in pixels (-1: native); resized on the GPU with area interpolation.
        height: Output height in pixels (-1: native).
        num_threads: Unused (the GPU decodes); kept for the readers' common signature.
        device: The CUDA device (default: the current one).

    Raises:
        GPUDecodeUnavailable: torchcodec or a CUDA GPU is missing.
        ValueError: torchcodec cannot open the file (the message names it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int = -1,
        height: int = -1,
        num_threads: int = 1,
        device: str = "cuda",
    ) -> None:
        decoder_class = _require_torchcodec()
        self.path = str(path)
        self._size = (height, width) if width > 0 and height > 0 else None
        try:
            self._decoder = decoder_class(self.path, device=device, seek_mode="exact", dimension_order="NCHW")
        except Exception as err:  # torchcodec raises RuntimeError / ValueError from its C++ core
            raise ValueError(f"torchcodec cannot open video {self.path!r} on {device}: {str(err)[:200]}") from None
        fps = self._decoder.metadata.average_fps
        self._fps = float(fps) if fps else 0.0

    def __len__(self) -> int:
        return len(self._decoder)

    def get_avg_fps(self) -> float:
        """The stream's average frame rate (0.0 when unknown)."""
        return self._fps

    def get_batch(self, indices: Sequence[int]) -> Any:
        """Frames ``indices`` as a uint8 ``(N, H, W, 3)`` tensor on the GPU (RGB).

        Raises:
            IndexError: An index is out of range (the message names the file).
        """
        import torch

        wanted = [int(i) for i in indices]
        if any(not 0 <= i < len(self) for i in wanted):
            raise IndexError(f"frame indices {wanted} out of range for video {self.path!r} of {len(self)} frames")
        frames = self._decoder.get_frames_at(indices=wanted).data  # (N, 3, H, W) uint8
        if self._size is not None and tuple(frames.shape[-2:]) != self._size:
            frames = torch.nn.functional.interpolate(frames.float(), size=self._size, mode="area")
            frames = frames.round().clamp(0, 255).to(torch.uint8)
        return frames.permute(0, 2, 3, 1).contiguous()
