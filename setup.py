"""Build hook: ship ``configs/`` and ``model-index.yml`` inside the wheel, as OpenMMLab packages do.

``configs/`` at the repository root stays the source. At build time they are copied to
``midway_plugin/.mim/`` in the wheel (the layout ``mim search`` reads and ``midway configs`` finds); an editable
install copies nothing, and ``midway configs`` reads the checkout's ``configs/`` instead. Everything else is in
setup.cfg.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: What goes into ``midway_plugin/.mim/``: the config tree and the mim model index that points into it.
MIM_FILES = ("configs", "model-index.yml")


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into the built package's ``.mim/`` folder."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "midway_plugin" / ".mim"
        for name in MIM_FILES:
            source = ROOT / name
            if not source.exists():
                raise FileNotFoundError(f"setup.py: {source} is missing; the wheel must ship it in .mim/")
            if source.is_dir():
                shutil.copytree(
                    source, target / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildPyWithMim})
