"""How the router understands a request, as the improver sees it: an injected dry-run resolver, and the score.

The improver may not import the agent (layers: agent > improver), so the router reaches it as a reference:
`EvalConfig.skill_resolver` names a factory 'module:function' that takes a workspace checkout and returns a
`Resolve` (text -> `Resolution`, nothing run). The agent names its own (`agent.replay`); the evaluator's
process and the skill generator load it by that name, each with the checkout it judges.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from config.errors import ConfigError
from skills.composed import ComposedSpec, expand, is_composed
from skills.registry import SkillRegistrationError, parse_skill_md


class Resolution(BaseModel):
    """What the router would do with a text: the skill and arguments, and the follow-up it would ask, if any."""

    skill: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    asks: str | None = Field(None, description="The field a follow-up question would ask for.")


Resolve = Callable[[str], Resolution]
ResolverFactory = Callable[[Path], Resolve]  # a workspace checkout -> how the router understands text there


class Action(BaseModel):
    """One skill call a person ended up running or confirming."""

    model_config = ConfigDict(frozen=True)
    skill: str
    args: dict[str, Any] = Field(default_factory=dict)

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Comparable form: the skill and its non-empty arguments as text (the channel is where, not what)."""
        shown = {k: str(v) for k, v in self.args.items() if v not in (None, "") and k != "channel"}
        return self.skill, tuple(sorted(shown.items()))


class ReplayItem(BaseModel):
    """One replayed request and what it should reach: the actions that followed it (none: plain chat)."""

    text: str
    actions: list[Action] = Field(default_factory=list)
    source: str = "log"


def resolver_factory(ref: str) -> ResolverFactory:
    """Import the factory named 'module:function'; a missing or wrong name is one clear sentence."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError("No router resolver is configured for skill targets (evaluator setting skill_resolver, "
                          "'module:function'); run the improver through `selftune improve run`.")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"The skill resolver '{ref}' cannot be loaded ({exc}).") from None


def composed_specs(checkout: Path) -> dict[str, ComposedSpec]:
    """The composed skills a workspace checkout declares (skills/*/SKILL.md with steps), by name."""
    specs: dict[str, ComposedSpec] = {}
    for md in sorted((checkout / "skills").glob("*/SKILL.md")):
        try:
            meta, _ = parse_skill_md(md.read_text(encoding="utf-8"), str(md))
            if is_composed(meta):
                spec = ComposedSpec.model_validate(meta)
                specs[spec.name] = spec
        except (SkillRegistrationError, ValueError):
            continue  # a broken file is the format check's to report; it routes nowhere here
    return specs


def steps_of(resolution: Resolution, specs: dict[str, ComposedSpec]) -> list[Action] | None:
    """The actions a resolution would run (a composed skill's steps), or None if its arguments are incomplete."""
    if resolution.skill is None:
        return []
    spec = specs.get(resolution.skill)
    if spec is None:
        return [Action(skill=resolution.skill, args=resolution.args)]
    try:
        return [Action(skill=s, args=a) for s, a in expand(spec, resolution.args)]
    except (KeyError, IndexError, ValueError):
        return None


def reaches(resolution: Resolution, specs: dict[str, ComposedSpec], expected: list[Action]) -> bool:
    """True when the request reaches what the person ran with no extra question: no skill for plain chat,
    else the first action (a composed skill: the first actions, in the order they were run)."""
    if not expected:
        return resolution.skill is None
    steps = steps_of(resolution, specs)
    if resolution.asks is not None or not steps or len(steps) > len(expected):
        return False
    return [s.key() for s in steps] == [e.key() for e in expected[:len(steps)]]
