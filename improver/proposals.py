"""Proposals: one small change on its own branch, plus a rationale kept where the evaluator never looks.

A generator returns a `Draft` (target, file contents, rationale). `create_proposal` first checks the draft
against main without writing anything (`draft_problems`: path names, size, allowlist, pinned paths, symbolic
links on any component of a path, file types), then commits the files on a branch `proposal/<id>` in a fresh
worktree whose own path has no link in it (the main checkout is never touched), with a commit message that
carries no reasoning; the rationale goes to the `improver_proposals` table only.
`scope_problems` is the allowlist check the evaluator applies again to the branch's diff.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import git
from pydantic import BaseModel, ConfigDict, Field

from config.errors import SelftuneError
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
# What a draft may write: text files of these types, up to this size.
TEXT_SUFFIXES = (".toml", ".md", ".jinja", ".py", ".txt", ".json", ".yaml", ".yml")
MAX_BYTES = 256_000
LINK_MODE = 0o120000
Entry = git.Blob | git.Tree | git.Submodule  # what a path in a commit's tree can be
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX: opening a link fails instead of writing through it


class ProposalRefused(SelftuneError):
    """A draft that may not be written (out of scope, a link on its path, not an allowed text file)."""


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


def create_proposal(settings: Settings, ws: Workspace, draft: Draft,
                    allow_code_paths: list[str] | None = None) -> Proposal:
    """Check the draft against main, then commit it on a fresh branch in a throwaway worktree; store the rationale apart."""
    allowed = list(settings.improver.allow_code_paths if allow_code_paths is None else allow_code_paths)
    base = ws.repo.commit("main")
    problems = draft_problems(ws.path, base.tree, draft.changes, allowed)
    if problems:
        raise _refusal(draft, problems, "before anything was written")
    pid = uuid.uuid4().hex[:10]
    branch = BRANCH_PREFIX + pid
    _commit_in_fresh_worktree(ws.repo, branch, base.hexsha, draft, pid)
    # What git recorded is checked again, so the branch can never hold more than the draft that passed.
    problems = scope_problems(changed_files(ws.path, base.hexsha, branch), allowed)
    if problems:
        delete_branch(ws, branch)
        raise _refusal(draft, problems, "after its commit, which was deleted")
    proposal = Proposal(id=pid, target=draft.target, branch=branch, base=base.hexsha, files=sorted(draft.changes),
                        generator=draft.generator, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    _store(settings, proposal, draft.rationale)
    return proposal


def _refusal(draft: Draft, problems: list[str], when: str) -> ProposalRefused:
    return ProposalRefused(f"The proposal for {draft.target} was refused {when}: {'; '.join(problems)}.")


def draft_problems(ws_path: Path, base: git.Tree, changes: dict[str, str | None],
                   allow_code_paths: list[str]) -> list[str]:
    """Why these changes may not be written (empty when they may): names, scope, links, file types."""
    problems = [p for rel in changes for p in _name_problems(rel)]
    if problems:
        return problems
    entries = {rel: _tree_entry(base, rel) for rel in changes}
    planned = [ChangedFile(path=rel, status=_status(entries[rel], text), mode=_mode(entries[rel]))
               for rel, text in changes.items()]
    problems = scope_problems(planned, allow_code_paths)
    if problems:
        return problems
    for rel, text in changes.items():
        problems.extend(_link_problems(ws_path, base, rel) or _type_problems(rel, text, entries[rel]))
    return problems


def _name_problems(rel: str) -> list[str]:
    """Only plain, normalised relative paths: 'a/./b', 'a//b', backslashes or control characters are refused."""
    path = PurePosixPath(rel)
    if not rel or "\\" in rel or path.as_posix() != rel or any(ord(c) < 32 for c in rel):
        return [f"{rel!r} is not a plain workspace path"]
    if any(part.lower().startswith(".git") for part in path.parts):
        return [f"{rel} is git's own data"]  # also on case-insensitive disks, where '.GIT' is '.git'
    return []


def _tree_entry(tree: git.Tree, rel: str) -> Entry | None:
    """The object at rel in a commit's tree, or None; never descends through a link or a file."""
    node: Entry = tree
    for part in PurePosixPath(rel).parts:
        if not isinstance(node, git.Tree):
            return None
        try:
            node = node.join(part)
        except KeyError:
            return None
    return node


