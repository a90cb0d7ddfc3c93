"""Fixtures for the attacker's probes: a state dir, a folder outside it holding a victim file, and links
from inside the datasets folder to the outside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.settings import Settings
from skills.context import Requester, SkillContext
from tests.agent.conftest import scripted_llm  # noqa: F401 - the scripted model server, for the Router probe

ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Ahoy!"}]}
VICTIM_TEXT = "precious: do not overwrite\n"
SECRET = "OUTSIDE-SECRET-LINE"  # the first line of a file outside; validation would echo it if it read it


@pytest.fixture
def outside(settings: Settings) -> Path:
    """A folder beside the state dir (not in it) with a victim file and a valid dataset a link points to."""
    folder = settings.home.parent / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_text(VICTIM_TEXT)
    (folder / "secret.jsonl").write_text(json.dumps(ROW) + "\n")
    (folder / "leak.txt").write_text(SECRET + "\n")
    return folder


@pytest.fixture
def datasets(settings: Settings, outside: Path) -> Path:
    """artifacts/datasets with one good dataset and links out: to two files and to a folder."""
    folder = settings.artifacts_dir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.jsonl").write_text("\n".join(json.dumps(ROW) for _ in range(4)) + "\n")
    (folder / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (folder / "linkdir").symlink_to(outside, target_is_directory=True)
    (folder / "leak.jsonl").symlink_to(outside / "leak.txt")
    return folder


@pytest.fixture
def mcp_ctx(settings: Settings) -> SkillContext:
    """A confined caller like an MCP client, with admin rights so that every skill is reachable."""
    return SkillContext(settings=settings, requester=Requester(user="mcp:probe", transport="mcp", channel="mcp",
                                                                permission="admin"), confined=True)


def files_under(root: Path, skip: Path | None = None) -> dict[str, bytes]:
    """Every file below `root` (links not followed) with its content, except those inside `skip`."""
    found = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and path.is_relative_to(skip):
            continue
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found
