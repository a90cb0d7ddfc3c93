"""A stand-in for routing from SKILL.md `examples` (arriving with the declaration-driven router): a workspace
overlay's examples are matched as exact phrasings, `{argument}` placeholders taking one word each; anything
else goes to today's router (`agent.replay`). Loaded by name, in the evaluator's process too."""

from __future__ import annotations

import re
from pathlib import Path

from agent.replay import checkout_resolver
from improver.skill_replay import Resolution, Resolve, composed_specs
from skills.registry import load_registry, parse_skill_md

REF = "tests.improver.skill_stub:factory"


def _pattern(example: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", " ".join(example.split()))
    body = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>\\S+)" for i, p in enumerate(parts))
    return re.compile(body, re.I)


def factory(checkout: Path) -> Resolve:
    """Overlay examples first, then the router as it is today."""
    fallback, registry, specs = checkout_resolver(checkout), load_registry(workspace=checkout), composed_specs(checkout)
    phrasings: list[tuple[re.Pattern[str], str, list[str]]] = []
    for md in sorted((checkout / "skills").glob("*/SKILL.md")):
        meta, _ = parse_skill_md(md.read_text(encoding="utf-8"), str(md))
        name = meta["name"]
        needed = specs[name].placeholders() if name in specs else (
            registry.get(name).parameters.get("required", []) if name in registry else [])
        phrasings += [(_pattern(str(e)), name, needed) for e in meta.get("examples") or []]

    def resolve(text: str) -> Resolution:
        said = " ".join(text.split()).rstrip("?!.")
        for pattern, name, needed in phrasings:
            match = pattern.fullmatch(said)
            if match:
                args = match.groupdict()
                return Resolution(skill=name, args=args, asks=next((n for n in needed if n not in args), None))
        return fallback(text)

    return resolve
