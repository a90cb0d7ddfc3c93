"""Understanding text as (skill, arguments), with rules built from the skills' own declarations.

Every skill's SKILL.md says how it is reached (skills.declaration): `examples` become exact rules (their
{arg} placeholders capture), `patterns` are regular expressions for what examples can't say, `command`
words answer `!word`, and `when` picks one skill among those sharing an intent. Built-in, entry-point and
workspace skills are read the same way, so adding a phrasing is a SKILL.md edit, never a Python table.
The grammar stays conservative: a request needs its verb at the start (after politeness is stripped) or
an unambiguous phrase; everything else is chat for the model.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from agent.intents import CONTROL_COMMANDS, CONTROL_ORDER, CONTROLS, EXTRACTORS, Extractor, Intent, normalize
from config.settings import Permission
from skills.declaration import PLACEHOLDER
from skills.registry import SkillInfo, SkillRegistry, load_registry

# What a placeholder in an example may match (anything else: some words).
_SLOTS = {"persona": r"[a-z0-9][\w-]*", "adapter": r"[a-z0-9][\w/-]*", "job": r"[0-9a-z][\w-]*",
          "dataset": r"(?:<#\d+>|#[\w-]+|[\w./~-]+)", "at": r"\d{1,2}(?::\d\d)? ?(?:am|pm)?"}


class Rule(NamedTuple):
    """One way to reach an intent: a pattern on the normalized text, the finder for its arguments."""

    intent: str
    pattern: re.Pattern[str]
    extract: Extractor | None
    order: float
    skill: str | None  # the declaring skill (None for a conversation control)
    from_example: bool = False


def example_pattern(example: str) -> re.Pattern[str]:
    """An exact rule from an example phrasing: its words as normalized text, each {arg} a named group."""
    marked = PLACEHOLDER.sub(lambda m: f" zzslot{m.group(1)}zz ", example)
    words = normalize(marked)
    regex = re.escape(words)
    for name in PLACEHOLDER.findall(example):
        regex = regex.replace(re.escape(f"zzslot{name}zz"), f"(?P<{name}>{_SLOTS.get(name, r'.+?')})", 1)
    return re.compile(f"^{regex}$")


def _skill_rules(skill: SkillInfo) -> list[Rule]:
    decl = skill.declaration
    if decl.intent is None:
        return []
    finder = EXTRACTORS.get(decl.extract) if decl.extract else None
    rules = [Rule(decl.intent, example_pattern(e), finder, 0, skill.name, True) for e in decl.examples]
    rules += [Rule(decl.intent, re.compile(p), finder, decl.order, skill.name) for p in decl.patterns]
    return rules


class Grammar:
    """The rules of every registered skill and the two controls, ordered, plus what they share by intent."""

    def __init__(self, registry: SkillRegistry) -> None:
        skills = [s for s in registry.all() if s.declaration.intent]
        controls = [Rule(name, pattern, finder, CONTROL_ORDER, None) for name, pattern, finder in CONTROLS]
        rules = [rule for skill in skills for rule in _skill_rules(skill)]
        self.rules = sorted([*rules, *controls], key=lambda r: r.order)  # stable: declaration order within a tie
        self.by_intent: dict[str, list[SkillInfo]] = {}
        for skill in skills:
            self.by_intent.setdefault(str(skill.declaration.intent), []).append(skill)
        self.skills = {s.name: s for s in skills}
        self.commands: dict[str, SkillInfo] = {word: s for s in skills for word in s.declaration.command}

    def skill_for(self, intent: str, args: dict[str, Any]) -> SkillInfo | None:
        """The skill of `intent` the arguments select (a skill without `when` takes whatever is left)."""
        candidates = sorted(self.by_intent.get(intent, []), key=lambda s: not s.declaration.when)
        return next((s for s in candidates if s.declaration.selects(args)), None)

    def permission(self, skill: str | None) -> Permission:
        """What running `skill` needs; the controls and chat need only read."""
        found = self.skills.get(skill) if skill else None
        return found.permission if found else "read"

    def voices(self) -> dict[str, tuple[tuple[str, ...], str]]:
        """intent -> (spoken forms of its verb, the form a mended transcript uses), for the voice matcher."""
        return {str(s.declaration.intent): (tuple(s.declaration.voice.verbs), s.declaration.voice.say)
                for s in self.skills.values() if s.declaration.voice is not None}

    def intent(self, name: str, args: dict[str, Any], source: str) -> Intent:
        """An Intent for `name` with the skill its arguments select."""
        skill = self.skill_for(name, args)
        return Intent(name=name, args=args, source=source, skill=skill.name if skill else None)

    def understood(self, name: str, args: dict[str, Any]) -> Intent:
        """A request that arrived understood (slash command, button): a control, or the skill `args` select."""
        args = {k: v for k, v in args.items() if v not in (None, "")}
        if name in CONTROL_COMMANDS.values() or name in ("chat", "persona"):
            return Intent(name=name, args=args, source="command")
        return self.intent(name, args, "command")

    def parse_command(self, text: str, personas: list[str]) -> Intent | None:
        """`!tune pirate`, `/status 12`: the first word names the skill, the rest is read like the grammar's
        arguments (`key=value` pairs win; the declared `command_arg` gets the first free word, or all of the free
        text when the skill declares no finder)."""
        match = re.match(r"^\s*[!/]([a-z_-]+)\b\s*(.*)$", text.strip(), re.IGNORECASE | re.DOTALL)
        word = match.group(1).lower() if match else ""
        if not match or (word not in self.commands and word not in CONTROL_COMMANDS):
            return None
        if word in CONTROL_COMMANDS:
            return Intent(name=CONTROL_COMMANDS[word], source="command")
        decl = self.commands[word].declaration
        rest = match.group(2).strip()
        args: dict[str, Any] = dict(re.findall(r"(\w+)=(\S+)", rest))
        free = re.sub(r"\w+=\S+", " ", rest).strip()
        finder = EXTRACTORS.get(decl.extract) if decl.extract else None
        if free and finder is not None:
            guessed = finder(normalize(free), free, personas)
            if decl.command_arg and not guessed.get(decl.command_arg):
                guessed[decl.command_arg] = free.split()[0]
            args = {**guessed, **args}
        elif free and decl.command_arg:  # no finder: the free text is the argument (`!note call mum`)
            args.setdefault(decl.command_arg, free)
        return self.intent(str(decl.intent), args, "command")

    def resolve(self, text: str, personas: list[str] | None = None) -> Intent:
        """Explicit command, else the first rule that matches; 'chat' when none does."""
        personas = personas or []
        command = self.parse_command(text, personas)
        if command is not None:
            return command
        norm = normalize(text)
        for rule in self.rules:
            match = rule.pattern.search(norm)
            if match:
                args = rule.extract(norm, text, personas) if rule.extract else {}
                if rule.from_example:
                    args = {**args, **_captured(rule.pattern, match, text)}
                if rule.skill is None:
                    return Intent(name=rule.intent, args=args, source="grammar")
                if rule.from_example and self.skills[rule.skill].declaration.selects(args):  # it names its skill
                    return Intent(name=rule.intent, args=args, source="example", skill=rule.skill)
                return self.intent(rule.intent, args, "grammar")
        return Intent(name="chat", source="none")


def _captured(pattern: re.Pattern[str], match: re.Match[str], raw: str) -> dict[str, Any]:
    """An example's placeholders: from the text as typed when it matches that way (free text keeps its case)."""
    found = {k: v.strip() for k, v in match.groupdict().items() if v and v.strip()}
    as_typed = re.search(pattern.pattern.lstrip("^").rstrip("$") + r"[\s.!?]*$", raw.strip(), re.IGNORECASE)
    typed = {k: v.strip() for k, v in (as_typed.groupdict() if as_typed else {}).items() if v}
    return {k: typed[k] if typed.get(k, "").lower() == v else v for k, v in found.items()}


@lru_cache(maxsize=1)
def default_grammar() -> Grammar:
    """The grammar of the installed skills (built-in and entry points), for callers without a router."""
    return Grammar(load_registry())


def resolve(text: str, personas: list[str] | None = None, grammar: Grammar | None = None) -> Intent:
    """The intent of `text` under `grammar` (default: the installed skills')."""
    return (grammar or default_grammar()).resolve(text, personas)
