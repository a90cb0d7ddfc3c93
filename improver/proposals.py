"""Proposals: one small change on its own branch, plus a rationale kept where the evaluator never looks.

A generator returns a `Draft` (target, file contents, rationale). `create_proposal` commits the files on a
branch `proposal/<id>` in a temporary worktree (the main checkout is never touched) with a commit message
that carries no reasoning; the rationale goes to the `improver_proposals` table only.
`scope_problems` is the allowlist check the evaluator applies to the branch's diff.
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import git
from pydantic import BaseModel, ConfigDict, Field

from config.settings import Settings
from config.state import connect
from config.workspace import AUTHOR, Workspace

MAX_FILES = 3
BRANCH_PREFIX = "proposal/"
# What the loop may change in the workspace (code paths only through settings.improver.allow_code_paths).
ALLOWED = ("personas/*.toml", "recipes/*.toml", "skills/*/SKILL.md", "skills/*/*.md", "skills/*/*.jinja",
           "adapters/served.toml")
# Never changeable, whatever the config says: the evaluator, tests, held-out data, test configuration.
PINNED = ("improver/*", "*/improver/*", "tests/*", "*/tests/*", "test_*.py", "*/test_*.py", "conftest.py",
          "*/conftest.py", "holdout/*", "*/holdout/*", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini",
          ".git*", "*/.git*", "results.tsv", "evaluator*", "*/evaluator*", "*.pth", "sitecustomize.py",
          "*/sitecustomize.py")


class Draft(BaseModel):
    """What a generator proposes: new contents per workspace path (None deletes the file)."""

    model_config = ConfigDict(extra="forbid")
    target: str = Field(description="What is being improved, e.g. 'persona:pirate' or 'recipe:persona-lora'.")
    changes: dict[str, str | None] = Field(description="Workspace-relative path -> new text (None deletes).")
    rationale: str = Field("", description="Why; stored apart, never shown to the evaluator.")
    generator: str = "manual"
    meta: dict[str, str | int | float] = Field(default_factory=dict)


class Proposal(BaseModel):
    """A proposal branch in the workspace."""

    model_config = ConfigDict(extra="forbid")
    id: str
    target: str
    branch: str
    base: str
    files: list[str]
    generator: str
    created_at: str


class ChangedFile(BaseModel):
    """One entry of a proposal's diff against its base."""

    path: str
    status: str  # A, M, D, T
    mode: str = "100644"


def init_schema(conn) -> None:  # noqa: ANN001 - sqlite3.Connection
    """Create the proposals table (rationales live here and nowhere else)."""
    conn.execute(
        """CREATE TABLE IF NOT EXISTS improver_proposals (
            id TEXT PRIMARY KEY, target TEXT NOT NULL, branch TEXT NOT NULL, base TEXT NOT NULL,
            files TEXT NOT NULL, generator TEXT NOT NULL, rationale TEXT NOT NULL, created_at TEXT NOT NULL)"""
    )


def create_proposal(settings: Settings, ws: Workspace, draft: Draft) -> Proposal:
    """Commit the draft on a fresh branch off main in a throwaway worktree; store the rationale apart."""
    pid = uuid.uuid4().hex[:10]
    branch = BRANCH_PREFIX + pid
    base = ws.repo.commit("main").hexsha
    tmp = Path(tempfile.mkdtemp(prefix="selftune-proposal-"))
    worktree = tmp / "wt"
    repo = ws.repo
    try:
        repo.git.worktree("add", "-b", branch, str(worktree), base)
        _write_changes(worktree, draft.changes)
        wt_git = git.Repo(worktree).git
        wt_git.add("-A", "--", *draft.changes)
        # The message names the target only: no reasoning reaches the evaluator through git.
        wt_git.commit("-m", f"proposal {pid}: {draft.target}", "--allow-empty",
                      f"--author={AUTHOR.name} <{AUTHOR.email}>")
    finally:
        if worktree.exists():
            repo.git.worktree("remove", "--force", str(worktree))
        repo.git.worktree("prune")
        shutil.rmtree(tmp, ignore_errors=True)
    proposal = Proposal(id=pid, target=draft.target, branch=branch, base=base, files=sorted(draft.changes),
                        generator=draft.generator, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    _store(settings, proposal, draft.rationale)
    return proposal


def _write_changes(root: Path, changes: dict[str, str | None]) -> None:
    for rel, text in changes.items():
        target = root / rel
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _store(settings: Settings, proposal: Proposal, rationale: str) -> None:
    conn = connect(settings)
    try:
        init_schema(conn)
        conn.execute(
            "INSERT INTO improver_proposals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (proposal.id, proposal.target, proposal.branch, proposal.base, ",".join(proposal.files),
             proposal.generator, rationale, proposal.created_at),
        )
    finally:
        conn.close()


