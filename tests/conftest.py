"""Shared fixtures: an isolated state dir per test, cached models, no outside network."""

from __future__ import annotations

import os

# Before torch/transformers are imported anywhere: one thread (2 shared cores), never reach a hub.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["MPLBACKEND"] = "Agg"

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from config.settings import Settings  # noqa: E402
from config.state import ensure_state_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# Converted SmolLM2 and the tiny model are built once and reused across test runs.
MODEL_CACHE = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SELFTUNE_* variable from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("SELFTUNE_"):
            monkeypatch.delenv(key)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh state dir whose models/ points at the shared model cache."""
    home = tmp_path / "home"
    home.mkdir()
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(MODEL_CACHE, target_is_directory=True)
    return home


@pytest.fixture
def settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on the temp state dir, the tiny model as base, created layout. Also exported as env."""
    monkeypatch.setenv("SELFTUNE_HOME", str(home))
    monkeypatch.setenv("SELFTUNE_BASE_MODEL", "tiny")
    # A small forgetting set (the default is a few hundred items): the tiny model answers nothing right anyway.
    monkeypatch.setenv("SELFTUNE_EVAL__FORGETTING_ITEMS", "24")
    monkeypatch.chdir(home.parent)
    s = Settings(home=home, base_model="tiny")
    ensure_state_dir(s)
    return s


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny ChatML Llama, built once (seconds)."""
    from skills.models import resolve_base_model

    return resolve_base_model("tiny", MODEL_CACHE)


@pytest.fixture(scope="session")
def smollm2_dir() -> Iterator[Path]:
    """SmolLM2-135M-Instruct converted from the packaged GGUF (once, ~20-40 s)."""
    from skills.models import resolve_base_model

    yield resolve_base_model("smollm2", MODEL_CACHE)
