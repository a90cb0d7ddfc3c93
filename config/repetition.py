"""Text that repeats itself: a sentence or word n-gram said too often, near-verbatim copies, tool-call syntax.

One detector for the chat guard (skills.providers.degenerate) and for harvest (memory.harvest), so an answer the
assistant would cut is never learned either. The loop detectors scan left to right: the first sentence (or
`ngram` words) to reach `repeats` occurrences marks the text degenerate, and the cut is where that text began its
second occurrence, so what is kept says each thing at most twice. Stop sequences (role markers a small model
prints when it starts writing the next turn itself) end the text where they begin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
_WORD = re.compile(r"\S+")
_TOOL_SYNTAX = re.compile(r'<tool_call>.*?(?:</tool_call>|$)|```(?:json|tool_call)?\s*\{\s*"(?:name|function|tool)"\s*:.*?\}\s*```',
                          re.DOTALL)
_BARE_CALL = re.compile(r'^\s*\{\s*"(?:name|function|tool)"\s*:.*\}\s*$', re.DOTALL)


@dataclass(frozen=True)
class RepetitionLimit:
    """How much repetition an answer may hold before it is cut (0 turns a detector off)."""

    repeats: int = 3  # occurrences of one sentence or n-gram that make an answer degenerate
    ngram: int = 8  # words per n-gram


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def _sentence_cut(text: str, repeats: int) -> int | None:
    """Where the first sentence said `repeats` times began its second occurrence, else None."""
    seen: dict[str, list[int]] = {}
    for match in _SENTENCE.finditer(text):
        key = _norm(match.group())
        if not key:
            continue
        starts = seen.setdefault(key, [])
        starts.append(match.start())
        if len(starts) >= repeats:
            return starts[1]
    return None


def _ngram_cut(text: str, size: int, repeats: int) -> int | None:
    """Where the first `size`-word n-gram said `repeats` times began its second occurrence, else None."""
    words = list(_WORD.finditer(text))
    keys = [_norm(w.group()) for w in words]
    seen: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - size + 1):
        starts = seen.setdefault(tuple(keys[i:i + size]), [])
        starts.append(words[i].start())
        if len(starts) >= repeats:
            return starts[1]
    return None


def repetition_cut(text: str, limit: RepetitionLimit = RepetitionLimit()) -> int | None:
    """Where a degenerate answer should end (its first repeat of the looping text), or None when it is fine."""
    if limit.repeats < 2:
        return None
    cuts = [_sentence_cut(text, limit.repeats)]
    if limit.ngram > 0:
        cuts.append(_ngram_cut(text, limit.ngram, limit.repeats))
    found = [c for c in cuts if c is not None]
    return min(found) if found else None


def stop_cut(text: str, stops: Iterable[str]) -> int | None:
    """Where the first stop sequence begins, else None."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def trim(text: str, limit: RepetitionLimit = RepetitionLimit(), stops: Iterable[str] = ()) -> tuple[str, bool]:
    """The answer ended at its first stop sequence and cut at its first repeat; True when it looped."""
    stop = stop_cut(text, stops)
    if stop is not None:
        text = text[:stop]
    cut = repetition_cut(text, limit)
    if cut is None:
        return text, False
    return text[:cut].rstrip(), True




def strip_tool_syntax(text: str) -> str:
    """The text without tool calls printed in it (`<tool_call>` blocks, JSON fences, a bare call object)."""
    text = _TOOL_SYNTAX.sub("", text)
    return "" if _BARE_CALL.match(text) else text.strip()


def normalized(text: str) -> str:
    """Lowercase words only: texts equal up to case, spacing and punctuation normalise the same."""
    return _norm(text)


def near_copy(text: str, other: str, ratio: float = 0.9, short: int = 6) -> bool:
    """Whether `text` is `other` nearly verbatim (word for word, `ratio` of the words the same), or contains it
    whole (a copied reply with a few words added).

    Answers shorter than `short` words must be equal, and the words count, not the letters: "treasure 1 lies
    under palm 1" and "treasure 10 lies under palm 10" are different answers."""
    a, b = _norm(text), _norm(other)
    if not a or not b:
        return False
    a_words, b_words = a.split(), b.split()
    if len(b_words) >= short and f" {b} " in f" {a} ":
        return True
    if min(len(a_words), len(b_words)) < short:
        return a == b
    return SequenceMatcher(None, a_words, b_words, autojunk=False).ratio() >= ratio
