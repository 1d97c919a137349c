"""Frame helpers of the analysis: sizes, points, image/video reading errors, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from midway_plugin.analysis import AnalysisError
from midway_plugin.analysis.frames import (
    frame_indices,
    normalize_frames,
    parse_point,
    parse_size,
    read_images,
    read_video,
    resize_frames,
)


def test_parse_size_and_point():
    assert parse_size("224") == (224, 224) and parse_size("32x48", 8) == (32, 48) and parse_size(64, 16) == (64, 64)
    for bad in ("0", "ax3", "1x2x3", "-8"):
        with pytest.raises(AnalysisError, match=repr(bad).replace("'", ".")):
            parse_size(bad)
    with pytest.raises(AnalysisError, match="36x36 .* patch size 8"):
        parse_size("36", 8)
    assert parse_point("3.5,7") == (3.5, 7.0)
    for bad in ("3", "3,4,5", "x,1", "nan,1"):
        with pytest.raises(AnalysisError, match=bad.replace(",", ".")):
            parse_point(bad)


def test_read_images_and_errors(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(a)
    Image.fromarray(np.full((8, 16), 255, np.uint8)).save(b)  # grayscale → RGB
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(c)
    frames = read_images([a, b])
    assert frames.shape == (2, 8, 16, 3) and frames[1].min() == 255
    with pytest.raises(AnalysisError, match="c.png' is 16x16 but .*a.png' is 16x8"):
        read_images([a, c])
    with pytest.raises(AnalysisError, match="missing.png' does not exist"):
        read_images([a, tmp_path / "missing.png"])
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(AnalysisError, match="cannot read image .*text.png"):
        read_images([tmp_path / "text.png"])


def test_frame_indices_and_video_errors(tmp_path):
    assert frame_indices("v.mp4", 40, 3, 15, 2) == [3, 18]
    with pytest.raises(AnalysisError, match=r"'v.mp4' has 40 frames \(0..39\); frame index 30 with gap 15"):
        frame_indices("v.mp4", 40, 30, 15, 2)
    with pytest.raises(AnalysisError, match="'v.mp4' has 1 frame"):
        frame_indices("v.mp4", 1, 0, 1, 2)
    with pytest.raises(AnalysisError, match="gap must be >= 1, got 0"):
        frame_indices("v.mp4", 40, 0, 0, 2)
    with pytest.raises(AnalysisError, match="nothere.mp4' does not exist"):
        read_video(tmp_path / "nothere.mp4", 0, 1, 2)


def test_resize_and_normalize():
    frames = np.random.default_rng(0).integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
    small = resize_frames(frames, (16, 24))
    assert small.shape == (2, 16, 24, 3) and small.dtype == np.uint8
    np.testing.assert_array_equal(resize_frames(small, (16, 24)), small)  # already that size: untouched
    x = normalize_frames(np.full((1, 4, 4, 3), 255, np.uint8))
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(x[0, :, 0, 0], expected)
