"""Backups of the state dir: one folder that `selftune restore` turns back into a working state dir.

A backup holds selftune.db (SQLite's online backup API: consistent while the bot writes), the workspace as a
git bundle (every branch and commit), the adapters, datasets, job folders, reports and the evaluator's
holdout (weights hard-linked: they are written once and never changed in place; the rest copied), and
manifest.json with a sha256 of every file. Left out as rebuildable: the Chroma recall index (rebuilt from
the log on first use), converted base models, exports and logs. A backup is written under a temporary name
and renamed when complete, so a crash never leaves a folder that looks like a backup.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict

from config.errors import NotFound, UsageError
from config.settings import Settings, load_settings
from config.state import backup_database, ensure_state_dir
from config.workspace import AUTHOR, open_workspace
from skills.dataset.manifest import file_sha256
from skills.scheduler import ScheduleInfo, parse_time_of_day, schedule_store

MANIFEST = "manifest.json"
FORMAT = 1
DATABASE = "selftune.db"
BUNDLE = "workspace.bundle"
CONFIG = "selftune.toml"
TREES = ("artifacts/adapters", "artifacts/datasets", "artifacts/jobs", "artifacts/reports", "holdout")
LEFT_OUT = {
    "chroma/": "the recall index, rebuilt from the conversation log on first use",
    "models/": "converted base models, converted again on first use",
    "artifacts/exports/": "exports, made again from the adapters with `selftune export`",
    "logs/": "log files",
}
WEIGHTS = frozenset({".safetensors", ".bin", ".pt", ".pth", ".gguf"})  # large, written once: hard-linked
# What may already be in a state dir that counts as empty for a restore: rebuildable or configuration only.
NOT_STATE = frozenset({"models", "logs", CONFIG})
SCHEDULE_ID = "backup:nightly"
BACKUP_FUNC = "skills.backup:scheduled_backup"  # textual reference: what the job store persists
_STAMP = re.compile(r"^\d{8}-\d{6}$")


class BackupFile(BaseModel):
    """One file of a backup with its checksum."""

    model_config = ConfigDict(extra="forbid")
    sha256: str
    size: int


class Manifest(BaseModel):
    """manifest.json: what a backup holds, where it came from, and every file's checksum."""

    model_config = ConfigDict(extra="forbid")
    format: int
    created_at: str
    home: str
    workspace_head: str
    files: dict[str, BackupFile]
    left_out: dict[str, str]


class BackupResult(BaseModel):
    """What `selftune backup` wrote."""

    path: str
    files: int
    size_mb: float
    linked: int
    pruned: list[str] = []


def _place(source: Path, target: Path) -> bool:
    """Put a file at target: weights by hard link (True) where the file system allows it, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix in WEIGHTS:
        try:
            os.link(source, target)
            return True
        except OSError:  # another disk (EXDEV), no link support, too many links: a copy does the same job
            pass
    shutil.copy2(source, target)
    return False


def _tree_files(root: Path) -> Iterator[Path]:
    """The regular files under root (symlinks are left out: they point at things the backup does not own)."""
    if root.is_dir() and not root.is_symlink():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield path


def _copy_state(settings: Settings, folder: Path) -> int:
    """Copy the database, bundle the workspace and place the file trees; returns how many files were linked."""
    with contextlib.closing(sqlite3.connect(settings.db_path, timeout=30)) as conn:
        backup_database(conn, folder / DATABASE)
    open_workspace(settings).repo.git.bundle("create", str(folder / BUNDLE), "--all")
    if (settings.home / CONFIG).is_file():
        shutil.copy2(settings.home / CONFIG, folder / CONFIG)
    linked = 0
    for tree in TREES:
        for path in _tree_files(settings.home / tree):
            linked += _place(path, folder / path.relative_to(settings.home))
    return linked


def _manifest(settings: Settings, folder: Path) -> Manifest:
    files = {path.relative_to(folder).as_posix(): BackupFile(sha256=file_sha256(path), size=path.stat().st_size)
             for path in _tree_files(folder)}
    return Manifest(format=FORMAT, created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), home=str(settings.home),
                    workspace_head=_head_branch(open_workspace(settings).repo), files=files, left_out=LEFT_OUT)


def _head_branch(repo: git.Repo) -> str:
    """The checked-out branch (restored as checked out); 'main' when HEAD is detached."""
    try:
        return repo.active_branch.name
    except TypeError:
        return "main"


def _fresh_target(to: Path) -> Path:
    """`--to` must name a new or empty folder: a backup never mixes with other files."""
    to = to.expanduser().resolve()
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise UsageError(f"{to} already exists and is not an empty folder; give `--to` a new folder for the backup.")
    return to


def create_backup(settings: Settings, to: Path | None = None) -> BackupResult:
    """Write a backup of the state dir to `to` (a new folder) or a timestamped folder under backup.dir."""
    ensure_state_dir(settings)
    target = _fresh_target(to) if to is not None else settings.backups_dir / time.strftime("%Y%m%d-%H%M%S")
    if target.exists() and to is None:
        raise UsageError(f"A backup named {target.name} was written this second; try again in a moment.")
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        linked = _copy_state(settings, partial)
        manifest = _manifest(settings, partial)
        (partial / MANIFEST).write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            target.rmdir()  # the empty folder `--to` named
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    size = sum(f.size for f in manifest.files.values()) / 1e6
    return BackupResult(path=str(target), files=len(manifest.files), size_mb=round(size, 1), linked=linked)


def read_manifest(folder: Path) -> Manifest:
    """The backup's manifest; a folder without a readable one is not a backup (one sentence)."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise NotFound(f"There is no backup folder {folder}; `selftune backup` writes one.")
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"{folder} is not a selftune backup ({MANIFEST} is missing or unreadable).") from None


