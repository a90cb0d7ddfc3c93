"""The improver checks a draft before it writes: links, scope and file types refuse it with nothing written."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from config.settings import Settings
from config.state import connect
from config.workspace import Workspace, open_workspace
from improver import journal
from improver.evaluator import Verdict
from improver.journal import JournalEntry
from improver.loop import Loop
from improver.proposals import Draft, Proposal, ProposalRefused, _write_inside, create_proposal, init_schema

RECIPE = "recipes/persona-lora.toml"
OUTSIDE_TEXT = b'# a file outside the workspace that a link points to\nkeep = "me"\n'


class OneDraft:
    """A generator that proposes one fixed draft (what an LLM edit or an Optuna trial would hand over)."""

    name = "scripted"

    def __init__(self, draft: Draft) -> None:
        self.draft, self.verdicts = draft, []

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        return self.draft if not history else None

    def feedback(self, proposal: Proposal, verdict: Verdict) -> None:
        self.verdicts.append(verdict)


@pytest.fixture
def isolated_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temp files of this test land here, so 'nothing was written' can be checked."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def _nothing_written(settings: Settings, ws: Workspace, scratch: Path, head: str) -> None:
    """No branch, commit, worktree, temp folder or proposal row was left behind."""
    assert [h.name for h in ws.repo.heads] == ["main"] and ws.head() == head
    assert ws.repo.git.worktree("list").count("\n") == 0  # only the main checkout
    assert list(scratch.iterdir()) == []
    conn = connect(settings)
    try:
        init_schema(conn)
        assert conn.execute("SELECT COUNT(*) FROM improver_proposals").fetchone()[0] == 0
    finally:
        conn.close()


def _link_recipe_file(ws: Workspace, outside: Path) -> None:
    (ws.path / RECIPE).unlink()
    (ws.path / RECIPE).symlink_to(outside)


def _link_recipes_folder(ws: Workspace, outside: Path) -> None:
    folder = outside.parent / "recipes-elsewhere"
    shutil.copytree(ws.path / "recipes", folder)
    (folder / "persona-lora.toml").write_bytes(OUTSIDE_TEXT)
    shutil.rmtree(ws.path / "recipes")
    (ws.path / "recipes").symlink_to(folder, target_is_directory=True)


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "working-tree"])
@pytest.mark.parametrize("plant", [_link_recipe_file, _link_recipes_folder], ids=["file-link", "folder-link"])
def test_symlinked_recipe_is_refused_and_its_target_is_untouched(
    settings: Settings, tmp_path: Path, isolated_tmp: Path, plant, committed: bool  # noqa: ANN001
) -> None:
    ws = open_workspace(settings)
    outside = tmp_path / "outside" / "victim.toml"
    outside.parent.mkdir()
    outside.write_bytes(OUTSIDE_TEXT)
    plant(ws, outside)
    if committed:
        ws.commit("someone replaced a recipe by a link")
    target = (ws.path / RECIPE).resolve()
    before = target.read_bytes()
    head = ws.head()

    draft = Draft(target="recipe:persona-lora", changes={RECIPE: 'learning_rate = "rewritten"\n'}, generator="optuna")
    with pytest.raises(ProposalRefused) as refused:
        create_proposal(settings, ws, draft)
    message = str(refused.value)
    assert "symlink" in message and "\n" not in message and message.endswith(".")
    assert target.read_bytes() == before and outside.read_bytes() == OUTSIDE_TEXT
    _nothing_written(settings, ws, isolated_tmp, head)


def test_the_loop_journals_a_refused_draft_as_one_sentence(settings: Settings, tmp_path: Path,
                                                           isolated_tmp: Path) -> None:
    ws = open_workspace(settings)
    outside = tmp_path / "victim.toml"
    outside.write_bytes(OUTSIDE_TEXT)
    _link_recipe_file(ws, outside)
    ws.commit("a recipe became a link")
    head = ws.head()
    generator = OneDraft(Draft(target="recipe:persona-lora", changes={RECIPE: "lr = 1\n"}, rationale="faster"))

    summary = Loop(settings, generator_for=lambda _t: generator).run(rounds=1, targets=["recipe:persona-lora"])
    [entry] = summary.entries
    assert entry.verdict == "rejected" and "symlink" in entry.reason and "\n" not in entry.reason
    assert journal.entries(settings)[-1].reason == entry.reason
    assert outside.read_bytes() == OUTSIDE_TEXT and generator.verdicts == []
    assert [h.name for h in ws.repo.heads] == ["main"] and ws.head() == head
    assert list(isolated_tmp.iterdir()) == []  # the evaluator never ran: nothing to judge


@pytest.mark.parametrize("changes, why", [
    ({"agent_notes.txt": "hello"}, "outside the allowlist"),
    ({"improver/evaluator.py": "ACCEPT_ALL = True\n"}, "pinned"),
    ({".git/hooks/post-commit": "#!/bin/sh\n"}, "git's own data"),
    ({"personas/../../escape.toml": "x = 1\n"}, "escapes the workspace"),
    ({"personas/./pirate.toml": "x = 1\n"}, "not a plain workspace path"),
    ({f"skills/s{i}/SKILL.md": "---\nname: s\n---\n" for i in range(4)}, "at most 3"),
    ({"personas/pirate.toml": "name = 'pirate'\x00"}, "NUL"),
    ({"personas/pirate.toml": "x" * 300_000}, "bytes; at most"),
    ({"personas/nobody.toml": None}, "does not exist"),
    ({"plugins/tool.so": "ELF"}, "not a text file type"),
])
def test_out_of_bounds_drafts_are_refused_with_nothing_written(
    settings: Settings, isolated_tmp: Path, changes: dict[str, str | None], why: str
) -> None:
    ws = open_workspace(settings)
    head = ws.head()
    with pytest.raises(ProposalRefused, match=why) as refused:
        create_proposal(settings, ws, Draft(target="persona:pirate", changes=changes), allow_code_paths=["plugins/*"])
    assert "\n" not in str(refused.value)
    assert not (ws.path / "agent_notes.txt").exists() and not (ws.path.parent / "escape.toml").exists()
    assert ws.repo.git.status("--porcelain") == ""
    _nothing_written(settings, ws, isolated_tmp, head)


def test_a_normal_proposal_is_committed_on_its_own_branch(settings: Settings, isolated_tmp: Path) -> None:
    ws = open_workspace(settings)
    head = ws.head()
    card = ws.read("personas/pirate.toml") + "\n# tuned\n"
    proposal = create_proposal(settings, ws, Draft(target="persona:pirate", changes={"personas/pirate.toml": card,
                                                                                     "skills/chat/SKILL.md": "---\nname: chat\n---\n"}))
    branch = ws.repo.commit(proposal.branch)
    assert branch.parents[0].hexsha == head and ws.head() == head  # main is untouched
    assert (branch.tree / "personas/pirate.toml").data_stream.read().decode() == card
    assert sorted(d.b_path for d in ws.repo.commit(head).diff(branch)) == ["personas/pirate.toml", "skills/chat/SKILL.md"]
    assert ws.repo.git.worktree("list").count("\n") == 0 and list(isolated_tmp.iterdir()) == []


def test_writing_in_a_checkout_never_passes_through_a_link(tmp_path: Path) -> None:
    # The last line of defence, should a link appear in the fresh checkout after the checks.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pirate.toml").write_bytes(OUTSIDE_TEXT)
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "personas").symlink_to(outside, target_is_directory=True)
    (root / "recipes").mkdir()
    (root / "recipes" / "r.toml").symlink_to(outside / "pirate.toml")
    for rel in ("personas/pirate.toml", "recipes/r.toml"):
        with pytest.raises(ProposalRefused, match="symlink"):
            _write_inside(root, rel, "overwritten")
    assert (outside / "pirate.toml").read_bytes() == OUTSIDE_TEXT
