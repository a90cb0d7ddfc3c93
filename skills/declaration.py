"""How a skill is reached, declared in its SKILL.md front matter beside name, description and permission.

One declaration per skill: the router's grammar, `!`/slash commands, the voice matcher's verbs, the
follow-up questions, the confirmation sentence and the argument descriptions a model sees are all built
from these fields (agent/grammar.py reads them), so a built-in, an entry-point and a workspace skill are
reached the same way and nobody edits Python tables to add a phrasing. docs/skills.md has a full example.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PLACEHOLDER = re.compile(r"\{(\w+)\}")


class LastPersona(BaseModel):
    """'export it', 'roll it back': the argument that names a persona, remembered per channel;
    `fill` also fills it from the last named one when the request leaves it out."""

    model_config = ConfigDict(extra="forbid")

    arg: str
    fill: bool = True


class Voice(BaseModel):
    """Spoken forms of the verb the loose voice matcher may hear, and the words the mended text uses.

    Declared only where a misheard match may run (never for what only erases: a loose match must not
    reach forget or delete)."""

    model_config = ConfigDict(extra="forbid")

    verbs: list[str]
    say: str


class Declaration(BaseModel):
    """The routing part of a SKILL.md front matter (all optional: a skill without `intent` is a tool only)."""

    model_config = ConfigDict(extra="forbid")

    intent: str | None = None  # the name replies, logs and follow-ups use; skills may share one (see `when`)
    examples: list[str] = Field(default_factory=list)  # phrasings that must reach it; {arg} placeholders capture
    patterns: list[str] = Field(default_factory=list)  # regexes on the normalized text, for what examples can't say
    extract: str | None = None  # a named argument finder of the grammar (agent.intents), else the placeholders
    order: int = 1000  # patterns are tried in this order (lower first); examples are exact and tried first
    when: dict[str, list[str]] = Field(default_factory=dict)  # among skills of one intent: the arguments that pick it
    command: list[str] = Field(default_factory=list)  # `!word` / `/word`; the first names the slash command
    command_arg: str | None = None  # a command's free first word fills this argument when nothing else did
    asks: dict[str, str] = Field(default_factory=dict)  # required argument -> its follow-up question, in order
    confirm: str | None = None  # what will happen, with {arg} placeholders; asked before a call with effects
    describe: str | None = None  # "module:function" that computes the sentence (and whether to ask) instead
    confirm_in: list[str] = Field(default_factory=lambda: ["chat", "mcp"])  # where `describe` may ask
    last_persona: LastPersona | None = None
    voice: Voice | None = None
    args: dict[str, str] = Field(default_factory=dict)  # argument -> the description models and slash commands show

    @field_validator("when", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        """`when: {action: list}` is `when: {action: [list]}`."""
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    @field_validator("asks", mode="before")
    @classmethod
    def _generic_questions(cls, value: Any) -> Any:
        """`asks: [adapter]`: required, asked with the generic question for that argument."""
        return dict.fromkeys(value, "") if isinstance(value, list) else value

    @field_validator("last_persona", mode="before")
    @classmethod
    def _arg_name(cls, value: Any) -> Any:
        """`last_persona: adapter` is `last_persona: {arg: adapter}`."""
        return {"arg": value} if isinstance(value, str) else value

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({exc})") from None
        return patterns

    def selects(self, args: dict[str, Any]) -> bool:
        """Whether the understood arguments pick this skill among the skills of its intent."""
        return all(str(args.get(key, values[0])) in values for key, values in self.when.items())


ROUTING_KEYS = tuple(Declaration.model_fields)


def parse_declaration(meta: dict[str, Any], where: str) -> Declaration:
    """The routing fields of a front matter; one sentence naming the file and the field when one is wrong."""
    try:
        return Declaration.model_validate({k: v for k, v in meta.items() if k in ROUTING_KEYS})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "front matter"
        raise ValueError(f"{where}: '{field}' {err['msg'].lower()}") from None


def merge_overlay(base: Declaration, overlay: dict[str, Any]) -> Declaration:
    """A workspace overlay's routing fields over a skill's own: examples are added, anything else replaces."""
    extra = [e for e in overlay.get("examples") or [] if isinstance(e, str) and e not in base.examples]
    update = {k: v for k, v in overlay.items() if k in ROUTING_KEYS}
    return parse_declaration({**base.model_dump(exclude_defaults=True), **update,
                              "examples": [*base.examples, *extra]}, "workspace overlay")
