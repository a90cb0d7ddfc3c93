"""The forgetting check flags real losses of general ability, not a couple of flipped items."""

from skills.evaluate.forgetting import compare


def result(correct: list[bool], loss: float = 3.0) -> dict:
    return {"accuracy": sum(correct) / len(correct), "loss": loss, "correct": correct}


def test_two_flips_out_of_32_are_noise() -> None:
    base = result([True] * 13 + [False] * 19)
    adapter = result([True] * 11 + [False] * 21)  # -15% relative, but only 2 items
    verdict = compare(base, adapter)
    assert verdict["accuracy_drop"] > 0.10 and not verdict["flagged"]


def test_a_real_loss_is_flagged() -> None:
    base = result([True] * 16 + [False] * 16)
    adapter = result([True] * 4 + [False] * 28)
    assert compare(base, adapter)["flagged"]


def test_loss_rise_alone_is_flagged() -> None:
    correct = [True] * 16 + [False] * 16
    assert compare(result(correct, 3.0), result(correct, 3.5))["flagged"]


def test_a_persona_adapter_is_asked_the_general_questions_under_its_persona_prompt(monkeypatch) -> None:
    """As it is served: the pirate is asked 'capital of France?' after its system prompt, both sides alike."""
    from skills.evaluate import forgetting

    items = forgetting.general_set(40)
    by_question = {it["question"]: it for it in items}
    seen: dict[str, list] = {"prompts": [], "rows": []}

    def generate(model, tok, prompts, max_new_tokens):
        seen["prompts"] += prompts
        return [f"Arr, {by_question[p[-1]['content']].get('answer', 'aye')} it be" for p in prompts]

    monkeypatch.setattr(forgetting, "generate_batch", generate)
    monkeypatch.setattr(forgetting, "item_losses", lambda model, tok, rows: seen["rows"].extend(rows) or [1.0] * len(rows))
    result = forgetting.measure(None, None, items, system_prompt="You are a pirate.")
    assert result["accuracy"] == 1.0 and result["instruction_following"] is not None and result["loss"] == 1.0
    assert len(seen["prompts"]) == 40
    assert all(p[0] == {"role": "system", "content": "You are a pirate."} and p[-1]["role"] == "user" for p in seen["prompts"])
    # The loss is of the right answers only: the instruction items have none.
    assert [r[-1] for r in seen["rows"]] == [{"role": "assistant", "content": it["answer"]} for it in items if "answer" in it]
    seen["prompts"].clear()
    forgetting.measure(None, None, items)
    assert seen["prompts"][0][0]["role"] == "user"
