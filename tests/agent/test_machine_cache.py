"""Models are prepared once per machine: fresh state dirs reuse the cache, and `selftune setup` fills it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.machine_cache import cache_key, machine_models_dir, preparing
from config.settings import Settings
from config.state import ensure_state_dir
from memory.embedders import space_of
from skills.models import TINY_DIR, resolve_base_model
from skills.registry import dist_version
from tests.conftest import MODEL_CACHE


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty machine cache (the environment wins over Settings' arguments, as for users)."""
    monkeypatch.setenv("SELFTUNE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fresh(tmp_path: Path, name: str) -> Settings:
    """A state dir as a new user gets it: nothing under it yet."""
    settings = Settings(home=tmp_path / name, base_model="tiny")
    ensure_state_dir(settings)
    return settings


def stamp(path: Path) -> tuple[int, int]:
    """Inode and modification time: the same pair means the file was not written again."""
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def test_a_second_state_dir_reuses_what_the_first_prepared(tmp_path, cache):
    first, second = fresh(tmp_path, "first"), fresh(tmp_path, "second")
    assert first.models_dir.resolve() == second.models_dir.resolve() == machine_models_dir(first)
    assert machine_models_dir(first) == cache / "models" / cache_key()
    assert cache_key().split("-")[0] == dist_version("selftune")  # keyed by the version and a checksum
    built = resolve_base_model("tiny", first.models_dir) / "model.safetensors"
    before = stamp(built)
    assert resolve_base_model("tiny", second.models_dir).resolve() == built.parent.resolve()
    assert stamp(built) == before  # not built again for the second state dir


def test_state_dirs_with_models_of_their_own_keep_them(tmp_path, cache):
    own = tmp_path / "own"
    (own / "models" / TINY_DIR).mkdir(parents=True)  # prepared here before the cache existed
    ensure_state_dir(Settings(home=own))
    assert not (own / "models").is_symlink()
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "models").symlink_to(tmp_path, target_is_directory=True)  # a link made on purpose stays
    ensure_state_dir(Settings(home=linked))
    assert (linked / "models").resolve() == tmp_path.resolve()
    empty = tmp_path / "empty"
    (empty / "models").mkdir(parents=True)  # made by an older version and never filled: now the cache
    ensure_state_dir(Settings(home=empty))
    assert (empty / "models").resolve() == (cache / "models" / cache_key()).resolve()


def _seed_embedder(cache: Path) -> Path | None:
    """Copy the distilled recall embedder from the tests' model cache (distilling takes ~1 min on 2 cores)."""
    static = MODEL_CACHE / "embeddings" / space_of("model2vec")
    if not (static / "model.safetensors").is_file():
        return None  # setup distils it for real: slower, same assertions
    target = cache / "models" / cache_key() / "embeddings" / static.name
    shutil.copytree(static, target)
    return target


def setup_json(runner: CliRunner) -> dict:
    result = runner.invoke(app, ["setup", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_setup_fills_the_cache_once_and_a_fresh_state_dir_prepares_nothing(tmp_path, cache, monkeypatch, scripted_llm):
    monkeypatch.setenv("SELFTUNE_HOME", str(tmp_path / "setup-home"))
    monkeypatch.setenv("SELFTUNE_BASE_MODEL", "tiny")
    monkeypatch.setenv("SELFTUNE_JUDGE__MODEL", "tiny")
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "openai")
    monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", scripted_llm.url + "/v1")
    _seed_embedder(cache)
    runner = CliRunner()
    first = setup_json(runner)
    assert [i["name"] for i in first["items"]] == ["recall embedder (model2vec)", "base model tiny"]
    assert first["items"][1]["outcome"] == "prepared"
    tiny = Path(first["cache"]) / TINY_DIR / "model.safetensors"
    before = stamp(tiny)
    again = setup_json(runner)
    assert [i["outcome"] for i in again["items"]] == ["ready", "ready"] and stamp(tiny) == before

    static = Path(first["cache"]) / "embeddings" / space_of("model2vec") / "model.safetensors"
    embedder_before = stamp(static)
    monkeypatch.setenv("SELFTUNE_HOME", str(tmp_path / "newcomer"))
    scripted_llm.enqueue(text="Hello!")
    result = runner.invoke(app, ["chat", "hi"])  # memory on: the message is embedded for recall
    assert result.exit_code == 0, result.output
    assert "Hello!" in result.stdout and "Preparing" not in result.output
    assert stamp(static) == embedder_before
    assert (tmp_path / "newcomer" / "models").resolve() == Path(first["cache"]).resolve()


def test_one_time_work_says_what_it_is_doing(capfd):
    with preparing("the recall embedder", "~45 s"):
        pass
    err = capfd.readouterr().err
    assert "Preparing the recall embedder (once per machine, ~45 s" in err and "Prepared the recall embedder in" in err


def test_setup_prepares_the_base_for_a_judge_left_at_its_default(tmp_path):
    """A newcomer's settings: the judge's model unset means the served base (`make install` once crashed on it)."""
    from agent.machine_setup import base_models
    from config.settings import Settings

    fresh = Settings(home=tmp_path / "home")
    assert fresh.judge.model is None and base_models(fresh) == [fresh.base_model]
