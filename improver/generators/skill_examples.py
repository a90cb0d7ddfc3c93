"""Skill proposals learned from the owner's traffic: example phrasings, and composed skills for repeated sequences.

From the consented conversation log (`improver.skill_traffic`), the phrasings that failed before a rephrase
reached skill:NAME become `examples` in a workspace overlay `skills/<NAME>/SKILL.md`, with the values the person
used replaced by `{argument}` placeholders. A sequence of skills the same person ran on a shared argument at
least MIN_REPEATS times (tune -> eval on one persona) becomes a composed workspace skill: a SKILL.md with
`steps:` only, never Python. It never reads the evaluator's held-out requests.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from config.settings import Settings
from config.workspace import open_workspace
from improver.journal import JournalEntry
from improver.proposals import Draft, rationale_of
from improver.skill_replay import Action, ResolverFactory
from improver.skill_traffic import MIN_REPEATS, Chain, Traffic, load_traffic
from skills.registry import SkillRegistrationError, parse_skill_md

MAX_NEW_EXAMPLES = 8  # per proposal: small changes are easier to judge and to undo


class SkillExamplesGenerator:
    """Proposes examples for skill:NAME, or a composed skill named after a repeated sequence."""

    name = "skill-examples"

    def __init__(self, settings: Settings, factory: ResolverFactory) -> None:
        self.settings = settings
        self.factory = factory

    def traffic(self) -> Traffic:
        """The log's chains, resolved the way the router understands the current workspace."""
        improver = self.settings.improver
        resolve = self.factory(open_workspace(self.settings).path)
        return load_traffic(self.settings.db_path, improver.replay_days, improver.rephrase_window_s, resolve)

    def targets(self) -> list[str]:
        """skill:NAME for every skill with failed phrasings, and every composed skill worth proposing."""
        traffic = self.traffic()
        named = {c.action.skill for c in traffic.chains if _phrasings(c)}
        return [f"skill:{n}" for n in sorted(named | set(composed_candidates(traffic)))]

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        """The overlay with new examples, or the composed skill's SKILL.md; None when the log offers nothing new."""
        kind, _, name = target.partition(":")
        if kind != "skill":
            return None
        traffic = self.traffic()
        composed = composed_candidates(traffic)
        draft = self._composed(target, name, composed[name]) if name in composed else self._examples(target, name, traffic)
        if draft is None or _tried(self.settings, history, draft.rationale):
            return None
        return draft

    def _examples(self, target: str, name: str, traffic: Traffic) -> Draft | None:
        ws = open_workspace(self.settings)
        rel, meta, body = _overlay(ws.path, name)
        known = [str(e) for e in meta.get("examples") or []]
        new = [p for c in traffic.chains if c.action.skill == name for p in _phrasings(c)]
        new = list(dict.fromkeys(p for p in new if p not in known))[:MAX_NEW_EXAMPLES]
        if not new:
            return None
        meta = {"name": name, **meta, "examples": known + new}
        return Draft(target=target, changes={rel: _skill_md(meta, body)}, generator=self.name,
                     rationale="New examples from failed requests the owner rephrased: " + " | ".join(new))

    def _composed(self, target: str, name: str, meta: dict[str, Any]) -> Draft | None:
        rel = f"skills/{name}/SKILL.md"
        text = _skill_md(meta, "Composed by the improver from a sequence you ran repeatedly.")
        path = open_workspace(self.settings).path / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return None
        steps = " -> ".join(s["skill"] for s in meta["steps"])
        return Draft(target=target, changes={rel: text}, generator=self.name,
                     rationale=f"Composed skill for the repeated sequence {steps}; examples: {meta['examples']}")

    def feedback(self, proposal: Any, verdict: Any) -> None:
        """Nothing to learn in-process: the journal keeps what was tried."""


def _tried(settings: Settings, history: list[JournalEntry], rationale: str) -> bool:
    """The same proposal was already judged and not kept: proposing it again would change nothing."""
    return any(e.verdict != "accepted" and e.proposal_id and rationale_of(settings, e.proposal_id) == rationale
               for e in history)


