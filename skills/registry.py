"""The skill registry: discovers skills through pluggy entry points and builds their tool schemas.

A skill is a folder with SKILL.md (YAML front matter: name, description, permission, effects) and
skill.py, which defines one public, fully typed function. Its JSON Schema comes from the type hints, so
the description a model sees can never drift from the signature.

`effects` says what running the skill does to the world: `none` (only reads), `writes` (creates or
changes state: jobs, files, schedules, consent) or `destructive` (erases what cannot be restored). Only
skills that declare `effects: none` may run in a turn whose context holds data (recalled memory, files,
tool output); a skill that declares no effects is treated as `writes`. A skill with effects cannot be
declared `read`: who may change things is never the lowest permission.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_type_hints

import pluggy
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from config.errors import NotFound, PermissionDenied, SelftuneError, UsageError
from skills import hookspecs
from skills.context import SkillContext
from skills.declaration import Declaration, merge_overlay, parse_declaration
from skills.paths import PathArg, confine_args, looks_like_a_path, path_arg

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "selftune.skills"
Effects = Literal["none", "writes", "destructive"]
EFFECTS: tuple[str, ...] = ("none", "writes", "destructive")


class SkillRegistrationError(SelftuneError):
    """A skill is malformed (no description, untyped parameters, bad SKILL.md)."""


class SkillInfo(BaseModel):
    """A registered skill: its metadata, schema and the function that runs it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    description: str
    permission: Literal["read", "train", "admin"]
    effects: Effects = "writes"  # undeclared counts as having side effects (the safe side)
    parameters: dict[str, Any]
    origin: str  # "builtin", "entrypoint:<dist>", "workspace"
    version: str
    path: Path | None = None
    body: str = ""  # SKILL.md text after the front matter (usage notes)
    long_running: bool = False
    function: Callable[..., Any]
    args_model: type[BaseModel]
    declaration: Declaration = Declaration()  # how requests reach it (skills.declaration)
    paths: dict[str, PathArg] = {}  # arguments that name files, by their path type (skills.paths)

    def openai_tool(self) -> dict[str, Any]:
        """This skill as an OpenAI tools-schema entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    @property
    def effect_free(self) -> bool:
        """True only for skills that declared `effects: none` (they may run on untrusted data)."""
        return self.effects == "none"


def parse_skill_md(text: str, where: str) -> tuple[dict[str, Any], str]:
    """Split SKILL.md into its YAML front matter and body."""
    if not text.startswith("---"):
        raise SkillRegistrationError(f"{where} has no YAML front matter; start it with '---'.")
    try:
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise SkillRegistrationError(f"{where} has unreadable front matter: {exc}.") from None
    if not isinstance(meta, dict):
        raise SkillRegistrationError(f"{where} front matter must be a mapping.")
    return meta, body.strip()


def _args_model(func: Callable[..., Any], name: str) -> type[BaseModel]:
    """A pydantic model of the function's parameters (all but `ctx`); refuses untyped ones."""
    sig = inspect.signature(func)
    try:
        hints = get_type_hints(func)
    except Exception as exc:
        raise SkillRegistrationError(f"Skill '{name}' has type hints that cannot be resolved: {exc}.") from None
    if "return" not in hints:
        raise SkillRegistrationError(f"Skill '{name}' must annotate its return type.")
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname == "ctx":
            continue
        if pname not in hints:
            raise SkillRegistrationError(f"Skill '{name}' parameter '{pname}' has no type hint; add one.")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hints[pname], default)
    model_name = "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Args"
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _path_args(func: Callable[..., Any], name: str) -> dict[str, PathArg]:
    """The parameters typed as paths (skills.paths); one that names a file without such a type is refused, so
    the registry confines every path a confined caller can pass."""
    hints = get_type_hints(func, include_extras=True)
    marks: dict[str, PathArg] = {}
    for pname in inspect.signature(func).parameters:
        if pname == "ctx":
            continue
        mark = path_arg(hints[pname])
        if mark is not None:
            marks[pname] = mark
        elif looks_like_a_path(pname, hints[pname]):
            raise SkillRegistrationError(
                f"Skill '{name}' parameter '{pname}' looks like a file path but is not typed as one; annotate it "
                "with a path type from skills.paths (ReadPath, WritePath, WriteFolder, AdapterPath) so confined "
                "callers cannot pass any path, or NotAPath if it does not name a file."
            )
    return {pname: mark for pname, mark in marks.items() if mark.access != "none"}


