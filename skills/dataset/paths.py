"""Where skills find and put datasets: relative paths resolve to the working directory, then artifacts/datasets/."""

from __future__ import annotations

from pathlib import Path

from config.errors import NotFound
from config.settings import Settings


def datasets_dir(settings: Settings) -> Path:
    """artifacts/datasets/ in the state dir."""
    return settings.artifacts_dir / "datasets"


def find_dataset(path: str | Path, settings: Settings) -> Path:
    """An existing dataset file: as given, else under artifacts/datasets/."""
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    candidate = datasets_dir(settings) / given
    if candidate.exists():
        return candidate
    raise NotFound(f"There is no dataset {path} here or in {datasets_dir(settings)}; give its full path.")


def output_path(path: str | Path, settings: Settings) -> Path:
    """Where a skill writes: absolute paths as given, relative ones under artifacts/datasets/."""
    given = Path(path).expanduser()
    return given if given.is_absolute() else datasets_dir(settings) / given