def rationale_of(settings: Settings, proposal_id: str) -> str:
    """The stored rationale of a proposal (for the journal and the generator, never the evaluator)."""
    conn = connect(settings)
    try:
        init_schema(conn)
        row = conn.execute("SELECT rationale FROM improver_proposals WHERE id = ?", (proposal_id,)).fetchone()
    finally:
        conn.close()
    return row["rationale"] if row else ""


def delete_branch(ws: Workspace, branch: str) -> None:
    """Remove a proposal branch (rejected, crashed or already merged)."""
    if branch in [h.name for h in ws.repo.heads]:
        ws.repo.git.branch("-D", branch)


def changed_files(ws_path: Path, base: str, ref: str) -> list[ChangedFile]:
    """The diff of ref against base, with file modes (so symlinks are visible)."""
    raw = git.Repo(ws_path).git.diff("--raw", "--no-renames", "--no-abbrev", f"{base}..{ref}")
    files = []
    for line in raw.splitlines():
        meta, path = line.split("\t", 1)
        _old_mode, new_mode, _a, _b, status = meta.lstrip(":").split()
        files.append(ChangedFile(path=path, status=status[0], mode=new_mode))
    return files


def scope_problems(files: list[ChangedFile], allow_code_paths: list[str]) -> list[str]:
    """Why this diff is out of bounds (empty when it is fine): size, allowlist, pinned paths, symlinks."""
    problems = []
    if not files:
        problems.append("the proposal changes nothing")
    if len(files) > MAX_FILES:
        problems.append(f"it changes {len(files)} files; at most {MAX_FILES} are allowed")
    for f in files:
        problems.extend(_path_problems(f, allow_code_paths))
    return problems


def _path_problems(f: ChangedFile, allow_code_paths: list[str]) -> list[str]:
    path = PurePosixPath(f.path)
    if path.is_absolute() or ".." in path.parts:
        return [f"{f.path} escapes the workspace"]
    if f.mode == "120000":
        return [f"{f.path} is a symlink; links are never accepted"]
    if any(fnmatch.fnmatchcase(f.path, pat) for pat in PINNED):
        return [f"{f.path} is pinned (evaluator, tests and held-out data are read-only)"]
    if not any(fnmatch.fnmatchcase(f.path, pat) for pat in (*ALLOWED, *allow_code_paths)):
        return [f"{f.path} is outside the allowlist"]
    return []


def target_of(files: list[ChangedFile], allow_code_paths: list[str]) -> tuple[str, str]:
    """(kind, name) of what the files change: persona, recipe, skill, adapter or code; 'mixed' if several."""
    kinds = {_kind_of(f.path, allow_code_paths) for f in files}
    if len(kinds) != 1:
        return ("mixed", ",".join(sorted(f"{k}:{n}" for k, n in kinds)))
    return kinds.pop()


def _kind_of(rel: str, allow_code_paths: list[str]) -> tuple[str, str]:
    parts = PurePosixPath(rel).parts
    if len(parts) == 2 and parts[0] in ("personas", "recipes") and rel.endswith(".toml"):
        return ("persona" if parts[0] == "personas" else "recipe", PurePosixPath(rel).stem)
    if parts[0] == "skills" and len(parts) == 3:
        return ("skill", parts[1])
    if rel == "adapters/served.toml":
        return ("adapter", "served")
    return ("code", "code")