def build_skill(
    function: Callable[..., Any], meta: dict[str, Any], *, origin: str, version: str,
    path: Path | None = None, body: str = "",
) -> SkillInfo:
    """Validate metadata + function and return a SkillInfo."""
    name = meta.get("name") or ""
    description = (meta.get("description") or inspect.getdoc(function) or "").strip()
    if not name:
        raise SkillRegistrationError(f"Skill at {path or function} has no name in its front matter.")
    if not description:
        raise SkillRegistrationError(f"Skill '{name}' has no description; add one to SKILL.md.")
    permission = meta.get("permission", "read")
    if permission not in ("read", "train", "admin"):
        raise SkillRegistrationError(f"Skill '{name}' permission must be read, train or admin, not {permission!r}.")
    effects = _effects(meta, name, permission)
    try:
        declaration = parse_declaration(meta, f"Skill '{name}'")
    except ValueError as exc:
        raise SkillRegistrationError(f"{exc}.") from None
    args_model = _args_model(function, name)
    paths = _path_args(function, name)
    schema = _described(args_model.model_json_schema(), declaration.args, name)
    return SkillInfo(
        name=name, description=description, permission=permission, effects=effects, parameters=schema, origin=origin,
        version=version, path=path, body=body, long_running=bool(meta.get("long_running", False)),
        function=function, args_model=args_model, declaration=declaration, paths=paths,
    )


def _described(schema: dict[str, Any], descriptions: dict[str, str], name: str) -> dict[str, Any]:
    """The parameters' JSON Schema with the declared argument descriptions (what models and slash commands show)."""
    schema.pop("title", None)
    properties = schema.get("properties", {})
    unknown = sorted(set(descriptions) - set(properties))
    if unknown:
        raise SkillRegistrationError(f"Skill '{name}' describes arguments it does not take: {', '.join(unknown)}.")
    for arg, text in descriptions.items():
        properties[arg]["description"] = str(text).strip()
    return schema


def _effects(meta: dict[str, Any], name: str, permission: str) -> str:
    """The declared effects (default 'writes'); a skill that changes things may not be 'read'."""
    effects = meta.get("effects", "writes")
    if effects not in EFFECTS:
        raise SkillRegistrationError(f"Skill '{name}' effects must be none, writes or destructive, not {effects!r}.")
    if "effects" in meta and effects != "none" and permission == "read":
        raise SkillRegistrationError(
            f"Skill '{name}' declares effects '{effects}' with permission 'read'; "
            "a skill that changes things needs 'train' or 'admin'."
        )
    return effects


