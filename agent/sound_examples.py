"""How a whole transcript sounds against each skill's declared example phrasings.

Whisper mishears a word or two of a command ("what's the status" → "watch the stand up"), and the verb matcher
(agent/fuzzy_intents.py) only looks at the first words. Here every example a skill declares in its SKILL.md is
aligned with the transcript word by word, each pair compared by sound (Metaphone keys) and spelling, with an
edit distance that may also merge two words into one ("or napter" ~ "adapter", "rollback" ~ "roll back"),
drop a word or add one. Placeholders take what they stand for: {persona}, {adapter} and {job} a name or id
from the vocabulary (persona names, adapter names, job ids; a near-sounding word is mended to the name),
{at} a time such as "2am", any other {arg} some words as heard. The score (0..1) is one minus the alignment's
cost over the weight of the words compared, where a word weighs as many sounds as its Metaphone key has.
Skills that only erase and declare no `voice` are never matched: a loose match must not reach them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import jellyfish
from rapidfuzz import fuzz

from agent.intents import normalize
from skills.declaration import PLACEHOLDER
from skills.registry import SkillInfo

SOUND_WEIGHT = 0.6  # how a word sounds counts more than how Whisper spelled it
UNRELATED = 0.4  # two unrelated words still share letters and sounds: similarity up to this counts as none
NAMED_SLOTS = ("persona", "adapter", "job")
NAME_AT = 0.75  # a heard word this close to a known name is taken for it
UNKNOWN_NAME_COST = 0.6  # per sound: a name slot filled with a word nobody declared
FREE_WORD_COST = 0.1  # per word a free placeholder ({text}) swallows: free text must not make anything match
EXTRA_WORD_COST = 1.5  # per sound: a word said beyond the example is evidence against it, more than a word missed
FILLER_COST = 0.3  # per sound: "and", "um", "the" said around a command cost little
FILLERS = {"and", "then", "so", "um", "uh", "er", "oh", "well", "the", "a", "an", "now", "ok", "okay", "please",
           "hey", "can", "you", "could", "just", "i", "want", "to", "me", "it"}
NOT_NAMES = {"the", "a", "an", "to", "of", "on", "my", "and", "in", "or", "it", "is", "at", "for", "me", "this",
             "that", "job", "adapter", "persona", "model", "training"}
_NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_TIME = re.compile(r"^(\d{1,2})(?::(\d\d))?\s*(a\.?m\.?|p\.?m\.?)?$")
_TOKEN = re.compile(r"[a-z0-9'#./_:-]+")


class Vocabulary(NamedTuple):
    """The names a spoken command may use: persona names, adapter names or ids, job ids."""

    personas: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()

    def names(self, slot: str) -> tuple[str, ...]:
        """What a {slot} placeholder may be: a job or an adapter is often called by its persona's name."""
        extra = {"adapter": self.adapters, "job": self.jobs}.get(slot, ())
        return tuple(dict.fromkeys(n.lower() for n in (*self.personas, *extra)))


class Heard(NamedTuple):
    """An example the transcript sounds like: the skill, the example with its placeholders filled, the score."""

    skill: str
    text: str
    score: float


@lru_cache(maxsize=8192)
def key(words: str) -> str:
    """Metaphone key of a phrase, spaces dropped ("roll back" and "rollback" sound alike)."""
    return jellyfish.metaphone(words.replace(" ", "").replace("'", "")) or words


@lru_cache(maxsize=65536)
def similarity(heard: str, word: str) -> float:
    """0..1: how alike two phrases are, by sound (weighted) and by spelling."""
    if heard == word:
        return 1.0
    spelled = fuzz.ratio(heard.replace(" ", ""), word.replace(" ", "")) / 100
    sound = fuzz.ratio(key(heard), key(word)) / 100
    return SOUND_WEIGHT * sound + (1 - SOUND_WEIGHT) * spelled


def _alike(heard: str, word: str) -> float:
    """similarity() with what unrelated words share taken off, 0..1."""
    return max(0.0, similarity(heard, word) - UNRELATED) / (1 - UNRELATED)


def weight(words: str) -> float:
    """How much a phrase weighs in the alignment: its number of sounds (digits count one each)."""
    return float(max(1, len(key(words)) if not words.isdigit() else len(words)))


def words_of(text: str) -> list[str]:
    """The transcript's words, normalized (lowercase, politeness stripped), "a.m." kept whole."""
    return _TOKEN.findall(normalize(text).replace(",", " "))


def time_of(heard: str) -> str | None:
    """"2am", "2 a.m.", "two am", "14:30" → the time as the grammar reads it ("2am"); else None."""
    parts = heard.split()
    if parts and parts[0] in _NUMBERS:
        parts[0] = _NUMBERS[parts[0]]
    match = _TIME.match(" ".join(parts))
    if not match or int(match.group(1)) > 23:
        return None
    suffix = (match.group(3) or "").replace(".", "")
    return f"{match.group(1)}{':' + match.group(2) if match.group(2) else ''}{suffix}"


# --- the alignment --------------------------------------------------------------------------------------


class _Cell(NamedTuple):
    cost: float
    weight: float  # of the words compared so far (the larger side of each step)
    values: tuple[tuple[str, str], ...]  # placeholder values found so far