def _overlay(workspace: Any, name: str) -> tuple[str, dict[str, Any], str]:
    """(path, front matter, body) of the workspace overlay of a skill; a new one if there is none."""
    for md in sorted((workspace / "skills").glob("*/SKILL.md")):
        try:
            meta, body = parse_skill_md(md.read_text(encoding="utf-8"), str(md))
        except SkillRegistrationError:
            continue
        if meta.get("name") == name:
            return md.relative_to(workspace).as_posix(), meta, body
    return f"skills/{name}/SKILL.md", {"name": name}, ""


def _skill_md(meta: dict[str, Any], body: str) -> str:
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=120)
    return f"---\n{front}---\n{body}\n" if body else f"---\n{front}---\n"


def _phrasings(chain: Chain) -> list[str]:
    """The chain's failed requests as examples: commands are left out, values become {placeholders}."""
    return [template(text, chain.action) for text in chain.failed
            if not text.lstrip().startswith(("!", "/")) and "{" not in text and "}" not in text]


def template(text: str, action: Action, names: dict[str, str] | None = None) -> str:
    """The text with each argument value the person used replaced by its {placeholder} (longest values first)."""
    names = names or {k: k for k in action.args}
    pairs = sorted(((str(v), names[k]) for k, v in action.args.items() if k in names and isinstance(v, str) and len(v) > 1),
                   key=lambda p: -len(p[0]))
    out = " ".join(text.split())
    for value, placeholder in pairs:
        out = re.sub(rf"(?<![\w/.-]){re.escape(value)}(?![\w/-])", "{" + placeholder + "}", out, flags=re.I)
    return out


def composed_candidates(traffic: Traffic) -> dict[str, dict[str, Any]]:
    """Front matter of a composed skill for each sequence run at least MIN_REPEATS times, by its name."""
    found: dict[str, dict[str, Any]] = {}
    for sequence, count in traffic.sequences().items():
        if count < MIN_REPEATS:
            continue
        chains = [c for c in traffic.chains if not c.follows and tuple(a.skill for a in c.actions) == sequence]
        name = "-then-".join(s.split(".")[0] for s in sequence)
        found[name] = _composed_meta(name, chains, count)
    return found


def _composed_meta(name: str, chains: list[Chain], count: int) -> dict[str, Any]:
    steps = [{"skill": a.skill, "args": {k: _mapping(chains, j, k) for k in a.args}}
             for j, a in enumerate(chains[-1].actions)]
    params = {k: k for k, v in chains[-1].action.args.items() if steps[0]["args"].get(k) == "{" + k + "}"}
    examples = [template(t, c.action, params) for c in chains for t in c.failed
                if not t.lstrip().startswith(("!", "/")) and "{" not in t and "}" not in t]
    if not examples:  # nobody asked for it in one request: a plain phrasing the replay will only reward if used
        examples = [" then ".join(s["skill"].split(".")[0] for s in steps) + "".join(f" {{{p}}}" for p in params)]
    sequence = ", then ".join(s["skill"] for s in steps)
    return {"name": name, "description": f"Runs {sequence} (a sequence you ran {count} times).",
            "examples": list(dict.fromkeys(examples)), "steps": steps}


def _mapping(chains: list[Chain], step: int, key: str) -> Any:
    """A step argument: a placeholder for a value that varies or that a later step reuses (named after the first
    step's argument), else the literal every run used."""
    values = [c.actions[step].args.get(key) for c in chains]
    if step > 0:
        shared = next((k for k in chains[-1].action.args
                       if all(v is not None and c.action.args.get(k) == v for c, v in zip(chains, values, strict=True))), None)
        if shared is not None:
            return "{" + shared + "}"
    elif any(all(c.action.args.get(key) in c.actions[j].args.values() for c in chains)
             for j in range(1, len(chains[-1].actions))):
        return "{" + key + "}"
    return values[0] if len({str(v) for v in values}) == 1 else "{" + key + "}"
