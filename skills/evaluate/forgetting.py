"""Forgetting check: a deterministic general set, the candidate against the base model, under the persona's
system prompt. Two abilities are measured apart, each with its noise: accuracy on short questions with one
right answer (arithmetic, comparisons, facts) and instruction following on questions that carry one checkable
instruction (skills/evaluate/instructions.py). Persona training erodes the second long before the first.

A drop in either by more than `eval.max_forgetting` of the base's score, beyond the bootstrap noise of the
per-item differences, is flagged; so is the loss of the correct answers rising by more than the limit (the
signal that still works for tiny models, which answer nothing right).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from skills.evaluate.generate import generate_batch
from skills.evaluate.heldout import item_losses
from skills.evaluate.instructions import follows, instruction_items

MAX_DROP = 0.10
DEFAULT_ITEMS = 300
ANSWER_TOKENS = 16  # a number or a few words
INSTRUCTION_TOKENS = 96  # room for four bullets or a small JSON object
FACTS = [
    ("What is the capital of France?", "Paris"), ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Italy?", "Rome"), ("What is the capital of Spain?", "Madrid"),
    ("What is the capital of Germany?", "Berlin"), ("How many days are in a week?", "7"),
    ("How many legs does a spider have?", "8"), ("What color is the sky on a clear day?", "blue"),
    ("What is the largest planet in the solar system?", "Jupiter"), ("What gas do plants breathe in?", "carbon dioxide"),
    ("What is water made of? Name the element besides oxygen.", "hydrogen"), ("How many hours are in a day?", "24"),
    ("What is the opposite of hot?", "cold"), ("Which animal says 'meow'?", "cat"),
    ("What is frozen water called?", "ice"), ("How many continents are there?", "7"),
    ("What is the capital of England?", "London"), ("What is the capital of Russia?", "Moscow"),
    ("What is the capital of Egypt?", "Cairo"), ("What is the capital of Greece?", "Athens"),
    ("What is the capital of Portugal?", "Lisbon"), ("What is the capital of Canada?", "Ottawa"),
    ("What is the capital of China?", "Beijing"), ("What is the capital of Ireland?", "Dublin"),
    ("How many months are in a year?", "12"), ("How many minutes are in an hour?", "60"),
    ("How many sides does a triangle have?", "3"), ("What is the opposite of up?", "down"),
    ("Which animal says 'woof'?", "dog"), ("What do bees make?", "honey"),
    ("What color are ripe bananas?", "yellow"), ("How many wheels does a bicycle have?", "2"),
]
Messages = list[dict[str, str]]
Answerer = Callable[[list[Messages], int], list[str]]  # (prompts, max new tokens) -> one answer per prompt


def _computed(rng: random.Random) -> dict[str, str]:
    a, b = rng.randint(2, 49), rng.randint(2, 49)
    kind = rng.choice(["+", "-", "*", "larger", "after"])
    if kind == "larger":
        question, answer = f"Which number is larger, {a} or {b + 50}?", b + 50
    elif kind == "after":
        question, answer = f"What number comes right after {a * 10 + b}?", a * 10 + b + 1
    else:
        question, answer = f"What is {a} {kind} {b}?", {"+": a + b, "-": a - b, "*": a * b}[kind]
    return {"question": f"{question} Answer with the number only.", "answer": str(answer)}


def accuracy_items(n: int, seed: int = 1234) -> list[dict[str, str]]:
    """`n` questions with one right answer: the fixed facts and computed ones, shuffled; the same for a seed."""
    rng = random.Random(seed)
    pool = [{"question": q + " Answer in a few words.", "answer": a} for q, a in FACTS]
    pool += [_computed(rng) for _ in range(n)]
    rng.shuffle(pool)
    return pool[:n]


def general_set(size: int = DEFAULT_ITEMS, seed: int = 1234) -> list[dict[str, Any]]:
    """`size` items, half with one right answer, half with a checkable instruction; the same every time."""
    return accuracy_items(size - size // 2, seed) + instruction_items(size // 2, seed)


def _rows(items: list[dict[str, Any]], system_prompt: str | None = None) -> list[Messages]:
    """Each item as a conversation (its reference answer last when it has one)."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    reference = [[{"role": "assistant", "content": it["answer"]}] if "answer" in it else [] for it in items]
    return [[*system, {"role": "user", "content": it["question"]}, *ref] for it, ref in zip(items, reference, strict=True)]


def is_correct(reply: str, answer: str) -> bool:
    """The answer appears in the reply; a number as a whole number ("7" is not found in "17")."""
    if answer.lstrip("-").isdigit():
        return re.search(rf"(?<![\d.]){re.escape(answer)}(?!\d)", reply) is not None
    return answer.lower() in reply.lower()


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def score(items: list[dict[str, Any]], replies: list[str]) -> dict[str, Any]:
    """Accuracy and instruction following of `replies` to `items`, with the per-item results."""
    correct = [is_correct(r, it["answer"]) for it, r in zip(items, replies, strict=True) if "answer" in it]
    followed = [follows(r, it["instruction"]) for it, r in zip(items, replies, strict=True) if "instruction" in it]
    return {"accuracy": _share(correct), "instruction_following": _share(followed), "correct": correct,
            "followed": followed, "templates": [it["instruction"]["template"] for it in items if "instruction" in it]}


