"""Small synthetic videos shared by the data tests (written once per session, a few hundred ms each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from midway_plugin.data.synthetic import generate_video, write_video


def make_video(path: Path, num_frames: int, size: tuple[int, int] = (32, 40), fps: float = 30.0, seed: int = 0) -> Path:
    """Writes a synthetic mp4 of ``num_frames`` frames to ``path`` and returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    video = generate_video(num_frames, size, num_objects=2, seed=seed, fps=fps)
    write_video(path, video.frames, fps)
    return path


@pytest.fixture(scope="session")
def write_mp4():
    """The :func:`make_video` helper (test modules cannot import conftest under --import-mode=importlib)."""
    return make_video


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two good 40-frame videos (one nested, .mp4 and .mkv) at 30 fps."""
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "a.mp4", 40, seed=1)
    make_video(root / "sub" / "deeper" / "b.mkv", 40, seed=2)
    return root


@pytest.fixture(scope="session")
def slow_fps_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 60-frame video at 10 fps (to tell seconds from frames)."""
    return make_video(tmp_path_factory.mktemp("fps10") / "ten.mp4", 60, fps=10.0, seed=3)
