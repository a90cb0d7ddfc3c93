"""Quiet stderr by default: libraries' warnings and loader progress bars only with -v/--verbose."""

import json
import logging
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.logging import setup_logging
from tests.conftest import REPO

KERNELS = "Failed to load CPU gemm_4bit_forward from kernels-community"  # bitsandbytes' line on CPU


def _log_both(capsys) -> str:
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning(KERNELS)
    logging.getLogger("skills.train.submit").warning("our own warning")
    return capsys.readouterr().err


def test_library_warnings_go_to_the_log_file_not_the_terminal(settings, capsys):
    setup_logging(settings)
    err = _log_both(capsys)
    assert "our own warning" in err and KERNELS not in err
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert KERNELS in (settings.home / "logs" / "selftune.log").read_text()


def test_verbose_shows_library_warnings(settings, capsys):
    setup_logging(settings, verbose=True)
    try:
        err = _log_both(capsys)
        assert KERNELS in err and "our own warning" in err
    finally:
        setup_logging(settings)


def _chat(settings, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SELFTUNE_HOME": str(settings.home), "SELFTUNE_BASE_MODEL": "tiny",
           "SELFTUNE_LLM__MODEL": "tiny"}
    for key in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *flags, "chat", "hello there"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=settings.home)


@pytest.mark.slow  # loads the tiny model twice in fresh processes
def test_chat_stderr_is_quiet_unless_verbose(settings):
    quiet = _chat(settings)
    assert quiet.returncode == 0, quiet.stderr
    assert "Loading weights" not in quiet.stderr and "it/s" not in quiet.stderr, quiet.stderr
    loud = _chat(settings, "-v")
    assert loud.returncode == 0 and "Loading weights" in loud.stderr


@pytest.mark.slow  # builds SmolLM2's tokenizer from its GGUF once (~15 s here); the model itself is never built
def test_dataset_stats_loads_only_a_tokenizer(tmp_path, monkeypatch):
    home = tmp_path / "fresh"  # its own models/ folder: nothing converted yet
    monkeypatch.setenv("SELFTUNE_HOME", str(home))
    data = tmp_path / "d.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Arr!"}]}\n')
    result = CliRunner().invoke(app, ["dataset", "stats", str(data), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["tokens"]["max"] > 5
    models = sorted(p.name for p in (home / "models").iterdir() if not p.name.startswith("."))
    assert models == ["smollm2-135m-instruct-tokenizer"]  # no converted weights


def test_dataset_stats_prints_words_not_python_dicts(settings, tmp_path):
    data = tmp_path / "d.jsonl"
    row = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Arr!"}]}\n'
    data.write_text(row * 2)
    result = CliRunner().invoke(app, ["dataset", "stats", str(data), "--no-tokens"])
    assert result.exit_code == 0, result.output
    assert "roles: user 2, assistant 2; duplicates: 1 exact, 0 near" in result.stdout and "{" not in result.stdout
