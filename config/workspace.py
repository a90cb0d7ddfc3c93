"""The workspace: a git repository in the state dir holding everything the assistant may change.

personas/*.toml, recipes/*.toml, skills/<name>/SKILL.md overlays, adapters/served.toml (which adapter
each persona serves). Every change is a commit, so any change can be reverted.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import git

DEFAULTS = Path(__file__).resolve().parent.parent / "config" / "defaults"
AUTHOR = git.Actor("selftune", "selftune@localhost")
_lock = threading.Lock()  # one writer per process; git's own index.lock guards across processes


class Workspace:
    """A thin gitpython wrapper: ensure, commit, revert, read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.path)

    def ensure(self) -> Workspace:
        """Create the repository with the shipped personas and recipes on first use."""
        if (self.path / ".git").is_dir():
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        repo = git.Repo.init(self.path, initial_branch="main")
        with repo.config_writer() as cw:
            cw.set_value("user", "name", AUTHOR.name)
            cw.set_value("user", "email", AUTHOR.email)
        for sub in ("personas", "recipes"):
            src = DEFAULTS / sub
            if src.is_dir():
                shutil.copytree(src, self.path / sub, dirs_exist_ok=True)
        (self.path / "adapters").mkdir(exist_ok=True)
        (self.path / "adapters" / "served.toml").write_text("# persona = adapter id served for it\n")
        (self.path / "skills").mkdir(exist_ok=True)
        (self.path / "skills" / ".keep").write_text("")
        repo.git.add(A=True)
        repo.index.commit("workspace: initial personas and recipes", author=AUTHOR, committer=AUTHOR)
        return self

    def commit(self, message: str, paths: list[str] | None = None) -> str:
        """Stage paths (all changes when None) and commit; returns the new commit sha ('' if nothing changed)."""
        with _lock:
            repo = self.repo
            if paths is None:
                repo.git.add(A=True)
            else:
                repo.git.add("--", *paths)
            if not repo.is_dirty(index=True, working_tree=False, untracked_files=False):
                return ""
            return repo.index.commit(message, author=AUTHOR, committer=AUTHOR).hexsha

    def revert(self, sha: str, message: str | None = None) -> str:
        """Revert one commit with a new commit; returns the revert's sha."""
        with _lock:
            repo = self.repo
            repo.git.revert(sha, no_edit=True)
            if message:
                repo.git.commit(amend=True, m=message)
            return repo.head.commit.hexsha

    def head(self) -> str:
        """The current commit sha on the checked-out branch."""
        return self.repo.head.commit.hexsha

    def read(self, relpath: str) -> str:
        """Read a file of the working tree."""
        return (self.path / relpath).read_text(encoding="utf-8")

    def write(self, relpath: str, text: str) -> Path:
        """Write a file of the working tree (commit separately)."""
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target


def open_workspace(settings) -> Workspace:  # noqa: ANN001 - Settings, avoided import cycle
    """The workspace of these settings, created on first use."""
    return Workspace(settings.workspace_dir).ensure()