def measure_answers(answer: Answerer, items: list[dict[str, Any]], *, system_prompt: str | None = None,
                    max_new_tokens: int = ANSWER_TOKENS) -> dict[str, Any]:
    """Score whatever `answer` replies to the set, asked under `system_prompt` (a local model, a server)."""
    prompts = _rows(items, system_prompt)
    asks = [p[:-1] if "answer" in it else p for p, it in zip(prompts, items, strict=True)]
    short = [i for i, it in enumerate(items) if "answer" in it]
    long = [i for i, it in enumerate(items) if "answer" not in it]
    replies = [""] * len(items)
    for indices, tokens in ((short, max_new_tokens), (long, max(max_new_tokens, INSTRUCTION_TOKENS))):
        for i, reply in zip(indices, answer([asks[i] for i in indices], tokens) if indices else [], strict=True):
            replies[i] = reply
    return {**score(items, replies), "replies": replies}


def measure(model: Any, tokenizer: Any, items: list[dict[str, Any]], *, max_new_tokens: int = ANSWER_TOKENS,
            system_prompt: str | None = None) -> dict[str, Any]:
    """Accuracy, instruction following and mean loss of the correct answers, for the model as it is.

    A persona adapter is measured under its persona's system prompt, as it is served: the question is whether
    the pirate still knows that Paris is the capital of France and still answers in one sentence when asked,
    not whether it drops the voice it was asked for.
    """
    def answer(prompts: list[Messages], tokens: int) -> list[str]:
        return generate_batch(model, tokenizer, prompts, max_new_tokens=tokens)

    result = measure_answers(answer, items, system_prompt=system_prompt, max_new_tokens=max_new_tokens)
    losses = item_losses(model, tokenizer, _rows([it for it in items if "answer" in it], system_prompt))
    return {**result, "loss": sum(losses) / len(losses) if losses else None}


def _drop(base: list[bool], adapter: list[bool]) -> dict[str, float | None]:
    """Both shares, the relative drop from the base's, and the noise of the paired per-item differences."""
    from skills.evaluate.gate import bootstrap_noise

    if not base or len(base) != len(adapter):
        return {"base": _share(base), "adapter": _share(adapter), "drop": 0.0, "noise": 0.0}
    was, now = sum(base) / len(base), sum(adapter) / len(adapter)
    diffs = [int(a) - int(b) for a, b in zip(adapter, base, strict=True)]
    return {"base": was, "adapter": now, "drop": (was - now) / was if was > 0 else 0.0,
            "noise": bootstrap_noise(diffs) if len(diffs) > 1 else 0.0}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def compare(base: dict[str, Any], adapter: dict[str, Any], max_drop: float = MAX_DROP) -> dict[str, Any]:
    """The adapter's accuracy, instruction following and answer loss against the base's, each drop with its
    noise and flag (`judged` sets the flags)."""
    acc, ins = _drop(base.get("correct", []), adapter.get("correct", [])), _drop(base.get("followed", []),
                                                                                 adapter.get("followed", []))
    losses = base.get("loss"), adapter.get("loss")
    loss_rise = (losses[1] - losses[0]) / losses[0] if None not in losses and losses[0] > 0 else 0.0
    found = {
        "base_accuracy": _round(acc["base"]), "adapter_accuracy": _round(acc["adapter"]),
        "accuracy_drop": _round(acc["drop"]), "accuracy_noise": _round(acc["noise"]),
        "accuracy_items": len(base.get("correct", [])),
        "base_instruction_following": _round(ins["base"]), "adapter_instruction_following": _round(ins["adapter"]),
        "instruction_drop": _round(ins["drop"]), "instruction_noise": _round(ins["noise"]),
        "instruction_items": len(base.get("followed", [])),
        "base_loss": _round(losses[0]), "adapter_loss": _round(losses[1]), "loss_rise": _round(loss_rise),
        "by_template": _by_template(base, adapter),
    }
    return judged(found, max_drop)


def _by_template(base: dict[str, Any], adapter: dict[str, Any]) -> dict[str, list[float]]:
    """Instruction following per template: [base, adapter] shares (which instructions the adapter lost)."""
    shares: dict[str, list[float]] = {}
    names = base.get("templates", [])
    for name in dict.fromkeys(names):
        picked = [i for i, n in enumerate(names) if n == name]
        shares[name] = [round(sum(side["followed"][i] for i in picked) / len(picked), 4) for side in (base, adapter)]
    return shares if len(adapter.get("followed", [])) == len(names) else {}


def judged(found: dict[str, Any], max_drop: float) -> dict[str, Any]:
    """`found` flagged against `max_drop`: a drop beyond the limit and beyond its noise (2 of 32 flipped items are
    noise); the host that decides a gate applies its own limit to a report measured elsewhere."""
    def lost(prefix: str) -> bool:
        drop, noise = found.get(f"{prefix}_drop") or 0.0, found.get(f"{prefix}_noise") or 0.0
        base = found.get(f"base_{'accuracy' if prefix == 'accuracy' else 'instruction_following'}") or 0.0
        return drop > max_drop and base * drop > noise

    flags = {"accuracy_flagged": lost("accuracy"), "instruction_flagged": lost("instruction"),
             "loss_flagged": (found.get("loss_rise") or 0.0) > max_drop}
    return {**found, **flags, "max_drop": max_drop, "flagged": any(flags.values())}
