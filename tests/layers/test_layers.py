"""The layer rule holds and is enforced: import-linter passes on the tree and fails on an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "improver", "skills", "memory", "config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dest: Path) -> Path:
    """The packages and pyproject.toml in a temporary folder, so a test can break them safely."""
    for name in PACKAGES:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_tree(tmp_path_factory.mktemp("layers"))


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


@pytest.mark.parametrize(("lower", "upper"), [("config/state.py", "memory.store"), ("memory/log.py", "skills.models"),
                                              ("skills/models.py", "improver.loop"), ("improver/loop.py", "agent.router")])
def test_an_upward_import_breaks_the_lint(tree: Path, tmp_path: Path, lower: str, upper: str) -> None:
    broken = _copy_tree(tmp_path)
    with (broken / lower).open("a", encoding="utf-8") as file:
        file.write(f"\nimport {upper}  # an arrow that points up\n")
    result = _lint(broken)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and upper in result.stdout


def test_agent_importing_torch_breaks_the_lint(tmp_path: Path) -> None:
    broken = _copy_tree(tmp_path)
    with (broken / "agent" / "doctor.py").open("a", encoding="utf-8") as file:
        file.write("\n\ndef _gpu() -> None:\n    import torch  # noqa: F401\n")
    assert _lint(broken).returncode != 0


def test_the_cli_and_router_load_without_torch() -> None:
    """`selftune chat` and the Discord bot start without the training stack: agent/ never pulls torch in."""
    code = ("import sys, agent.cli.main, agent.router, agent.discord_bot, agent.mcp_server;"
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
