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

import contextlib  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from config.settings import Settings  # noqa: E402
from config.state import ensure_state_dir  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# Converted SmolLM2 and the tiny model are built once and reused across test runs.
MODEL_CACHE = Path(os.environ.get("SELFTUNE_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
# The per-machine cache of state dirs made without the `home` fixture: beside it, never the user's own.
MACHINE_CACHE = MODEL_CACHE.parent / "machine-cache"


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError:  # another filesystem
        shutil.copy2(source, dest)


def _start_from_the_installed_models() -> None:
    """`make install` prepared the packaged models once for this machine (`selftune setup`); the tests' own model
    cache starts from copies of them (hard links where it can) instead of converting and distilling again. Copies,
    never links to the folders: tests write their own models beside them, and the user's cache stays the user's."""
    import platformdirs

    from config.machine_cache import cache_key

    installed = Path(os.environ.get("SELFTUNE_CACHE_DIR") or platformdirs.user_cache_dir("selftune")).expanduser()
    source = installed / "models" / cache_key()
    if not source.is_dir() or source.resolve() == MODEL_CACHE.resolve():
        return
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        dest = MODEL_CACHE / item.name
        if dest.exists() or item.name.startswith("."):
            continue
        partial = MODEL_CACHE / f".{item.name}.{os.getpid()}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        if item.is_dir():
            shutil.copytree(item, partial, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(item), str(partial))
        with contextlib.suppress(OSError):  # another test process got there first
            os.replace(partial, dest)
        shutil.rmtree(partial, ignore_errors=True)


_start_from_the_installed_models()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SELFTUNE_* variable from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("SELFTUNE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SELFTUNE_CACHE_DIR", str(MACHINE_CACHE))


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


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """THE real Ray head of the test session, for every test in the suite that needs one (starting a head costs
    tens of seconds on a 2-core CI box): 127.0.0.1, free ports, one `trainer` resource, its own state dir (the GPU
    box, tests/jobs/two_machine_setup.py); its process group is stopped at the end. Ask for `ray_settings`."""
    from tests.jobs.two_machine_setup import session_gpu_box

    with session_gpu_box(tmp_path_factory.mktemp("gpu-box"), MODEL_CACHE) as head:
        yield head.address


@pytest.fixture
def ray_settings(settings: Settings, ray_head: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings on this test's own state dir (and environment, for the job supervisors) pointing the ray executor
    at the session's head; whatever Ray job the test left unfinished is stopped after it, so it holds no `trainer`
    resource in the next test (job ids are random, so tests never share one)."""
    from tests.jobs.two_machine_setup import stop_leftover_ray_jobs

    monkeypatch.setenv("SELFTUNE_EXECUTOR__RAY_ADDRESS", ray_head)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    yield settings.model_copy(update={"executor": settings.executor.model_copy(update={"ray_address": ray_head})})
    stop_leftover_ray_jobs(ray_head)