def _status(entry: Entry | None, text: str | None) -> str:
    return "D" if text is None else ("M" if entry is not None else "A")


def _mode(entry: Entry | None) -> str:
    return f"{entry.mode:o}" if entry is not None else "100644"


def _link_problems(ws_path: Path, base: git.Tree, rel: str) -> list[str]:
    """A symlink or submodule on any component of rel, on main or in the workspace's checkout."""
    parts = PurePosixPath(rel).parts
    for depth in range(1, len(parts) + 1):
        here = "/".join(parts[:depth])
        entry = _tree_entry(base, here)
        if (ws_path / here).is_symlink() or (entry is not None and entry.mode == LINK_MODE):
            return [f"{here} is a symlink in the workspace; links are never written through"]
        if entry is not None and entry.type not in ("blob", "tree"):
            return [f"{here} is a submodule; only files of the workspace may change"]
        if entry is not None and depth < len(parts) and entry.type != "tree":
            return [f"{here} is a file, so {rel} cannot be written under it"]
    return []


def _type_problems(rel: str, text: str | None, entry: Entry | None) -> list[str]:
    """Only UTF-8 text files of the allowed types and size; only existing files may be deleted."""
    if entry is not None and entry.type != "blob":
        return [f"{rel} is a folder, not a file"]
    if text is None:
        return [] if entry is not None else [f"{rel} does not exist, so it cannot be deleted"]
    if PurePosixPath(rel).suffix not in TEXT_SUFFIXES:
        return [f"{rel} is not a text file type the improver writes ({' '.join(TEXT_SUFFIXES)})"]
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return [f"{rel} is not valid UTF-8 text"]
    if "\x00" in text:
        return [f"{rel} contains NUL bytes, so it is not a text file"]
    if size > MAX_BYTES:
        return [f"{rel} would be {size} bytes; at most {MAX_BYTES} are allowed"]
    return []


def _commit_in_fresh_worktree(repo: git.Repo, branch: str, base: str, draft: Draft, pid: str) -> None:
    """Write and commit the draft in a new worktree of base; on any failure the branch is removed too."""
    # resolve(): the worktree's own path holds no link either (macOS' /tmp is one).
    tmp = Path(tempfile.mkdtemp(prefix="selftune-proposal-")).resolve()
    worktree = tmp / "wt"
    try:
        repo.git.worktree("add", "-b", branch, str(worktree), base)
        for rel, text in draft.changes.items():
            _write_inside(worktree, rel, text)
        wt_git = git.Repo(worktree).git
        wt_git.add("-A", "--", *draft.changes)
        # The message names the target only: no reasoning reaches the evaluator through git.
        wt_git.commit("-m", f"proposal {pid}: {draft.target}", "--allow-empty",
                      f"--author={AUTHOR.name} <{AUTHOR.email}>")
    except BaseException:
        _remove_worktree(repo, worktree, tmp)
        if branch in [h.name for h in repo.heads]:
            repo.git.branch("-D", branch)
        raise
    _remove_worktree(repo, worktree, tmp)


def _remove_worktree(repo: git.Repo, worktree: Path, tmp: Path) -> None:
    if worktree.exists():
        repo.git.worktree("remove", "--force", str(worktree))
    repo.git.worktree("prune")
    shutil.rmtree(tmp, ignore_errors=True)


def _write_inside(root: Path, rel: str, text: str | None) -> None:
    """Write (or delete) one file under root, refusing to pass through a link at any level."""
    parts = PurePosixPath(rel).parts
    folder = root
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            raise ProposalRefused(f"{rel} has a symlink on its path in the proposal's checkout; nothing was kept.")
        folder.mkdir(exist_ok=True)
    target = folder / parts[-1]
    if target.is_symlink():
        raise ProposalRefused(f"{rel} is a symlink in the proposal's checkout; nothing was kept.")
    if text is None:
        target.unlink(missing_ok=True)
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


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
