"""The router's dry-run understanding, handed to the improver (which may not import the agent) by name.

`RESOLVER` is what the agent's entry points (CLI, the improve.run skill, the nightly schedule) put into the
evaluator's configuration; the evaluator's process and the skill generator load it with the workspace checkout
they judge, so a proposal's workspace overlays are part of what the router sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config.settings import Settings
from improver.eval_config import EvalConfig, from_settings
from improver.skill_replay import Resolution, Resolve
from skills.registry import SkillRegistry, load_registry

RESOLVER = "agent.replay:checkout_resolver"
_NO_CHANNEL = "\x00replay"  # fit_args fills a channel parameter; a replay has none


def checkout_resolver(checkout: Path) -> Resolve:
    """How the router understands text with this workspace checkout's personas and skill overlays."""
    return router_resolver(checkout, load_registry(workspace=checkout))


def router_resolver(workspace: Path, registry: SkillRegistry) -> Resolve:
    """Text -> the skill, fitted arguments and first follow-up question the router's one action path would
    produce, with the grammar built from this registry's declarations; nothing is run."""
    from agent.dispatch import fit_args, missing_skill_args
    from agent.grammar import Grammar
    from skills.personas import list_personas

    personas = list_personas(workspace)
    grammar = Grammar(registry)

    def resolve(text: str) -> Resolution:
        intent = grammar.resolve(text, personas)
        if intent.skill is None or intent.skill not in registry:
            return Resolution()
        skill = registry.get(intent.skill)
        asks = next((f for f in skill.declaration.asks if not intent.args.get(f)), None)
        fitted: dict[str, Any] = fit_args(intent.args, skill, _NO_CHANNEL)
        missing = missing_skill_args(skill, fitted)
        args = {k: v for k, v in fitted.items() if v != _NO_CHANNEL}
        return Resolution(skill=skill.name, args=args, asks=asks or (missing[0] if missing else None))

    return resolve


def improver_config(settings: Settings, **overrides: object) -> EvalConfig:
    """The evaluator's configuration with the router named for skill targets (unless evaluator.toml names one)."""
    cfg = from_settings(settings, **overrides)
    return cfg if cfg.skill_resolver else cfg.model_copy(update={"skill_resolver": RESOLVER})
