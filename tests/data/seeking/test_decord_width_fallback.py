"""decord 0.6.0 decodes some frame widths (48 px here) into 4-channel garbage: such a valid video is read with PyAV,
never dropped: `make-video --size 48x48` writes it, the dataset reads it exactly, and pretraining trains on it."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from midway_plugin.cli import main as cli_main
from midway_plugin.data.video import NoUsableVideoError, VideoPairDataset
from midway_plugin.data.video.seek_check import InexactSeekWarning

DEMO = Path(__file__).resolve().parents[3] / "configs" / "pretrain" / "demo.yaml"


@pytest.fixture(scope="module")
def videos_48(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("width48")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sub-token motion at this size
        assert (
            cli_main(
                [
                    "make-video",
                    "--out",
                    str(out),
                    "--size",
                    "48x48",
                    "--frames",
                    "12",
                    "--num-videos",
                    "2",
                    "--val-videos",
                    "0",
                ]
            )
            == 0
        )
    return out / "videos"


def test_decord_garbles_the_width_and_the_dataset_reads_it_with_pyav(videos_48: Path) -> None:
    import decord

    path = sorted(videos_48.glob("*.mp4"))[0]
    assert decord.VideoReader(str(path))[0].shape != (48, 48, 3)  # the decord quirk this is about
    with pytest.warns(InexactSeekWarning, match=r"decodes its frames with shape .* reading it with the 'pyav'"):
        ds = VideoPairDataset(videos_48, delta_t=(2, 4), repeat=2)
    assert [v.reader for v in ds.videos] == ["pyav", "pyav"]
    assert all(v.decord_problem and "shape" in v.decord_problem for v in ds.videos)
    assert ds[0]["views"][0].shape == (2, 3, 48, 48)


def test_a_skipped_file_is_summarised_by_its_reason(videos_48: Path) -> None:
    with warnings.catch_warnings(), pytest.raises(NoUsableVideoError) as info:
        warnings.simplefilter("ignore")
        VideoPairDataset(videos_48, delta_t=(15, 30), repeat=1)
    message = str(info.value)
    assert "all 2 video files were skipped (too short: 2); delta_t=(15, 30) frames" in message, message


@pytest.mark.parametrize(
    "sampling", [{}, {"data.sampling": "window", "data.decoder": "pyav"}], ids=["defaults", "window+pyav"]
)
def test_a_48_px_video_trains(videos_48: Path, tmp_path: Path, sampling: dict) -> None:
    from midway_plugin.lightly.pretrain import run_pretraining
    from midway_plugin.lightly.pretrain_config import load_config

    config = load_config(DEMO, {
        "data.root": str(videos_48), "output_dir": str(tmp_path), "data.batch_size_per_device": 2,
        "data.repeat": 1, "data.num_workers": 0, "data.delta_t": [2, 4], "trainer.max_steps": 2,
        "trainer.checkpoint_every_n_steps": 2, "trainer.log_every_n_steps": 1, "trainer.progress_bar": False,
        "method.head_output_dim": 64, "method.head_hidden_dim": 32, "method.head_bottleneck_dim": 16, **sampling,
    })  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_pretraining(config)
    assert result["global_step"] == 2
    assert config["data"]["sampling"] == sampling.get("data.sampling", "independent")


def test_check_videos_names_the_decord_problem(videos_48: Path, capsys) -> None:
    assert cli_main(["check-videos", str(videos_48)]) == 0
    out = capsys.readouterr().out
    assert "WRONG (shape)" in out and "pyav" in out
    assert "0 with exact random access (decord), 2 read with an exact reader (pyav: 2)" in out
    assert "decodes its frames with shape" in out
