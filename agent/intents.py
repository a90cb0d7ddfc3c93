"""The grammar's vocabulary: text normalization, argument finders, and the two conversation controls.

Which phrasings reach which skill is declared by each skill (SKILL.md `patterns`, `examples`, `command`,
`extract`); agent/grammar.py builds the rules from the registry. What lives here is shared by all of them:
`normalize` (greetings and politeness in several languages stripped, keyword typos fixed), the named
argument finders a declaration's `extract` refers to, and the two controls that act on the conversation
rather than call a skill: help, and talking as a persona.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field


class Intent(BaseModel):
    """What a message asks for: an intent (or 'chat'), the skill that serves it, its arguments, and how it was
    recognised."""

    name: str = "chat"
    args: dict[str, Any] = Field(default_factory=dict)
    source: str = "none"  # command | grammar | example | followup | fuzzy | llm | upload | none
    skill: str | None = None  # None for chat and the conversation controls (help, persona)


# Greetings and politeness that may precede or follow a request, in a few languages.
_LEADING = [
    "hey", "hi", "hello", "yo", "ok", "okay", "so", "now", "alright", "hola", "bonjour", "hallo", "ciao", "oi",
    "please", "pls", "plz", "kindly", "bitte", "por favor", "s'il te plait", "s'il vous plait", "svp",
    "per favore", "por favor", "onegai", "пожалуйста", "could you", "can you", "would you", "will you",
    "could u", "can u", "i want to", "i wanna", "i'd like to", "i would like to", "i need to", "i need you to",
    "let's", "lets", "go ahead and", "quickly", "just", "kannst du", "peux-tu", "puedes", "selftune",
]
_TRAILING = ["please", "pls", "thanks", "thank you", "thx", "bitte", "danke", "gracias", "merci", "grazie",
             "por favor", "svp", "s'il te plait", "now", "asap"]
_LEAD_RE = re.compile(r"^(?:" + "|".join(re.escape(w) for w in sorted(_LEADING, key=len, reverse=True)) + r")\b[\s,!.:]*")
_TRAIL_RE = re.compile(r"[\s,!.]*\b(?:" + "|".join(re.escape(w) for w in _TRAILING) + r")[\s!.?]*$")

# Keywords that tolerate one typo (transposition, or one missing/extra letter in longer words).
_KEYWORDS = ["tune", "train", "training", "finetune", "retrain", "status", "cancel", "abort", "evaluate",
             "export", "schedule", "rollback", "collect", "collecting", "forget", "help", "adapter", "persona",
             "progress", "recording", "dataset", "schedules", "adapters", "personas", "datasets"]
_NOT_TYPOS = {"rain", "brain", "strain", "tone", "stats", "state", "statue", "helps", "hello", "tunes",
              "trains", "expert", "helm", "hemp", "collects"}


def _typo_of(word: str, key: str) -> bool:
    if abs(len(word) - len(key)) > 1 or len(word) < 4 or word in _NOT_TYPOS:
        return False
    if len(word) == len(key):  # one adjacent transposition only (no substitutions: they make real words)
        diff = [i for i in range(len(word)) if word[i] != key[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == key[diff[1]] and word[diff[1]] == key[diff[0]]
    if min(len(word), len(key)) < 5:
        return False
    longer, shorter = (word, key) if len(word) > len(key) else (key, word)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))


def _fix_typos(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in _KEYWORDS:
            return word
        return next((key for key in _KEYWORDS if _typo_of(word, key)), word)

    return re.sub(r"[a-z]+", fix, text)


def normalize(text: str) -> str:
    """Lowercase, strip accents, mentions, greetings and politeness, and fix keyword typos."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    text = re.sub(r"<@!?\d+>|^@[\w-]+", " ", text.lower())
    text = text.replace("\u2019", "'").replace("fine-tune", "finetune").replace("fine tune", "finetune")
    text = re.sub(r"\s+", " ", text).strip(" ,")
    text = _fix_typos(text)
    previous = None
    while previous != text:
        previous = text
        text = _LEAD_RE.sub("", text).strip()
        text = _TRAIL_RE.sub("", text).strip()
    return text.rstrip("?!. ")


# --- argument extraction -------------------------------------------------------------------------------

_FILLER = {"a", "an", "the", "my", "our", "new", "this", "that", "it", "me", "some", "your", "its", "latest",
           "last", "current", "lora", "qlora", "dpo", "kto", "full", "job", "training", "adapter", "persona", "model",
           "run", "for", "of", "on", "with", "to", "is", "how", "what", "whats", "what's", "how's", "hows", "and"}


def _word(value: str | None) -> str | None:
    return value if value and value not in _FILLER else None


