"""Tiny models: every test here runs with one intra-op thread (the root conftest's ``one_torch_thread``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Applies ``one_torch_thread`` to every test of this folder."""
