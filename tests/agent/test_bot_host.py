"""A bot host without torch: the `bot` extra installs none of the weight libraries, and the host's commands run
in a process where torch, transformers, peft and trl cannot be imported (tests/agent/no_torch/sitecustomize.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
NO_TORCH = Path(__file__).with_name("no_torch")
WEIGHT_LIBRARIES = {"torch", "transformers", "peft", "trl", "bitsandbytes"}


def closure(extra: str) -> set[str]:
    """Every distribution `pip install 'selftune[extra]'` pulls, read from the installed packages' metadata."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    todo = [Requirement(r) for r in project["dependencies"]]
    wanted, seen = {extra}, set()
    while wanted:  # the extra's own requirements, following selftune[...] self-references
        name = wanted.pop()
        for req in map(Requirement, extras[name]):
            if canonicalize_name(req.name) == "selftune":
                wanted |= set(req.extras) - seen
            else:
                todo.append(req)
        seen.add(name)
    found: set[str] = set()
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in found:
            continue
        found.add(key)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed in this environment (a platform-only dependency)
        for sub in map(Requirement, requires):
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in [""] + sorted(req.extras)):
                todo.append(sub)
    return found


def test_the_bot_extra_installs_no_weight_library_and_the_worker_extra_does() -> None:
    bot = closure("bot")
    assert {"discord-py", "chromadb", "ray", "faster-whisper", "mcp", "apscheduler"} <= bot
    assert not bot & WEIGHT_LIBRARIES, sorted(bot & WEIGHT_LIBRARIES)
    assert WEIGHT_LIBRARIES <= closure("worker")


def selftune(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFTUNE_")}
    env.update(SELFTUNE_HOME=str(home), SELFTUNE_CACHE_DIR=os.environ["SELFTUNE_CACHE_DIR"], PYTHONPATH=os.pathsep.join([str(NO_TORCH), str(REPO)]), COLUMNS="200",
               SELFTUNE_EXECUTOR__KIND="ray", SELFTUNE_EXECUTOR__RAY_ADDRESS="http://127.0.0.1:9",
               HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", RAY_USAGE_STATS_ENABLED="0")
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], cwd=home.parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_process_cannot_import_torch(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(NO_TORCH)}
    probe = "import importlib.util as u; print(u.find_spec('torch'))\nimport torch"
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "None" and "No module named 'torch'" in proc.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--help"], "fine-tunes its own language models"),
    (["chat", "status"], "There are no jobs yet"),
    (["jobs", "list"], "No jobs yet"),
    (["schedule", "list"], "Nothing is scheduled"),
    (["adapters", "list"], "served for"),
    (["config", "show"], "executor"),
])
def test_host_commands_run_without_torch(tmp_path: Path, args: list[str], expected: str) -> None:
    proc = selftune(tmp_path / "home", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert expected in proc.stdout


def test_doctor_says_training_runs_on_the_worker(tmp_path: Path) -> None:
    proc = selftune(tmp_path / "home", "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]} if proc.stdout.startswith("{") else {}
    if not checks:
        pytest.fail(proc.stdout + proc.stderr)
    assert checks["torch"]["level"] == "warn"
    assert "training runs on the Ray worker at http://127.0.0.1:9" in checks["torch"]["detail"]
    assert checks["ray"]["level"] == "fail"  # nothing answers there
