"""The package as its users get it: a wheel built from this tree, installed into a fresh virtual environment that
does not see the source checkout, then used from another directory: ``midway configs``, ``mim search``, a tiny
``mim train mmseg`` and ``mim train mmflow`` on packaged configs, and the plain PyTorch example.

The fresh environment reuses the third-party packages of the running one (torch, mmcv, ... are not reinstalled):
a ``.pth`` file lists its site-packages as a plain path, which Python appends to ``sys.path`` without running
the ``.pth`` files there, so the editable install's import hook never loads and ``midway_plugin`` is the wheel's.

Building and installing the wheel, ``midway configs`` and ``mim search`` take ~20 s and run in ``make test``; the two
trainings and the example take ~90 s on 2 CPU cores and are marked slow (``make test-slow``).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lightly.test_lightly_examples import run_example

REPO = Path(__file__).resolve().parents[2]
#: Not part of a source tree: environments, build outputs, run outputs.
_NOT_SOURCE = (
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "work_dirs",
    "demo_output",
    "lightning_logs",
    ".pytest_cache",
)
TINY_TRAIN = [
    "train_cfg.max_iters=2",
    "param_scheduler.1.end=2",
    "train_cfg.val_interval=2",
    "default_hooks.checkpoint.interval=2",
    "default_hooks.logger.interval=1",
    "train_dataloader.batch_size=2",
]


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    return dict(
        env,
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-5000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(venv, env): the wheel of this tree installed into a fresh venv; env runs its ``python``, ``midway``."""
    pytest.importorskip("mim")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(source),
            "-w",
            str(tmp / "dist"),
        ],
        cwd=tmp,
        env=dict(os.environ),
    )
    (wheel,) = (tmp / "dist").glob("midway_plugin-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = (venv / "lib").glob("python*/site-packages")
    (purelib / "_midway_test_stack.pth").write_text(
        "\n".join(str(Path(p).resolve()) for p in site.getsitepackages()) + "\n"
    )
    env = _env(venv)
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            str(wheel),
        ],
        cwd=tmp,
        env=env,
    )
    return venv, env


def test_the_wheel_resolves_outside_the_checkout(installed, tmp_path: Path) -> None:
    venv, env = installed
    where = _run(["python", "-c", "import midway_plugin, mmseg; print(midway_plugin.__file__)"], tmp_path, env)
    module = Path(where.strip().splitlines()[-1]).resolve()
    assert module.is_relative_to(venv.resolve()) and not module.is_relative_to(REPO)
    listing = _run(["midway", "configs"], tmp_path, env)
    packaged = module.parent / ".mim" / "configs"
    assert "mmseg/linear_midway-tiny_1xb16-2k_synthetic-64x64  " in listing and str(packaged) in listing
    assert str(REPO) not in listing
    assert (module.parent / ".mim" / "model-index.yml").is_file()
    search = _run(["python", "-m", "mim", "search", "midway-plugin", "--valid-config"], tmp_path, env)
    for model in ("linear_midway-tiny_1xb16-2k_synthetic-64x64", "midwayflow_tiny_1xb8-2k_synthetic-64x64"):
        assert model in search, search[-3000:]


@pytest.mark.slow
def test_mim_trains_packaged_configs_and_the_example_runs(installed, tmp_path: Path) -> None:
    venv, env = installed
    _run(
        [
            "midway",
            "make-video",
            "--out",
            "data",
            "--num-videos",
            "3",
            "--val-videos",
            "1",
            "--frames",
            "5",
            "--size",
            "64x64",
        ],
        tmp_path,
        env,
    )
    _run(
        [
            "python",
            "-c",
            "import torch; from midway_plugin.models import MidwayConfig, MidwayNetwork, save_export; "
            "torch.manual_seed(0); save_export(MidwayNetwork(MidwayConfig.tiny()), 'tiny.safetensors')",
        ],
        tmp_path,
        env,
    )
    data = [
        f"{loader}.dataset.data_root={tmp_path / 'data'}"
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
    ]
    export = tmp_path / "tiny.safetensors"
    for toolbox, name, weights, metric in (
        ("mmseg", "linear_midway-tiny_1xb16-2k_synthetic-64x64", "model.backbone.export", "mIoU: "),
        ("mmflow", "midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64", "model.export", "EPE: "),
    ):
        config = _run(["midway", "configs", "path", name], tmp_path, env).strip()
        assert config.startswith(str(venv)) and "/.mim/configs/" in config
        out = _run(
            [
                "python",
                "-m",
                "mim",
                "train",
                toolbox,
                config,
                "--work-dir",
                toolbox,
                "--cfg-options",
                f"{weights}={export}",
                *data,
                *TINY_TRAIN,
            ],
            tmp_path,
            env,
        )
        assert metric in out and (tmp_path / toolbox / "iter_2.pth").is_file(), out[-3000:]
    example = tmp_path / "midway.py"
    shutil.copy(REPO / "examples" / "pytorch" / "midway.py", example)  # examples are not in the wheel (as Lightly's)
    out = run_example(example, tmp_path / "data" / "videos", tmp_path, python="python", env=env)
    assert "step 0: loss" in out