def find_persona(text: str, personas: list[str]) -> str | None:
    """A persona named in the text: a known persona, or '<name> persona|adapter|model|job|bot'."""
    for name in personas:
        if re.search(rf"\b{re.escape(name.lower())}\b", text):
            return name
    match = re.search(r"\b([a-z][\w-]*) (?:persona|adapter|model|bot|style|voice|job|training|run)\b", text)
    if match and _word(match.group(1)):
        return match.group(1)
    match = re.search(r"\b(?:persona|for(?: the)?) ([a-z][\w-]*)\b", text)
    return _word(match.group(1)) if match else None


def find_dataset(text: str) -> str | None:
    """A dataset reference: a #channel, a data file, or 'synthetic'."""
    match = re.search(r"(<#\d+>|#[\w-]+)", text)
    if match:
        return match.group(1)
    match = re.search(r"([\w./~-]+\.(?:jsonl|json|csv|parquet))\b", text)
    if match:
        return match.group(1)
    return "synthetic" if re.search(r"\bsynth(?:etic)?\b", text) else None


def find_job(text: str, personas: list[str]) -> str | None:
    """A job reference: 'job 12', a job id, or a persona whose job is meant."""
    # An id has a digit ("job 12", "job 3fa2c1d0"): "how is my job doing" names no job, "doing" is no id.
    match = re.search(r"\bjob\s*#?\s*([0-9a-f]*\d[\w-]*)\b", text) or re.search(r"#(\d+)\b", text)
    if match:
        return match.group(1)
    match = re.search(r"\b([0-9a-f]{8,}|\d+)\b", text)
    return match.group(1) if match else find_persona(text, personas)


def _method(text: str) -> str | None:
    match = re.search(r"\b(qlora|lora|dpo|full)\b", text)
    return match.group(1) if match else None


def _compact(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if v is not None}


# --- argument finders a declaration's `extract` names: (normalized text, raw text, personas) -> args -----

Extractor = Callable[[str, str, list[str]], dict[str, Any]]
EXTRACTORS: dict[str, Extractor] = {}


def extractor(name: str) -> Callable[[Extractor], Extractor]:
    """Make a finder available to SKILL.md as `extract: <name>`."""
    def add(func: Extractor) -> Extractor:
        EXTRACTORS[name] = func
        return func

    return add



@extractor("tune")
def _tune_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    dataset = _data_file(raw.lower()) or find_data_sources(raw.lower()) or find_dataset(text)
    persona_text = re.sub(r"(<#\d+>|#[\w-]+|[\w./~-]+\.(?:jsonl|json|csv|parquet))", " ", text)
    return _compact({"persona": find_persona(persona_text, personas), "method": _method(text), "dataset": dataset})


@extractor("job")
def _job_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    return _compact({"job": find_job(text, personas)})


@extractor("adapter")
def _adapter_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    target = re.search(r"\b(ollama|gguf|merged?)\b", text)
    to = {"merge": "merged"}.get(target.group(1), target.group(1)) if target else None
    return _compact({"adapter": find_persona(re.sub(r"\b(ollama|gguf)\b", " ", text), personas), "to": to})


@extractor("schedule")
def _schedule_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    action = "list" if re.search(r"\b(list|show|what|whats|which)\b", text) else "add"
    for verb, name in (("remove|delete|cancel|unschedule|drop", "remove"), ("pause|suspend", "pause"),
                       ("resume|unpause|reactivate", "resume")):
        if re.search(rf"\b({verb})\b", text):
            action = name
    at = re.search(r"\bat (\d{1,2}(?::\d\d)? ?(?:am|pm)?)\b", text)
    hourly = re.search(r"\b(hourly|every hour)\b", text)
    return _compact({"action": action, "persona": find_persona(text, personas), "at": at.group(1) if at else None,
                     "every_minutes": 60 if hourly else None})


@extractor("collect")
def _collect_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    off = re.search(r"\b(off|stop|disable|don't|dont|do not|no longer|opt out|opt-out|pause)\b", text)
    return _compact({"enabled": not off, "channel": find_dataset(raw.lower()) if "#" in raw else None})


@extractor("forget")
def _forget_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    scope = "channel" if re.search(r"\b(channel|everyone|this chat)\b", text) else "me"
    about = re.search(r"\babout (.+)$", text)
    return _compact({"scope": scope, "query": about.group(1) if about else None})


@extractor("promote")
def _promote_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    force = re.search(r"\b(?:anyway|regardless|force|without (?:the )?(?:gate|evaluation))\b", text)
    adapter_id = re.search(r"\b([a-z0-9][\w-]*/v\d+)\b", text)
    named = find_persona(re.sub(r"\b[a-z0-9][\w-]*/v\d+\b", " ", text), personas)
    return _compact({"adapter": adapter_id.group(1) if adapter_id else None,
                     "persona": named if named != "promote" else None, "force": True if force else None})


