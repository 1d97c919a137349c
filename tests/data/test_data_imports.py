"""``midway_plugin.data`` uses Lightly's transforms library but never a training framework (Lightly's or Lightning's)
nor the package's adapters: checked on the modules actually loaded, and on the import statements."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import midway_plugin.data

DATA_DIR = Path(midway_plugin.data.__file__).parent
MODULES = sorted(f"midway_plugin.data.{m.name}" for m in pkgutil.iter_modules([str(DATA_DIR)]))
# Lightly's transforms are plain torchvision transforms; everything else of Lightly is its training framework.
ALLOWED_LIGHTLY = ("lightly.transforms",)
FORBIDDEN = (
    "pytorch_lightning",
    "lightning",
    "midway_plugin.lightly",
    "midway_plugin.mmseg",
    "midway_plugin.mmflow",
    "midway_plugin.analysis",
    "midway_plugin.commands",
    "midway_plugin.cli",
    "mmengine",
    "mmcv",
)


def _forbidden(name: str) -> bool:
    if name == "lightly" or name.startswith("lightly."):
        plumbing = ("lightly", "lightly.utils", "lightly.utils.dependency")  # what lightly.transforms needs
        return not name.startswith(ALLOWED_LIGHTLY) and name not in plumbing
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_importing_every_data_module_loads_no_framework() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert (
        "midway_plugin.data.views.midway_transform" in loaded and "lightly.transforms" in loaded
    )  # the check saw them
    assert [name for name in loaded if _forbidden(name)] == []


def test_no_data_module_imports_a_framework() -> None:
    found = []
    for path in sorted(DATA_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            )
            found += [f"{path.name}: {name}" for name in names if _forbidden(name)]
    assert found == []
    assert _forbidden("lightly.models.modules") and _forbidden("pytorch_lightning")  # the rule can fail
    assert not _forbidden("lightly.transforms.dino_transform")


def test_make_video_modules_need_no_torch() -> None:
    """``midway make-video`` and the benchmark readers run on numpy (and PIL, imageio, decord) alone."""
    code = (
        "import sys\n"
        "import midway_plugin.data.synthetic.writer, midway_plugin.data.synthetic.index\n"
        "import midway_plugin.data.synthetic.flo_io\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'lightly')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
