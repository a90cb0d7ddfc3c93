"""Verifiable instructions for the forgetting check: each template adds one instruction to a general question
and a scorer checks the answer by code (all lowercase, at most N words, include a keyword, exactly K bullet
points, JSON with given keys, one sentence). Persona training erodes instruction following before it erodes
facts, and a code check needs no judge."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TOPICS = [
    "Describe the ocean.", "Explain why people sleep.", "Tell me about bread.", "Describe a rainy day.",
    "Explain what a library is for.", "Tell me about the moon.", "Describe how to boil an egg.",
    "Explain why exercise is healthy.", "Tell me about trees.", "Describe a busy city street.",
    "Explain what a calendar is.", "Tell me about coffee.", "Describe the desert.", "Explain how a bicycle works.",
    "Tell me about winter.", "Describe a good friend.", "Explain why we brush our teeth.", "Tell me about music.",
    "Describe a kitchen.", "Explain what maps are used for.", "Tell me about mountains.", "Describe a garden.",
    "Explain why the sky looks blue.", "Tell me about cats.", "Describe a train journey.",
    "Explain what a computer does.", "Tell me about the sun.", "Describe a birthday party.",
    "Explain how rain forms.", "Tell me about honey bees.",
]
KEYWORDS = ["river", "blue", "quiet", "green", "morning", "simple", "light", "friend", "water", "warm"]
JSON_KEYS = ["answer", "topic", "summary", "mood", "length", "title"]
_BULLET = re.compile(r"^\s*[-*\u2022]\s+\S")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")  # "e.g. the" and "3.5" do not end a sentence


@dataclass(frozen=True)
class Template:
    """One kind of checkable instruction: its parameters, its wording, and the code that checks an answer."""

    name: str
    params: Callable[[random.Random], dict[str, Any]]
    wording: Callable[[dict[str, Any]], str]
    follows: Callable[[str, dict[str, Any]], bool]


def _lowercase(answer: str, _: dict[str, Any]) -> bool:
    return any(c.isalpha() for c in answer) and answer == answer.lower()


def _max_words(answer: str, p: dict[str, Any]) -> bool:
    return 0 < len(answer.split()) <= p["n"]


def _keyword(answer: str, p: dict[str, Any]) -> bool:
    return re.search(rf"\b{re.escape(p['keyword'])}\b", answer, re.IGNORECASE) is not None


def _bullets(answer: str, p: dict[str, Any]) -> bool:
    return sum(bool(_BULLET.match(line)) for line in answer.splitlines()) == p["k"]


def _json_keys(answer: str, p: dict[str, Any]) -> bool:
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", answer.strip())  # a fenced block is still JSON
    try:
        found = json.loads(text)
    except ValueError:
        return False
    return isinstance(found, dict) and set(p["keys"]) <= set(found)


def sentences(answer: str) -> list[str]:
    """The answer's sentences (a line break or a bullet ends one too)."""
    parts = [s for line in answer.strip().splitlines() for s in _SENTENCE_END.split(line.strip())]
    return [s for s in parts if s.strip()]


def _one_sentence(answer: str, _: dict[str, Any]) -> bool:
    # It must end as a sentence does: a cut-off ramble or a looping "THE SEILS THE SEILS" is no sentence
    # (SmolLM2 trained into one style said that, and counted as one sentence before this rule).
    found = sentences(answer)
    return len(found) == 1 and re.search(r"[.!?][\"')\]]*$", found[0]) is not None


TEMPLATES = [
    Template("lowercase", lambda rng: {}, lambda p: "Write your whole answer in lowercase letters, no capitals.",
             _lowercase),
    Template("max_words", lambda rng: {"n": rng.choice([5, 8, 10, 12, 15])},
             lambda p: f"Answer in at most {p['n']} words.", _max_words),
    Template("keyword", lambda rng: {"keyword": rng.choice(KEYWORDS)},
             lambda p: f"Include the word \"{p['keyword']}\" in your answer.", _keyword),
    Template("bullets", lambda rng: {"k": rng.choice([2, 3, 4])},
             lambda p: f"Answer with exactly {p['k']} bullet points, each on its own line starting with \"- \".",
             _bullets),
    Template("json_keys", lambda rng: {"keys": sorted(rng.sample(JSON_KEYS, 2))},
             lambda p: "Answer only with a JSON object that has the keys " + " and ".join(f'"{k}"' for k in p["keys"])
             + ".", _json_keys),
    Template("one_sentence", lambda rng: {}, lambda p: "Answer in exactly one sentence.", _one_sentence),
]
BY_NAME = {t.name: t for t in TEMPLATES}


def instruction_items(n: int, seed: int = 1234) -> list[dict[str, Any]]:
    """`n` questions with one checkable instruction each, the templates taking turns; the same for a given seed."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        params = template.params(rng)
        question = f"{rng.choice(TOPICS)} {template.wording(params)}"
        items.append({"question": question, "instruction": {"template": template.name, **params}})
    return items


def follows(answer: str, instruction: dict[str, Any]) -> bool:
    """Whether `answer` follows `instruction` (an item's "instruction": its template's name and parameters)."""
    return BY_NAME[instruction["template"]].follows(answer, instruction)
