"""Replies that claim an action no skill performed: "Job 3 was promoted", "I've deleted the adapter".

A small model answering a chat turn readily narrates an action it never took; sent as is, the user believes it,
and logged as a chat answer it becomes training data that teaches the lie. The LLM turn checks its final text
when no skill ran in that turn and replaces a claim with what the assistant can actually do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One kind of action a reply may claim, and how to really ask for it."""

    verb: str  # "promoted"
    ask: str  # what to say instead: "promote pirate-lora/v2"
    needs_object: bool = False  # a common verb ("started") counts only next to one of our things (job, adapter…)


# The first matching pattern names the claimed action; each past participle (or "I'll now …") asserts completion.
ACTIONS: list[tuple[re.Pattern[str], Action]] = [
    (re.compile(r"\bpromot(?:ed|ing)\b"), Action("promoted", "promote pirate-lora/v2")),
    (re.compile(r"\brolled back\b|\breverted\b"), Action("rolled back", "roll back the pirate adapter")),
    (re.compile(r"\b(?:started|launched|submitted|kicked off|queued)\b"),
     Action("started", "tune pirate from #pirate-chat", True)),
    (re.compile(r"\b(?:deleted|removed|erased)\b"), Action("deleted", "delete pirate-lora/v1", True)),
    (re.compile(r"\bforgot(?:ten)?\b|\bwiped\b"), Action("forgot", "forget what I said about X", True)),
    (re.compile(r"\bscheduled\b"), Action("scheduled", "schedule a nightly retrain of pirate at 2am")),
    (re.compile(r"\bexported\b"), Action("exported", "export pirate to ollama")),
    (re.compile(r"\b(?:cancell?ed|stopped|aborted)\b"), Action("cancelled", "cancel the pirate job", True)),
    (re.compile(r"\b(?:created|made)\b(?= (?:a |the |your |new )?persona\b)"),
     Action("created", "create a persona called noir who …", True)),
    (re.compile(r"\b(?:trained|fine-tuned|finetuned)\b"), Action("trained", "tune pirate from #pirate-chat", True)),
    (re.compile(r"\b(?:evaluated)\b"), Action("evaluated", "evaluate the pirate adapter", True)),
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


def honest_reply(action: Action) -> str:
    """What the assistant says instead of a claim no skill backs."""
    return (f"I haven't {action.verb} anything: no action ran for this message. To have it done, ask for it "
            f"directly, e.g. \u201c{action.ask}\u201d (say \u201chelp\u201d for everything I can do).")
