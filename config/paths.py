"""The one path policy for callers that are not the local CLI user (Discord, MCP, model tool calls).

Such callers read only from the state dir's datasets folder (uploads are stored there too) and the folders
configured in `datasets.allowed_dirs`, and write only under the datasets folder in artifacts/. Every path
is resolved first (symlinks followed, `..` collapsed), so a link inside an allowed folder that points
elsewhere is judged by where it points.
"""

from __future__ import annotations

from pathlib import Path

from config.errors import PermissionDenied, UsageError
from config.names import shown
from config.settings import Settings


class OutsideFolders(PermissionDenied):
    """A confined caller named a path outside the folders selftune lets it use."""


def datasets_dir(settings: Settings) -> Path:
    """artifacts/datasets/ in the state dir: datasets, uploads and everything dataset skills write."""
    return settings.artifacts_dir / "datasets"


def input_roots(settings: Settings) -> list[Path]:
    """The folders confined callers may read datasets from, resolved."""
    configured = [Path(d).expanduser() for d in settings.datasets.allowed_dirs]
    return [resolved(datasets_dir(settings), str(datasets_dir(settings)))] + [resolved(d, str(d)) for d in configured]


def resolved(path: Path, given: str | Path) -> Path:
    """`path` with symlinks and `..` resolved; a path the OS cannot even look at is a usage error."""
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):  # NUL bytes, names too long, symlink loops
        raise UsageError(f"'{shown(str(given))}' is not a usable path; give a plain file name.") from None


def named(path: str | Path, arg: str | None = None) -> str:
    """How a refusal names the path: quoted, after the skill argument that held it when there was one."""
    return f"Argument '{arg}' ('{shown(str(path))}')" if arg else f"'{shown(str(path))}'"


def _within(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long to look at: not a folder, and the write will say why
        return False


def exists(path: Path) -> bool:
    """Path.exists() that answers False instead of raising for names the OS cannot look at."""
    try:
        return path.exists()
    except OSError:
        return False


def confine_input(path: str | Path, settings: Settings, *, arg: str | None = None) -> Path:
    """The resolved file a confined caller may read: relative names live in artifacts/datasets/."""
    given = Path(path)
    real = resolved(given if given.is_absolute() else datasets_dir(settings) / given, path)
    if not _within(real, input_roots(settings)):
        raise OutsideFolders(
            f"{named(path, arg)} is outside selftune's folders; put the file under {datasets_dir(settings)} "
            "or add its folder to datasets.allowed_dirs."
        )
    return real


def confine_output(path: str | Path, settings: Settings, *, folder: bool = False, arg: str | None = None) -> Path:
    """The resolved place a confined caller may write to (a file, or a folder with folder=True)."""
    given = Path(path)
    root = resolved(datasets_dir(settings), str(datasets_dir(settings)))
    real = resolved(given if given.is_absolute() else root / given, path)
    if not _within(real, [root]):
        raise OutsideFolders(
            f"{named(path, arg)} is outside selftune's folders; write under {datasets_dir(settings)} instead."
        )
    if not folder and _is_dir(real):
        raise UsageError(f"{named(path, arg)} is a folder; give the name of a file to write.")
    return real
