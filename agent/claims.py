"""Replies that claim an action no skill performed: "Job 3 was promoted", "I've deleted the adapter".

A small model answering a chat turn readily narrates an action it never took; sent as is, the user believes it,
and logged as a chat answer it becomes training data that teaches the lie. The LLM turn checks its final text
when no skill ran in that turn and replaces a claim with what the assistant can actually do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skills.declaration import PLACEHOLDER
from skills.registry import SkillRegistry


@dataclass(frozen=True)
class Action:
    """One kind of action a reply may claim, and the intent that really does it (its skill's declared examples
    say how to ask)."""

    verb: str  # "promoted"
    intent: str  # "promote"
    needs_object: bool = False  # a common verb ("started") counts only next to one of our things (job, adapter…)


# The first matching pattern names the claimed action; each past participle (or "I'll now …") asserts completion.
ACTIONS: list[tuple[re.Pattern[str], Action]] = [
    (re.compile(r"\bpromot(?:ed|ing)\b"), Action("promoted", "promote")),
    (re.compile(r"\brolled back\b|\breverted\b"), Action("rolled back", "rollback")),
    (re.compile(r"\b(?:started|launched|submitted|kicked off|queued)\b"), Action("started", "tune", True)),
    (re.compile(r"\b(?:deleted|removed|erased)\b"), Action("deleted", "delete", True)),
    (re.compile(r"\bforgot(?:ten)?\b|\bwiped\b"), Action("forgot", "forget", True)),
    (re.compile(r"\bscheduled\b"), Action("scheduled", "schedule")),
    (re.compile(r"\bexported\b"), Action("exported", "export")),
    (re.compile(r"\b(?:cancell?ed|stopped|aborted)\b"), Action("cancelled", "cancel", True)),
    (re.compile(r"\b(?:created|made)\b(?= (?:a |the |your |new )?persona\b)"), Action("created", "persona_create", True)),
    (re.compile(r"\b(?:trained|fine-tuned|finetuned)\b"), Action("trained", "tune", True)),
    (re.compile(r"\b(?:evaluated)\b"), Action("evaluated", "eval", True)),
]
# A claim speaks of what was done: "I have …", "was …", "has been …", "successfully", "done:" and the like.
_ASSERTS = re.compile(
    r"\b(?:i(?:'ve| have)?|we(?:'ve| have)?|i just|has been|have been|was|were|is now|are now|successfully|done)\b")
_NEGATED = re.compile(r"\b(?:not|n't|never|haven't|hasn't|wasn't|didn't|cannot|can't|if|would|could|should|can|will you)\b")
_OBJECTS = re.compile(
    r"\b(?:jobs?|adapters?|personas?|models?|training|train|fine-?tun\w*|exports?|schedules?|retrains?|memor(?:y|ies)"
    r"|messages|datasets?|lora|runs?|checkpoints?|consent|collection|v\d+)\b")
_SENTENCE = re.compile(r"[^.!?\n]+")


def claimed_action(text: str) -> Action | None:
    """The action a reply says happened (in a sentence that asserts it and does not negate it), else None."""
    for sentence in _SENTENCE.findall(text.lower().replace("\u2019", "'")):
        if not _ASSERTS.search(sentence) or _NEGATED.search(sentence):
            continue
        for pattern, action in ACTIONS:
            if pattern.search(sentence) and (not action.needs_object or _OBJECTS.search(sentence)):
                return action
    return None


def honest_reply(action: Action, registry: SkillRegistry) -> str:
    """What the assistant says instead of a claim no skill backs: how to ask for it, from the skill's own examples."""
    examples = [e for s in registry.all() if s.declaration.intent == action.intent for e in s.declaration.examples]
    said = PLACEHOLDER.sub(r"<\1>", examples[0]) if examples else ""
    how = f" To have it done, ask for it directly, e.g. \u201c{said}\u201d" if said else " To have it done, ask for it directly"
    return (f"I haven't {action.verb} anything: no action ran for this message.{how} "
            "(say \u201chelp\u201d for everything I can do).")