@extractor("delete")
def _delete_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    match = re.search(r"\b([a-z0-9][\w-]*/v\d+)\b", text)
    if match:
        return {"adapter": match.group(1)}
    if re.search(r"\b(?:all|every|each)\b", text):
        return {"adapter": "all"}
    named = find_persona(re.sub(r"\badapters?\b", " adapter", text), personas)
    return {"adapter": named} if named else {}


def _none(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    return {}


def _persona_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    if re.search(r"\b(?:yourself|normal(?:ly)?|usual)\b|^stop ", text):
        return {"persona": None}
    named = find_persona(text, personas)
    match = re.search(r"\b(?:like|as|be|become|use|switch to) (?:a |an |the |my )?([a-z][\w-]*)\b", text)
    return {"persona": named or (_word(match.group(1)) if match else None)}


# The two conversation controls: no skill, the router acts on the conversation itself (tried before skills
# whose order is above CONTROL_ORDER, after those below it).
CONTROL_ORDER = 50
CONTROLS: list[tuple[str, re.Pattern[str], Extractor]] = [
    ("help", re.compile(r"^(?:help|aide|ayuda|hilfe|aiuto|commands|\?)$|^(?:what can you do|what do you do|"
                        r"how do i use you|what are your commands|show (?:me )?(?:the )?commands)\b"), _none),
    ("persona", re.compile(r"^(?:talk|speak|answer|reply|respond|write|act) (?:like|as) (?:a |an |the )?[a-z][\w-]*$|"
                           r"^(?:be|become) (?:a |an |the )[a-z][\w-]*$|^(?:use|switch to) (?:the |my )?[a-z][\w-]* persona$|"
                           r"^(?:stop (?:talking|speaking) like\b|be yourself\b|talk normally\b)"), _persona_args),
]
CONTROL_COMMANDS = {"help": "help"}


# --- data sources and persona cards (kept apart from the verb grammar above) ----------------------------

_THIS_CHANNEL = re.compile(r"\b(?:(?:from|in|on|using|of) (?:this|the current) (?:channel|chat)|from here)\b")


def _data_file(text: str) -> str | None:
    match = re.search(r"([\w./~-]+\.(?:jsonl|json|csv|parquet))\b", text)
    return match.group(1) if match else None


def find_data_sources(text: str) -> str | None:
    """A data plan for skills.dataset.sources: '#chan', 'here', 'synthetic[:N]', or parts joined by '+'."""
    parts = []
    channel = re.search(r"(<#\d+>|#[\w-]+)", text)
    if channel:
        parts.append(channel.group(1))
    elif _THIS_CHANNEL.search(text):
        parts.append("here")
    since = find_since(text)
    if parts and since:
        parts.append(f"since:{since}")
    count = re.search(r"\b(\d+) (?:more )?synth(?:etic)?\b", text)
    if count:
        parts.append(f"synthetic:{count.group(1)}")
    elif re.search(r"\bsynth(?:etic)?\b", text):
        parts.append("synthetic")
    return "+".join(parts) or None


_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def find_since(text: str, today: date | None = None) -> str | None:
    """'since Monday' / 'since yesterday' / 'since last week' / 'since 2026-11-23' as an ISO date (UTC days)."""
    match = re.search(r"\bsince (?:last )?(\d{4}-\d\d-\d\d|today|yesterday|week|" + "|".join(_WEEKDAYS) + r")\b", text)
    if not match:
        return None
    word, today = match.group(1), today or datetime.now(UTC).date()
    if word[0].isdigit():
        return word
    back = {"today": 0, "yesterday": 1, "week": 7}.get(word)
    if back is None:  # the most recent such weekday, today included
        back = (today.weekday() - _WEEKDAYS.index(word)) % 7
    return (today - timedelta(days=back)).isoformat()


_NAME = r"([a-z0-9][\w-]*)"


@extractor("persona_create")
def _persona_create_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    match = re.search(rf"persona (?:called|named) {_NAME}(?:,? (?:who|that|which) )?(.*)$", text)
    assert match  # the rule's pattern matched this text
    return _compact({"persona": match.group(1), "description": match.group(2).strip() or None})


@extractor("persona_named")
def _persona_named(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    named = find_persona(text, personas)
    match = re.search(rf"^(?:use|bind|set|show|describe|display|what is|whats) (?:me )?(?:the )?(?:persona )?{_NAME}", text)
    return _compact({"persona": named or (_word(match.group(1)) if match else None)})


@extractor("persona_edit")
def _persona_edit_args(text: str, raw: str, personas: list[str]) -> dict[str, Any]:
    prompt = re.search(r"\bprompt to\s*[:\-]?\s*(.+)$", raw, re.IGNORECASE | re.DOTALL)
    named = re.search(rf"^(?:change|set|update|edit|replace) {_NAME}", text)
    return _compact({"persona": named.group(1) if named else None,
                     "system_prompt": prompt.group(1).strip().strip("\"'\u201c\u201d") if prompt else None})