def verify_backup(folder: Path) -> list[str]:
    """What is wrong with a backup: each missing or changed file as one phrase; empty when it is intact."""
    manifest = read_manifest(folder)
    problems = []
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected.size or file_sha256(path) != expected.sha256:
            problems.append(f"{name} is damaged (its checksum differs)")
    return problems


def require_intact(folder: Path) -> Manifest:
    """The manifest of an intact backup; a damaged one raises a sentence naming what is wrong."""
    manifest = read_manifest(folder)
    problems = verify_backup(folder)
    if problems:
        shown = "; ".join(problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise UsageError(f"The backup {folder} fails verification: {shown}.")
    return manifest


def _state_entries(home: Path) -> list[str]:
    """What in `home` would be overwritten: anything but empty folders, rebuildable models, logs and the config."""
    if not home.exists():
        return []
    found = []
    for entry in sorted(home.iterdir()):
        if entry.name in NOT_STATE:
            continue
        if entry.is_dir() and not entry.is_symlink() and not any(p.is_file() for p in entry.rglob("*")):
            continue
        found.append(entry.name)
    return found


def restore_backup(settings: Settings, folder: Path) -> dict[str, Any]:
    """Restore an intact backup into settings.home, which must hold no state yet."""
    folder = folder.expanduser().resolve()
    manifest = require_intact(folder)
    present = _state_entries(settings.home)
    if present:
        raise UsageError(f"{settings.home} is not empty (it holds {', '.join(present[:4])}); restore into a new "
                         "state dir (SELFTUNE_HOME) or move this one away first.")
    ensure_state_dir(settings)
    _restore_database(folder / DATABASE, settings.db_path)
    _restore_workspace(folder / BUNDLE, settings.workspace_dir, manifest.workspace_head)
    skipped_config = (folder / CONFIG).is_file() and (settings.home / CONFIG).exists()
    for name in manifest.files:
        if name in (DATABASE, BUNDLE) or (name == CONFIG and skipped_config):
            continue
        _place(folder / name, settings.home / name)
    moved = _rehome_schedules(settings, manifest.home)
    return {"restored": str(settings.home), "from": str(folder), "files": len(manifest.files),
            "schedules_moved": moved, "kept_config": skipped_config,
            "rebuilt_later": sorted(manifest.left_out)}


def _restore_database(source: Path, target: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as conn:
        backup_database(conn, target)


def _restore_workspace(bundle: Path, workspace: Path, head: str) -> None:
    """Every ref of the bundle into a new repository, the branch that was checked out checked out again."""
    workspace.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(workspace, initial_branch=head)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", AUTHOR.name)
        cw.set_value("user", "email", AUTHOR.email)
    repo.git.fetch(str(bundle), "+refs/*:refs/*", update_head_ok=True)  # HEAD names the unborn branch
    repo.git.checkout("-f", head)


def _rehome_schedules(settings: Settings, old_home: str) -> int:
    """Schedules name the state dir they run on: point those of the backed-up home at the restored one."""
    if old_home == str(settings.home):
        return 0
    moved = 0
    with schedule_store(settings) as scheduler:
        for job in scheduler.get_jobs():
            if job.kwargs.get("home") == old_home:
                scheduler.modify_job(job.id, kwargs={**job.kwargs, "home": str(settings.home)})
                moved += 1
    return moved


def prune_backups(root: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` complete timestamped backups under root; returns the deleted names."""
    if not root.is_dir():
        return []
    complete = sorted(p for p in root.iterdir() if _STAMP.match(p.name) and (p / MANIFEST).is_file())
    doomed = complete[:-keep] if keep > 0 else complete
    for path in doomed:
        shutil.rmtree(path)
    return [p.name for p in doomed]


def scheduled_backup(home: str, config: str | None = None) -> dict[str, Any]:
    """The nightly backup: write one, verify it, then keep only the newest backup.keep (quietly: logged only)."""
    settings = load_settings(Path(config) if config else None, home=Path(home))
    result = create_backup(settings)
    problems = verify_backup(Path(result.path))
    if problems:  # never prune good backups because of a bad new one
        raise OSError(errno.EIO, f"the new backup {result.path} fails verification: {'; '.join(problems[:3])}")
    result.pruned = prune_backups(settings.backups_dir, settings.backup.keep)
    reason = f"{result.files} files ({result.size_mb} MB) in {result.path}; deleted {len(result.pruned)} older"
    return {"status": "done", "reason": reason, "backup": result.model_dump(), "notify": []}


def install_backup_schedule(settings: Settings) -> ScheduleInfo | None:
    """What `selftune run` calls: the nightly backup schedule per the backup settings (removed when off)."""
    with schedule_store(settings) as scheduler:
        if not settings.backup.nightly:
            if scheduler.get_job(SCHEDULE_ID) is not None:
                scheduler.remove_job(SCHEDULE_ID)
            return None
        hour, minute = parse_time_of_day(settings.backup.at)
        tz = settings.scheduler.timezone
        kwargs = {"home": str(settings.home), "config": str(settings.config_file) if settings.config_file else None}
        name = f"nightly backup at {hour:02d}:{minute:02d} {tz}, keeping {settings.backup.keep}"
        existing = scheduler.get_job(SCHEDULE_ID)
        paused = {"next_run_time": None} if existing is not None and existing.next_run_time is None else {}
        job = scheduler.add_job(BACKUP_FUNC, CronTrigger(hour=hour, minute=minute, timezone=tz), id=SCHEDULE_ID,
                                name=name, kwargs=kwargs, replace_existing=True, **paused)  # a pause stays
        return ScheduleInfo(id=job.id, name=job.name, persona=None, trigger=str(job.trigger),
                            next_run=job.next_run_time, paused=job.next_run_time is None)