def _slot_fill(slot: str, heard: str, vocabulary: Vocabulary) -> tuple[float, str] | None:
    """(cost per sound, value) for `heard` filling {slot}; None when it cannot."""
    if slot == "at":
        found = time_of(heard)
        return (0.0, found) if found else None
    if slot == "dataset":
        return (0.0, heard) if re.match(r"^(?:#[\w-]+|[\w./~-]+\.(?:jsonl|json|csv|parquet))$", heard) else None
    names = vocabulary.names(slot)
    best = max(((similarity(heard, n), n) for n in names), default=(0.0, ""))
    if best[0] >= NAME_AT:
        return 1 - best[0], best[1]
    if " " in heard or heard in NOT_NAMES or not re.match(r"^[a-z0-9][\w/-]*$", heard):
        return None
    return UNKNOWN_NAME_COST, heard


def _tokens(example: str) -> list[str]:
    """An example's words, placeholders kept as {name}."""
    marked = PLACEHOLDER.sub(lambda m: f" zzslot{m.group(1)}zz ", example)
    return [re.sub(r"^zzslot(\w+)zz$", r"{\1}", w) for w in normalize(marked).split()]


def _steps(tokens: list[str], heard: list[str], i: int, j: int, vocabulary: Vocabulary):  # noqa: ANN202 - generator
    """Each way to align more of the example (from token i) with more of the transcript (from word j):
    (example tokens used, words used, cost, weight, placeholder value or None)."""
    token = tokens[i] if i < len(tokens) else None
    if j < len(heard):  # a word said that the example does not have
        word = heard[j]
        w = weight(word)
        yield 0, 1, w * (FILLER_COST if word in FILLERS else EXTRA_WORD_COST), w, None
    if token is None:
        return
    slot = token[1:-1] if token.startswith("{") else None
    if slot is None:
        w = weight(token)
        yield 1, 0, w, w, None  # a word of the example not heard
        for used_e in (1, 2):
            phrase = " ".join(tokens[i:i + used_e])
            if i + used_e > len(tokens) or any(t.startswith("{") for t in tokens[i:i + used_e]):
                continue
            for used_h in (1, 2):
                if j + used_h > len(heard) or used_e + used_h > 3:
                    continue
                said = " ".join(heard[j:j + used_h])
                size = max(weight(phrase), weight(said))
                yield used_e, used_h, (1 - _alike(said, phrase)) * size, size, None
    elif slot in (*NAMED_SLOTS, "at", "dataset"):
        for used_h in (1, 2):
            if j + used_h <= len(heard):
                said = " ".join(heard[j:j + used_h])
                fill = _slot_fill(slot, said, vocabulary)
                if fill is not None:  # a name is evidence of its arguments, not of the skill: it adds no weight
                    yield 1, used_h, fill[0] * weight(said), 0.0, (slot, fill[1])
    else:  # free text: as many words as it takes, each at a small cost
        for used_h in range(1, len(heard) - j + 1):
            yield 1, used_h, FREE_WORD_COST * used_h, 0.0, (slot, " ".join(heard[j:j + used_h]))


def align(example: str, heard: list[str], vocabulary: Vocabulary) -> tuple[float, dict[str, str]] | None:
    """(score 0..1, placeholder values) of the best alignment of `example` with the heard words."""
    tokens = _tokens(example)
    if not tokens or not heard:
        return None
    best: dict[tuple[int, int], _Cell] = {(0, 0): _Cell(0.0, 0.0, ())}
    for i in range(len(tokens) + 1):
        for j in range(len(heard) + 1):
            cell = best.get((i, j))
            if cell is None:
                continue
            for used_e, used_h, cost, size, value in _steps(tokens, heard, i, j, vocabulary):
                at = (i + used_e, j + used_h)
                values = cell.values + ((value,) if value else ())
                step = _Cell(cell.cost + cost, cell.weight + size, values)
                if at not in best or step.cost < best[at].cost:
                    best[at] = step
    end = best.get((len(tokens), len(heard)))
    if end is None or end.weight == 0:
        return None
    return max(0.0, 1 - end.cost / end.weight), dict(end.values)


def fill(example: str, values: dict[str, str]) -> str:
    """The example with its placeholders replaced by what was heard."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), example)


def may_guess(skill: SkillInfo) -> bool:
    """Whether a loose match may reach `skill`: it declares how it is spoken, or it erases nothing."""
    decl = skill.declaration
    return bool(decl.intent and decl.examples) and (decl.voice is not None or skill.effects != "destructive")


def sounds_like(text: str, skills: list[SkillInfo], vocabulary: Vocabulary) -> list[Heard]:
    """For each skill that may be guessed, its example the transcript sounds most like, best first."""
    heard = words_of(text)
    found = []
    for skill in skills:
        if not may_guess(skill):
            continue
        scored = [(aligned, example) for example in skill.declaration.examples
                  if (aligned := align(example, heard, vocabulary)) is not None]
        if scored:
            (score, values), example = max(scored, key=lambda s: s[0][0])
            found.append(Heard(skill.name, fill(example, values), round(score, 3)))
    return sorted(found, key=lambda h: -h.score)
