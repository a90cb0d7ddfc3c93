"""Path arguments, by type: a skill parameter that names a file or folder says so in its signature.

    def transcribe(path: ReadPath, *, ctx: SkillContext) -> dict: ...
    def convert(path: ReadPath, output: WritePath, ...) -> dict: ...

The registry finds these marks when it registers a skill and, for confined callers (Discord, MCP, anything
the model chose: `SkillContext.confined`), confines every such argument in `SkillRegistry.call` before the
skill body runs, with the one policy in config/paths.py: reads only from artifacts/datasets and
`datasets.allowed_dirs`, writes only under artifacts/datasets, adapters only by registry id, persona or a
folder in artifacts/adapters; symlinks and `..` resolved first. The skill then receives the resolved
absolute path, so it never resolves a relative name against some other folder.

A parameter whose name says it holds a file (path, file, dir, folder, output, dataset, ...) or that is typed
`pathlib.Path` must carry one of these types (or `NotAPath`, when the name misleads): such a skill is
refused at registration, so a new skill cannot take a path the registry does not confine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from config import paths as policy
from config.settings import Settings

Access = Literal["read", "write", "folder", "adapter", "none"]


@dataclass(frozen=True)
class PathArg:
    """How a confined caller's value of this argument is confined (see the module docstring)."""

    access: Access
    weighted: bool = False  # "file.jsonl:0.3": the path before the last colon, a weight after it
    unless: Callable[[str], bool] | None = None  # values that are not paths at all ("base", "synthetic")

    def confine(self, value: str, arg: str, settings: Settings) -> str:
        """The resolved path a confined caller may use for `value`; OutsideFolders names `arg` otherwise."""
        if self.access == "none" or (self.unless is not None and self.unless(value)):
            return value
        if self.weighted:
            from skills.dataset.mix import parse_weighted  # the one reading of "path:weight"

            path, weight = parse_weighted(value)
            return f"{self._confined(str(path), arg, settings)}:{weight}"
        return self._confined(value, arg, settings)

    def _confined(self, value: str, arg: str, settings: Settings) -> str:
        if self.access == "read":
            return str(policy.confine_input(value, settings, arg=arg))
        if self.access == "write":
            return str(policy.confine_output(value, settings, arg=arg))
        if self.access == "folder":
            return str(policy.confine_output(value, settings, folder=True, arg=arg))
        from skills.train.lookup import confined_adapter  # adapter lookups read the adapter registry

        return str(confined_adapter(value, settings, arg=arg))


ReadPath = Annotated[str, PathArg("read")]  # a file the skill reads (datasets, documents, audio)
WritePath = Annotated[str, PathArg("write")]  # a file the skill writes
WriteFolder = Annotated[str, PathArg("folder")]  # a folder the skill writes files into
AdapterPath = Annotated[str, PathArg("adapter")]  # an adapter: registry id, persona name or adapter folder
WeightedReadPath = Annotated[str, PathArg("read", weighted=True)]  # "file.jsonl:0.3"
# A file the skill reads, or a web address it fetches (allow-listed by datasets.allowed_hosts, never confined here).
ReadPathOrUrl = Annotated[str, PathArg("read", unless=lambda value: value.startswith(("http://", "https://")))]
NotAPath = Annotated[str, PathArg("none")]  # a name that looks like a file's but is not one ("data_source")

# Words that, as one part of a parameter name (split at "_"), say it names a file or folder.
FILE_WORDS = frozenset({"path", "paths", "file", "files", "filename", "dir", "dirs", "directory", "folder", "folders",
                        "out", "output", "outputs", "dataset", "datasets", "data", "documents", "seeds", "audio"})


def path_arg(annotation: Any) -> PathArg | None:
    """The PathArg mark in a parameter's annotation (also inside `| None` and `list[...]`), if any."""
    if get_origin(annotation) is Annotated:
        base, *marks = get_args(annotation)
        return next((m for m in marks if isinstance(m, PathArg)), None) or path_arg(base)
    return next((found for inner in get_args(annotation) if (found := path_arg(inner)) is not None), None)


def looks_like_a_path(name: str, annotation: Any) -> bool:
    """True for a parameter that names a file by its type (pathlib.Path) or by its name and a str type."""
    types = _leaf_types(annotation)
    if any(isinstance(t, type) and issubclass(t, Path) for t in types):
        return True
    return str in types and bool(FILE_WORDS & set(re.split(r"_+", name.lower())))


def _leaf_types(annotation: Any) -> set[Any]:
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _leaf_types(args[0])
    return {t for arg in args for t in _leaf_types(arg)} if args else {annotation}


def confine_args(kwargs: dict[str, Any], marks: dict[str, PathArg], settings: Settings) -> dict[str, Any]:
    """`kwargs` with every marked argument (a string or a list of them) confined; None stays None."""
    confined = dict(kwargs)
    # Plain paths first: an outside file is refused as outside before an adapter lookup can answer "not found".
    for arg, mark in sorted(marks.items(), key=lambda item: item[1].access == "adapter"):
        value = confined.get(arg)
        if isinstance(value, str | Path):
            confined[arg] = mark.confine(str(value), arg, settings)
        elif isinstance(value, list | tuple):
            confined[arg] = [mark.confine(str(v), arg, settings) for v in value]
    return confined
