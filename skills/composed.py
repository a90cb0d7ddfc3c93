"""Composed skills: a workspace SKILL.md whose `steps:` run existing skills in a fixed order, no Python of its own.

    ---
    name: train-then-eval
    description: Train a persona on its usual data, then evaluate the new adapter.
    examples: ["do the usual for {persona}"]
    steps:
      - skill: train.submit
        args: {persona: "{persona}", dataset: data/pirate.jsonl}
      - skill: eval.run
        args: {adapter: "{persona}"}
    ---

A step argument is a literal or a template: `"{persona}"` alone passes the composed skill's argument as it is,
`"{persona}-v2"` formats it into text. The composed skill's parameters are the placeholders its steps use. It
needs the strictest permission of its steps and declares the strongest of their effects, so it is never easier
to run than what it runs. The improver writes these files; the registry turns them into skills (`load_composed`).
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from config.errors import SelftuneError
from skills.context import SkillContext
from skills.declaration import ROUTING_KEYS, Declaration, parse_declaration
from skills.registry import EFFECTS, SkillInfo, SkillRegistrationError, SkillRegistry, parse_skill_md

PERMISSIONS = ("read", "train", "admin")  # weakest first
_WHOLE = re.compile(r"^\{(\w+)\}$")


class Step(BaseModel):
    """One skill call of a composed skill, with its argument mapping."""

    model_config = ConfigDict(extra="forbid")
    skill: str = Field(description="The registered skill this step runs.")
    args: dict[str, Any] = Field(default_factory=dict, description="Parameter -> literal or '{placeholder}' template.")


class ComposedSpec(BaseModel):
    """A composed skill's front matter (other keys, e.g. `intent` or `asks`, are left to the registry)."""

    model_config = ConfigDict(extra="allow")
    name: str
    description: str
    examples: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    def placeholders(self) -> list[str]:
        """The composed skill's parameters: every placeholder its steps use, in order of first use."""
        names: list[str] = []
        for step in self.steps:
            for value in step.args.values():
                names.extend(n for n in _fields(value) if n not in names)
        return names


def _fields(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    return [name for _, name, _, _ in string.Formatter().parse(value) if name]


def is_composed(meta: dict[str, Any]) -> bool:
    """Whether a SKILL.md front matter declares a composed skill (it has `steps:`)."""
    return "steps" in meta


def read_spec(folder: Path) -> ComposedSpec:
    """The composed skill declared in folder/SKILL.md; an unreadable one is a registration error."""
    md = folder / "SKILL.md"
    meta, _ = parse_skill_md(md.read_text(encoding="utf-8"), str(md))
    try:
        return ComposedSpec.model_validate(meta)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SkillRegistrationError(f"{md}: '{'.'.join(map(str, err['loc']))}' {err['msg'].lower()}.") from None


def expand(spec: ComposedSpec, args: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(skill, arguments) of every step for these composed arguments; a missing one raises KeyError."""
    return [(step.skill, {key: _fill(value, args) for key, value in step.args.items()}) for step in spec.steps]


def _fill(value: Any, args: dict[str, Any]) -> Any:
    if not isinstance(value, str) or not _fields(value):
        return value
    whole = _WHOLE.match(value)
    return args[whole.group(1)] if whole else value.format(**args)


def load_composed(folder: Path, registry: SkillRegistry) -> SkillInfo:
    """A SkillInfo that runs folder/SKILL.md's steps through `registry`, stopping at the first failing step."""
    spec = read_spec(folder)
    steps = [_known(registry, spec, step.skill) for step in spec.steps]
    permission = max((s.permission for s in steps), key=PERMISSIONS.index)
    effects = max((s.effects for s in steps), key=EFFECTS.index)
    args_model = create_model(
        "".join(p.capitalize() for p in re.split(r"\W+", spec.name) if p) + "Args",
        __config__=ConfigDict(extra="forbid"), **{name: (str, ...) for name in spec.placeholders()})
    schema = args_model.model_json_schema()
    schema.pop("title", None)

    def run_steps(*, ctx: SkillContext, **args: Any) -> dict[str, Any]:
        return run_composed(spec, registry, args, ctx)

    return SkillInfo(name=spec.name, description=spec.description, permission=permission, effects=effects,
                     parameters=schema, origin="workspace", version="workspace", path=folder,
                     long_running=any(s.long_running for s in steps), function=run_steps, args_model=args_model,
                     declaration=_declaration(spec, effects))


def _declaration(spec: ComposedSpec, effects: str) -> Declaration:
    """Routed like any skill: its own intent and examples; one sentence naming every step before it runs."""
    declared = {k: v for k, v in (spec.model_extra or {}).items() if k in ROUTING_KEYS}
    shown = ", ".join(f"{name}={{{name}}}" for name in spec.placeholders())
    steps = ", then ".join(step.skill for step in spec.steps)
    confirm = f"This will run {steps}" + (f" ({shown})." if shown else ".") if effects != "none" else None
    try:
        return parse_declaration({"intent": spec.name, "confirm": confirm, **declared, "examples": spec.examples},
                                 f"Composed skill '{spec.name}'")
    except ValueError as exc:
        raise SkillRegistrationError(f"{exc}.") from None


def _known(registry: SkillRegistry, spec: ComposedSpec, name: str) -> SkillInfo:
    if name not in registry or name == spec.name:
        raise SkillRegistrationError(f"Composed skill '{spec.name}' runs '{name}', which is not an installed skill.")
    return registry.get(name)


def run_composed(spec: ComposedSpec, registry: SkillRegistry, args: dict[str, Any], ctx: SkillContext) -> dict[str, Any]:
    """Call each step with its mapped arguments (permission checked per step); stop at the first error."""
    results: list[dict[str, Any]] = []
    for skill, step_args in expand(spec, args):
        try:
            results.append({"skill": skill, "result": registry.call(skill, step_args, ctx)})
        except SelftuneError as exc:  # expected failures end the sequence; bugs propagate as in any skill
            results.append({"skill": skill, "error": str(exc)})
            return {"ok": False, "steps": results,
                    "message": f"{spec.name} stopped at {skill} (step {len(results)} of {len(spec.steps)}): {exc}"}
    done = ", ".join(r["skill"] for r in results)
    return {"ok": True, "steps": results, "message": f"{spec.name} ran {done}."}
