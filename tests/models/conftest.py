"""Tiny random models of every supported architecture, built once under the test model cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from skills.models import _atomic_build
from skills.tiny_models import ARCHS, build_tiny_arch
from tests.conftest import MODEL_CACHE


@pytest.fixture(scope="session", params=sorted(ARCHS))
def arch_dir(request: pytest.FixtureRequest) -> Path:
    """config -> random weights -> folder, for each architecture (cached across runs)."""
    arch = request.param
    return _atomic_build(MODEL_CACHE / f"tiny-{arch}", lambda out: build_tiny_arch(arch, out))