def load_skill_folder(folder: Path, *, origin: str, version: str) -> SkillInfo:
    """Import folder/skill.py and pair its one public function with folder/SKILL.md."""
    md = folder / "SKILL.md"
    if not md.is_file():
        raise SkillRegistrationError(f"Skill folder {folder} has no SKILL.md.")
    meta, body = parse_skill_md(md.read_text(encoding="utf-8"), str(md))
    module_name = f"selftune_skill_{origin.replace(':', '_').replace('-', '_')}_{folder.name}"
    spec = importlib.util.spec_from_file_location(module_name, folder / "skill.py")
    if spec is None or spec.loader is None:
        raise SkillRegistrationError(f"Skill folder {folder} has no skill.py.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    entry = meta.get("function")
    functions = [
        obj for fname, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module_name and not fname.startswith("_")
        and (entry is None or fname == entry)
    ]
    if len(functions) != 1:
        raise SkillRegistrationError(
            f"{folder / 'skill.py'} must define exactly one public function (or name it with 'function:')."
        )
    return build_skill(functions[0], meta, origin=origin, version=version, path=folder, body=body)


class SkillRegistry:
    """All skills known to this process, by name."""

    def __init__(self) -> None:
        self._skills: dict[str, SkillInfo] = {}
        self.errors: list[str] = []  # registration failures, shown by `doctor` and `skills list`

    def add(self, skill: SkillInfo) -> None:
        """Register a skill; a later origin with the same name replaces an earlier one only if builtin."""
        if skill.name in self._skills and self._skills[skill.name].origin != "builtin":
            log.warning("skill %s from %s ignored: name already taken", skill.name, skill.origin)
            return
        self._skills[skill.name] = skill

    def get(self, name: str) -> SkillInfo:
        """Look a skill up by name."""
        try:
            return self._skills[name]
        except KeyError:
            raise NotFound(f"There is no skill named '{name}'; `selftune skills list` shows them.") from None

    def __contains__(self, name: str) -> bool:
        return name in self._skills

    def all(self) -> list[SkillInfo]:
        """All skills sorted by name."""
        return sorted(self._skills.values(), key=lambda s: s.name)

    def validate_args(self, name: str, args: dict[str, Any]) -> BaseModel:
        """Check arguments against the skill's schema; the error names the skill and the field."""
        skill = self.get(name)
        try:
            return skill.args_model.model_validate(args)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "arguments"
            raise UsageError(f"Skill '{name}': argument '{field}' {err['msg'].lower()}.") from None

    def call(self, name: str, args: dict[str, Any], ctx: SkillContext) -> Any:
        """Run a skill after checking the requester's permission and the arguments; a confined caller's path
        arguments are confined here, the one place, before the skill runs (skills.paths)."""
        skill = self.get(name)
        if not ctx.requester.allows(skill.permission):
            raise PermissionDenied(
                f"'{name}' needs the '{skill.permission}' permission and {ctx.requester.user} has "
                f"'{ctx.requester.permission}'; ask an admin to add you to auth.{skill.permission}s."
            )
        parsed = self.validate_args(name, args)
        kwargs = {k: getattr(parsed, k) for k in type(parsed).model_fields}
        if ctx.confined and skill.paths:
            kwargs = confine_args(kwargs, skill.paths, ctx.settings)
        if "ctx" in inspect.signature(skill.function).parameters:
            kwargs["ctx"] = ctx
        return skill.function(**kwargs)


def _plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    return pm


def load_registry(pm: pluggy.PluginManager | None = None, workspace: Path | None = None) -> SkillRegistry:
    """Discover skills from entry points (built-in ones included) and workspace prompt overlays."""
    registry = SkillRegistry()
    if pm is None:
        pm = _plugin_manager()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                pm.register(ep.load(), name=f"{ep.dist.name if ep.dist else '?'}:{ep.name}")
            except Exception as exc:  # a broken third-party package must not take the assistant down
                registry.errors.append(f"entry point {ep.name}: {exc}")
                log.warning("cannot load skill entry point %s: %s", ep.name, exc)
    for plugin in pm.get_plugins():
        plugin_name = pm.get_name(plugin) or "unknown"
        dist = plugin_name.split(":")[0]
        origin = "builtin" if dist == "selftune" else f"entrypoint:{dist}"
        version = dist_version(dist)

        def register(item: Any, skill_md: dict[str, Any] | None = None, *, _origin=origin, _v=version) -> None:
            try:
                if isinstance(item, str | Path):
                    registry.add(load_skill_folder(Path(item), origin=_origin, version=_v))
                else:
                    registry.add(build_skill(item, skill_md or {}, origin=_origin, version=_v))
            except SkillRegistrationError as exc:
                registry.errors.append(str(exc))
                log.warning("%s", exc)

        hook = getattr(plugin, "register_skills", None)
        if hook is not None:
            hook(register=register)
    if workspace is not None:
        _apply_workspace_overlays(registry, workspace)
    return registry


def dist_version(dist: str) -> str:
    """The installed version of a distribution, or '0+local' for a checkout that was never installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+local"


def _apply_workspace_overlays(registry: SkillRegistry, workspace: Path) -> None:
    """Workspace overlays may change a skill's description, body and how it is reached (its examples are
    added to the skill's own): prompt and declaration only, never code."""
    composed: list[Path] = []
    for md in sorted((workspace / "skills").glob("*/SKILL.md")):
        try:
            meta, body = parse_skill_md(md.read_text(encoding="utf-8"), str(md))
            name = meta.get("name")
            if name not in registry:
                if "steps" in meta:  # a composed skill: existing skills in a fixed order (skills.composed)
                    composed.append(md.parent)
                continue
            skill = registry.get(name)
            update: dict[str, Any] = {"body": body or skill.body, "origin": skill.origin + "+workspace",
                                      "declaration": merge_overlay(skill.declaration, meta)}
        except (SkillRegistrationError, ValueError) as exc:
            registry.errors.append(f"{md}: {exc}")
            continue
        if meta.get("description"):
            update["description"] = str(meta["description"]).strip()
        registry._skills[name] = skill.model_copy(update=update)
    _add_composed(registry, composed)


def _add_composed(registry: SkillRegistry, folders: list[Path]) -> None:
    """Workspace skills that run installed ones in order; one that names an unknown step is reported, not added."""
    from skills.composed import load_composed  # it builds on this module's SkillInfo

    for folder in folders:
        try:
            registry.add(load_composed(folder, registry))
        except SkillRegistrationError as exc:
            registry.errors.append(str(exc))
