"""Eval generation: the batched path runs a bf16 copy where the CPU has bf16, counts generated tokens, keeps order."""

from __future__ import annotations

from pathlib import Path

from skills.evaluate.generate import _generated, answer_batch, answer_one_by_one, generate_batch
from skills.models import load_model
from skills.train.preflight import bf16_native

PROMPTS = [[{"role": "user", "content": f"Tell me about the {thing}{'!' * i}"}] for i, thing in
           enumerate(["ship", "sea", "gold", "map", "parrot"])]


def _linear_input_dtypes(model, run) -> set:
    """The dtypes the first linear layer computed in while `run()` generated."""
    import torch

    seen: set = set()
    layer = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    handle = layer.register_forward_hook(lambda _m, _inp, out: seen.add(out.dtype))
    try:
        run()
    finally:
        handle.remove()
    return seen


def test_eval_generation_is_batched_bf16_where_native_and_counts_its_tokens(tiny_model_dir: Path) -> None:
    import torch

    model, tok = load_model("tiny", tiny_model_dir.parent)
    fast = _linear_input_dtypes(model, lambda: generate_batch(model, tok, PROMPTS, max_new_tokens=6))
    naive = _linear_input_dtypes(model, lambda: answer_one_by_one(model, tok, PROMPTS[:1], max_new_tokens=6))
    assert fast == ({torch.bfloat16} if bf16_native("cpu") else {torch.float32})
    assert naive == {torch.float32}  # the benchmark's baseline stays plain fp32
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the model itself (held-out losses) untouched
    answers = answer_batch(model, tok, PROMPTS, max_new_tokens=6)
    assert len(answers) == len(PROMPTS) and all(1 <= n <= 6 for _, n in answers)
    assert answer_batch(model, tok, [], max_new_tokens=6) == []
    # Greedy and alone or together in fp32: the batch changes the speed, not the answers or their order.
    alone = answer_one_by_one(model, tok, PROMPTS, max_new_tokens=6)
    together = answer_batch(model, tok, PROMPTS, max_new_tokens=6, fast=False)
    assert [n for _, n in together] == [n for _, n in alone]
    assert [t for t, _ in together] == [t for t, _ in alone]


def test_generated_tokens_stop_at_the_first_end_token() -> None:
    assert _generated([5, 7, 2, 0, 0], 2) == 3  # the end token counts, the padding after it does not
    assert _generated([5, 7, 9], 2) == 3  # no end token: every new token counts
    assert _generated([5, 1, 2], [1, 2]) == 2
