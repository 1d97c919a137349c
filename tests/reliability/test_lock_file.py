"""requirements.lock pins every package (transitive ones too), agrees with the pins of the install script, and
holds no machine-local paths, so `make install` on a fresh clone gets exactly the tested versions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version and " " not in line, f"requirements.lock: not an exact pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_lock_pins_the_transitive_stack_exactly():
    pins = lock()
    for package in ("numpy", "pytorch-lightning", "opencv-python", "torch", "timm", "mmcv", "mmengine", "safetensors"):
        assert package in pins, package


def test_the_install_script_uses_the_lock_and_agrees_with_it():
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert "-c requirements.lock" in script and "requirements.lock" in script.split("WANT=")[1].splitlines()[0]
    pins = lock()
    for name, version in re.findall(r"\b([A-Za-z][\w.-]*)==([\w.]+)", script):
        assert pins.get(name.lower().replace("_", "-")) == version, (name, version, pins.get(name.lower()))


def test_make_lock_refreshes_it():
    assert "lock:" in (ROOT / "Makefile").read_text()
    assert "pip freeze" in (ROOT / "scripts" / "lock.sh").read_text()
