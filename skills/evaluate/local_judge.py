"""Judges on a model this process already holds (the served base during an evaluation): a text judge that reads
the greedy reply, and a log-probability judge that reads P("A") against P("B") at the verdict's first token.

The log-probability judge never has to produce a well-formed reply, and its preference is a number, not a coin
a small model flips the same way every time; bench/eval.py --judge measures which of the two is less biased."""

from __future__ import annotations

from typing import Any

from skills.evaluate.generate import answer_batch

Messages = list[dict[str, Any]]


class TextJudge:
    """The judge prompt answered greedily by `model` (its current adapter state), read as A, B or TIE."""

    name = "text"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    def chat(self, messages: Messages, *, tools: list[dict] | None = None, max_tokens: int | None = None,
             temperature: float = 0.0) -> str:
        """The model's greedy reply to the judge prompt (a few tokens)."""
        # fp32 as it is: the bf16 copy batch generation makes would be made again for every verdict
        return answer_batch(self.model, self.tokenizer, [messages], max_new_tokens=max_tokens or 8, fast=False)[0][0]


def _first_tokens(tokenizer: Any, letter: str) -> list[int]:
    """Token ids that start a verdict `letter` ('A', ' A', …): the ones whose text, stripped, is the letter."""
    ids = set()
    for text in (letter, " " + letter, "\n" + letter):
        encoded = tokenizer.encode(text, add_special_tokens=False)
        for token in encoded[:2]:  # a tokenizer may split the leading space or newline off
            if tokenizer.decode([token]).strip() == letter:
                ids.add(token)
    return sorted(ids)


class LogprobJudge:
    """P("A") / (P("A") + P("B")) of `model`'s next token after the judge prompt and its generation prompt."""

    name = "logprob"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.letters = {letter: _first_tokens(tokenizer, letter) for letter in ("A", "B")}
        if not all(self.letters.values()):
            raise ValueError("the judge model's tokenizer has no single token for the verdicts A and B")

    def first_probability(self, messages: Messages) -> float:
        """How strongly the model prefers the answer shown first (0.5: no preference)."""
        import torch

        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(**{k: v.to(device) for k, v in enc.items()}).logits[0, -1].float()
        probs = torch.softmax(logits, dim=-1)
        a, b = (float(probs[self.letters[x]].sum()) for x in ("A", "B"))
        return 0.5 if a + b == 0 else a / (a + b)


def _letter_mass(top: list[Any], letter: str) -> float:
    """Probability of the listed first tokens that spell `letter` (' A', 'A', …)."""
    import math

    return sum(math.exp(t.logprob) for t in top if t.token.strip() == letter)


class ServedLogprobJudge:
    """The log-probability judge on an OpenAI-compatible server that returns `top_logprobs` (llama.cpp's server,
    vLLM, OpenAI): P("A") / (P("A") + P("B")) among the first token's most likely alternatives."""

    name = "logprob"

    def __init__(self, client: Any, model: str, top: int = 20) -> None:
        self.client, self.model, self.top = client, model, top

    def first_probability(self, messages: Messages) -> float:
        """How strongly the served model prefers the answer shown first (0.5: neither letter among its top tokens)."""
        response = self.client.chat.completions.create(model=self.model, messages=messages, max_tokens=1,
                                                       temperature=0.0, logprobs=True, top_logprobs=self.top)
        content = response.choices[0].logprobs.content if response.choices[0].logprobs else None
        if not content:
            raise ValueError("the judge's server returned no log-probabilities; use judge.method = \"text\" with it")
        a, b = (_letter_mass(content[0].top_logprobs, x) for x in ("A", "B"))
        return 0.5 if a + b == 0 else a / (a + b)
