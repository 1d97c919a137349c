"""Everything around the GPU decode path that runs without a GPU: the frame-exactness check against a sequential CPU
decode (with fake GPU decoders, one right and one a frame off), the scan refusing files it reads wrong, the
errors when torchcodec or CUDA is missing, and the config checks. The GPU itself: benchmarks/gpu.sh."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import midway_plugin.data.video.frame_decoding as frame_decoding
import midway_plugin.data.video.seek_check as seek_check
from midway_plugin.data.video import NoUsableVideoError, VideoPairDataset
from midway_plugin.data.video.gpu_decode import CUDAReader, GPUDecodeUnavailable
from midway_plugin.data.video.pyav_reader import PyAVReader
from midway_plugin.data.video.seek_check import check_gpu_frames
from midway_plugin.data.views import MidwayTransform
from midway_plugin.data.views.device_augment import PairGeometryTransform


class FakeGPUReader:
    """Stands in for torchcodec's decoder: frames as torch tensors, ``offset`` frames off (a wrong decoder)."""

    def __init__(self, path: Any, offset: int = 0, **kwargs: Any) -> None:
        self.inner = PyAVReader(path)
        self.offset = offset

    def __len__(self) -> int:
        return len(self.inner)

    def get_avg_fps(self) -> float:
        return self.inner.get_avg_fps()

    def get_batch(self, indices: Sequence[int]) -> torch.Tensor:
        shifted = [min(len(self) - 1, int(i) + self.offset) for i in indices]
        return torch.from_numpy(self.inner.get_batch(shifted))


@pytest.fixture()
def fake_gpu(monkeypatch):
    """``fake_gpu(offset)``: the "cuda" reader becomes a :class:`FakeGPUReader` everywhere the package opens it."""

    def install(offset: int) -> None:
        for module in (seek_check, frame_decoding):
            real = module.open_reader

            def opener(name: str, path: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
                return FakeGPUReader(path, offset) if name == "cuda" else _real(name, path, *args, **kwargs)

            monkeypatch.setattr(module, "open_reader", opener)

    return install


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, index_video) -> Path:
    root = tmp_path_factory.mktemp("gpu_fake")
    index_video(root / "closed", "h264_closed_gop", 90)
    index_video(root / "avi", "mpeg4_avi_bframes", 90)
    return root


def test_the_exactness_check_passes_a_right_decoder_and_catches_a_wrong_one(folder: Path, fake_gpu) -> None:
    fake_gpu(0)
    right = check_gpu_frames(folder / "avi.avi")
    assert right.exact and right.reader == "cuda" and right.max_difference < 1.0
    fake_gpu(1)
    wrong = check_gpu_frames(folder / "avi.avi")
    assert not wrong.exact and wrong.reader == "sequential"
    assert "cuda's random access returns wrong frames" in wrong.describe()


def test_the_scan_refuses_files_the_gpu_decoder_reads_wrong(folder: Path, fake_gpu) -> None:
    transform = PairGeometryTransform(MidwayTransform.small(initial_crop_scale=None))
    fake_gpu(1)
    with warnings.catch_warnings(), pytest.raises(NoUsableVideoError, match="wrong frames from the GPU decoder: 2"):
        warnings.simplefilter("ignore")
        VideoPairDataset(folder, transform=transform, delta_t=(15, 30), repeat=2, decoder="cuda")


def test_gpu_decoded_items_keep_tensor_frames_and_are_exact(folder: Path, fake_gpu, frame_number_of) -> None:
    fake_gpu(0)
    transform = PairGeometryTransform(MidwayTransform.small(initial_crop_scale=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = VideoPairDataset(
            folder, transform=transform, delta_t=(15, 30), repeat=3, decoder="cuda", sampling="window"
        )
    assert len(ds.videos) == 2
    for i in range(4):
        item = ds[i % 2]
        frames = item["views"]["frames"]
        assert frames.dtype == torch.uint8 and frames.shape[:2] == (3, 2)
        shown = [[frame_number_of(f.numpy()) for f in pair] for pair in frames]
        assert shown == item["frame_indices"].tolist()


@pytest.mark.skipif(
    importlib.util.find_spec("torchcodec") is not None and torch.cuda.is_available(),
    reason="a GPU with torchcodec is here: the real reader is exercised by benchmarks/gpu.sh",
)
def test_missing_torchcodec_or_gpu_is_a_clear_error(folder: Path) -> None:
    with pytest.raises(GPUDecodeUnavailable, match="decoder='cuda' needs"):
        CUDAReader(folder / "closed.mp4")


def test_gpu_decoding_needs_the_training_process(folder: Path, tmp_path: Path) -> None:
    from midway_plugin.lightly.pretrain_config import PretrainConfigError, load_config
    from midway_plugin.lightly.pretrain_plan import PretrainPlan

    demo = Path(__file__).resolve().parents[3] / "configs" / "pretrain" / "demo.yaml"
    config = load_config(demo, {"data.root": str(folder), "data.num_workers": 2, "data.decoder": "cuda"})

    with pytest.raises(PretrainConfigError, match="data.decoder: cuda .* data.num_workers: 0 \\(got 2\\)"):
        PretrainPlan.from_config(config)
    with pytest.raises(Exception, match="data.decoder"):
        load_config(demo, {"data.decoder": "nvdec"})
    with pytest.raises(Exception, match="data.sampling"):
        load_config(demo, {"data.sampling": "burst"})
