"""Forgetting check: a small, deterministic general-ability set (arithmetic + short facts), base vs adapter.

A drop of more than 10% is flagged: accuracy falling by more than a tenth of the base's accuracy,
or the loss of the correct answers rising by more than 10% (the signal that still works for tiny models).
"""

from __future__ import annotations

import random
from typing import Any

from skills.evaluate.generate import generate_batch
from skills.evaluate.heldout import item_losses

MAX_DROP = 0.10
FACTS = [
    ("What is the capital of France?", "Paris"), ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Italy?", "Rome"), ("What is the capital of Spain?", "Madrid"),
    ("What is the capital of Germany?", "Berlin"), ("How many days are in a week?", "7"),
    ("How many legs does a spider have?", "8"), ("What color is the sky on a clear day?", "blue"),
    ("What is the largest planet in the solar system?", "Jupiter"), ("What gas do plants breathe in?", "carbon dioxide"),
    ("What is water made of? Name the element besides oxygen.", "hydrogen"), ("How many hours are in a day?", "24"),
    ("What is the opposite of hot?", "cold"), ("Which animal says 'meow'?", "cat"),
    ("What is frozen water called?", "ice"), ("How many continents are there?", "7"),
]


def general_set(n_arithmetic: int = 16, seed: int = 1234) -> list[dict[str, str]]:
    """The same questions and answers every time for a given seed."""
    rng = random.Random(seed)
    items = []
    for _ in range(n_arithmetic):
        a, b = rng.randint(2, 49), rng.randint(2, 49)
        op = rng.choice("+-*")
        answer = {"+": a + b, "-": a - b, "*": a * b}[op]
        items.append({"question": f"What is {a} {op} {b}? Answer with the number only.", "answer": str(answer)})
    items.extend({"question": q + " Answer in a few words.", "answer": a} for q, a in FACTS)
    return items


def _rows(items: list[dict[str, str]], system_prompt: str | None = None) -> list[list[dict[str, str]]]:
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [[*system, {"role": "user", "content": it["question"]}, {"role": "assistant", "content": it["answer"]}]
            for it in items]


def measure(model: Any, tokenizer: Any, items: list[dict[str, str]], *, max_new_tokens: int = 16,
            system_prompt: str | None = None) -> dict[str, Any]:
    """Accuracy (answer appears in the reply) and mean loss of the correct answers, for the model as it is.

    A persona adapter is measured under its persona's system prompt, as it is served: the question is whether
    the pirate still knows that Paris is the capital of France, not whether it drops the voice it was asked for.
    """
    rows = _rows(items, system_prompt)
    replies = generate_batch(model, tokenizer, [row[:-1] for row in rows], max_new_tokens=max_new_tokens)
    correct = [it["answer"].lower() in r.lower() for it, r in zip(items, replies, strict=True)]
    losses = item_losses(model, tokenizer, rows)
    return {"accuracy": sum(correct) / len(items), "loss": sum(losses) / len(losses), "correct": correct}


def compare(base: dict[str, Any], adapter: dict[str, Any], max_drop: float = MAX_DROP) -> dict[str, Any]:
    """Relative drops of the adapter vs the base; flagged when one exceeds `max_drop` and, for accuracy,
    the lost items are more than the bootstrap noise of the per-item differences (32 items: 2 flips are noise)."""
    from skills.evaluate.gate import bootstrap_noise

    acc_drop = (base["accuracy"] - adapter["accuracy"]) / base["accuracy"] if base["accuracy"] > 0 else 0.0
    loss_rise = (adapter["loss"] - base["loss"]) / base["loss"] if base["loss"] > 0 else 0.0
    flips = [int(a) - int(b) for a, b in zip(adapter.get("correct", []), base.get("correct", []), strict=False)]
    noise = bootstrap_noise(flips) if len(flips) > 1 else 0.0
    accuracy_lost = acc_drop > max_drop and base["accuracy"] - adapter["accuracy"] > noise
    return {
        "base_accuracy": round(base["accuracy"], 4), "adapter_accuracy": round(adapter["accuracy"], 4),
        "base_loss": round(base["loss"], 4), "adapter_loss": round(adapter["loss"], 4),
        "accuracy_drop": round(acc_drop, 4), "loss_rise": round(loss_rise, 4), "accuracy_noise": round(noise, 4),
        "max_drop": max_drop, "flagged": accuracy_lost or loss_rise > max_drop,
    }
