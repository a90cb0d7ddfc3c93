"""Which tools a model turn is offered: only those a message names, so plain chat gets none.

Every tool schema costs prompt tokens; a small local model (SmolLM2 on CPU) reads all of them before its
first word, which made a plain chat answer take tens of seconds. A message looks like a request for an
action when it names a skill by the words of the skill's own name ("cancel job-3 please" names jobs.cancel,
and jobs.status/jobs.logs through "job"), so the list follows the registry instead of a table that drifts.
The skill's description only ranks ties. Permission and trust filters still apply afterwards (agent.llm_turn).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from skills.registry import SkillInfo

MAX_TOOLS = 4  # a short list: what the message named, not the catalogue
GENERIC_NAME_WORDS = frozenset({"run", "add", "list", "submit", "remove", "build", "mix", "split"})
STOPWORDS = frozenset("a an and are as at be by for from in is it of on or the to with your you".split())
_WORD = re.compile(r"[a-z]+")


def stem(word: str) -> str:
    """A crude singular: jobs→job, adapters→adapter (status, class and this stay as they are)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> set[str]:
    """The stemmed lowercase words of a text (job-3 gives 'job')."""
    return {stem(w) for w in _WORD.findall(text.lower())}


def _same(a: str, b: str) -> bool:
    """Equal, or one a prefix of the other when the shorter has 4+ letters (eval/evaluate, train/training)."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short)


def _hits(vocabulary: set[str], said: set[str]) -> int:
    return sum(any(_same(v, w) for w in said) for v in vocabulary)


def name_words(skill: SkillInfo) -> set[str]:
    """The words of a skill's name that mark a request for it (jobs.cancel → job, cancel)."""
    return words(skill.name.replace(".", " ").replace("_", " ")) - GENERIC_NAME_WORDS


def relevant_skills(text: str, skills: Sequence[SkillInfo], limit: int = MAX_TOOLS) -> list[SkillInfo]:
    """The skills a message names, best first (most name words, then description words); none for plain chat."""
    said = words(text) - STOPWORDS
    scored = []
    for order, skill in enumerate(skills):
        named = _hits(name_words(skill), said)
        if named:
            described = _hits(words(skill.description) - STOPWORDS, said)
            scored.append((-named, -described, order, skill))
    return [skill for *_, skill in sorted(scored, key=lambda row: row[:3])[:limit]]
