"""The workspace git repo: seeded on first use, commits and reverts."""

from config.settings import Settings
from config.workspace import open_workspace
from skills.personas import list_personas, load_persona


def test_workspace_seeded_commit_and_revert(settings: Settings) -> None:
    ws = open_workspace(settings)
    assert "pirate" in list_personas(ws.path)
    pirate = load_persona(ws.path, "pirate")
    assert "arr" in pirate.style.any_of
    before = ws.read("adapters/served.toml")
    ws.write("adapters/served.toml", before + 'pirate = "pirate-v1"\n')
    sha = ws.commit("serve pirate-v1")
    assert sha and ws.head() == sha
    ws.revert(sha)
    assert ws.read("adapters/served.toml") == before
    assert open_workspace(settings).head() != sha  # ensure() on an existing repo changes nothing
