"""Eval generation through a real llama.cpp server with parallel slots: every prompt answered, in order."""

from __future__ import annotations

import pytest

from skills.evaluate.generate import generate_served
from skills.export.serve import LlamaServer
from skills.models import smollm2_gguf_path

pytestmark = pytest.mark.slow


def test_parallel_slots_answer_every_prompt_in_order() -> None:
    prompts = [[{"role": "user", "content": f"Repeat exactly: word{i}"}] for i in range(4)]
    with LlamaServer(smollm2_gguf_path(), n_ctx=1024, parallel=4) as server:
        slots = server.client().with_options(max_retries=0)
        together = generate_served(slots, prompts, max_new_tokens=8)
        alone = [generate_served(slots, [p], max_new_tokens=8)[0] for p in prompts]
    assert len(together) == 4 and all(together)
    assert together == alone  # greedy: the batch changes the speed, not the answers or their order
    assert generate_served(slots, [], max_new_tokens=8) == []
