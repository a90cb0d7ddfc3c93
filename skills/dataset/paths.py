"""Where skills find and put datasets.

The local user's own calls (ctx.confined False) read any path: as given, else under artifacts/datasets/.
Everyone else goes through config/paths.py: reads from the datasets folders only, writes under
artifacts/datasets/ only, symlinks resolved before the check. For them the registry has already confined
every path-typed argument (skills/paths.py) and passes it resolved; the checks here are the same policy
again, for the path a skill derives itself.
"""

from __future__ import annotations

from pathlib import Path

from config import paths as policy
from config.errors import NotFound, UsageError
from config.names import check_names, shown
from config.settings import Settings
from skills.context import SkillContext


def datasets_dir(settings: Settings) -> Path:
    """artifacts/datasets/ in the state dir."""
    return policy.datasets_dir(settings)


def find_dataset(path: str | Path, ctx: SkillContext) -> Path:
    """An existing dataset file this caller may read: as given, else under artifacts/datasets/."""
    found = _find_dataset(path, ctx)
    if found.is_dir():
        raise UsageError(f"'{shown(str(path))}' is a folder; give the path of a .jsonl or .json file.")
    return found


def _find_dataset(path: str | Path, ctx: SkillContext) -> Path:
    settings = ctx.settings
    if ctx.confined:
        found = policy.confine_input(path, settings)
        if not policy.exists(found):
            raise NotFound(f"There is no dataset '{shown(str(path))}' in {datasets_dir(settings)}; "
                           "upload it or check the name.")
        return found
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    candidate = datasets_dir(settings) / given
    if candidate.exists():
        return candidate
    raise NotFound(f"There is no dataset {path} here or in {datasets_dir(settings)}; give its full path.")


def find_input(path: str | Path, ctx: SkillContext) -> Path:
    """Any input file (documents, held-out data): confined callers only from the datasets folders."""
    return policy.confine_input(path, ctx.settings) if ctx.confined else Path(path).expanduser()


def output_path(path: str | Path, ctx: SkillContext) -> Path:
    """Where a skill writes a file: relative paths under artifacts/datasets/; confined callers only there."""
    if ctx.confined:
        return policy.confine_output(path, ctx.settings)
    given = Path(path).expanduser()
    return given if given.is_absolute() else datasets_dir(ctx.settings) / given


def output_folder(path: str | Path | None, ctx: SkillContext) -> Path | None:
    """Where a skill writes several files; None keeps the skill's default (next to the input when unconfined)."""
    if ctx.confined:
        return policy.confine_output(path or ".", ctx.settings, folder=True)
    if path is None:
        return None
    given = Path(path).expanduser()
    return given if given.is_absolute() else datasets_dir(ctx.settings) / given


def checked_train_args(ctx: SkillContext, *, recipe: str | None, persona: str | None, dataset: str | None) -> str | None:
    """Check a training request's names and dataset before anything is built; returns the dataset to use."""
    check_names(recipe=recipe, persona=persona)
    return str(find_dataset(dataset, ctx)) if dataset and ctx.confined else dataset
