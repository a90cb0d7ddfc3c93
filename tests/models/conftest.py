"""Tiny random models of every supported architecture, built once under the test model cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from skills.models import _atomic_build
from skills.tiny_models import ARCHS, build_tiny_arch
from tests.conftest import MODEL_CACHE


def tiny_arch(arch: str) -> Path:
    """config -> random weights -> folder (cached across runs)."""
    return _atomic_build(MODEL_CACHE / f"tiny-{arch}", lambda out: build_tiny_arch(arch, out))


@pytest.fixture(scope="session", params=sorted(ARCHS))
def arch_dir(request: pytest.FixtureRequest) -> Path:
    """Each supported architecture's tiny model."""
    return tiny_arch(request.param)
