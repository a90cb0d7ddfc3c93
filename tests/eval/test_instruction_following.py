"""Forgetting with teeth: every instruction template's scorer accepts a compliant answer and rejects a
non-compliant one; an adapter trained to answer everything in one style keeps its accuracy and is vetoed for
instruction following, measured through an OpenAI-compatible server like a served adapter."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from config.settings import Settings
from skills.evaluate import forgetting
from skills.evaluate.gate import decide
from skills.evaluate.generate import generate_served
from skills.evaluate.instructions import TEMPLATES, follows, instruction_items, sentences
from tests.eval.fake_openai import ScriptedOpenAI

# (instruction, a compliant answer, a non-compliant one) per template
CASES = [
    ({"template": "lowercase"}, "the ocean is wide and deep.", "The ocean is wide and deep."),
    ({"template": "lowercase"}, "bread is baked, e.g. in an oven.", "1234 !"),  # no letters: nothing in lowercase
    ({"template": "max_words", "n": 5}, "The sea is big.", "The sea is very big and blue."),
    ({"template": "keyword", "keyword": "river"}, "A River runs through it.", "The riverbank is green."),
    ({"template": "bullets", "k": 3}, "Here:\n- salt\n- flour\n* water", "- salt\n- flour"),
    ({"template": "bullets", "k": 2}, "- salt\n- flour", "- salt\n- flour\n- water\n- yeast"),
    ({"template": "json_keys", "keys": ["mood", "topic"]}, '```json\n{"topic": "sea", "mood": "calm"}\n```',
     '{"topic": "sea"}'),
    ({"template": "json_keys", "keys": ["answer", "title"]}, '{"answer": 1, "title": "x", "extra": 2}',
     "{'answer': 1, 'title': 'x'}"),
    ({"template": "one_sentence"}, "Coffee is brewed from roasted beans, e.g. arabica, at 93.5 degrees.",
     "Coffee is brewed. It is hot."),
    ({"template": "one_sentence"}, "Trees grow slowly!", "- Trees grow\n- slowly"),
    ({"template": "one_sentence"}, 'He said "trees grow."', "THE SEILS THE SEILS THE SEILS"),  # a loop ends nowhere
]


@pytest.mark.parametrize(("instruction", "good", "bad"), CASES, ids=[f"{c[0]['template']}-{i}" for i, c in enumerate(CASES)])
def test_each_scorer_accepts_a_compliant_answer_and_rejects_a_non_compliant_one(instruction, good, bad) -> None:
    assert follows(good, instruction)
    assert not follows(bad, instruction)


def test_every_template_is_covered_and_the_set_is_the_same_every_time() -> None:
    assert {c[0]["template"] for c in CASES} == {t.name for t in TEMPLATES}
    items = forgetting.general_set(300)
    assert items == forgetting.general_set(300) and len(items) == 300
    assert sum("answer" in it for it in items) == 150 and sum("instruction" in it for it in items) == 150
    assert len({it["question"] for it in items}) > 250  # a few hundred distinct questions, not 32 repeated
    assert {it["instruction"]["template"] for it in instruction_items(12)} == {t.name for t in TEMPLATES}
    assert forgetting.general_set(8) == forgetting.general_set(8) and len(forgetting.general_set(8)) == 8


def test_a_whole_number_is_found_only_whole() -> None:
    assert forgetting.is_correct("It is 7.", "7") and not forgetting.is_correct("17", "7")
    assert forgetting.is_correct("-12", "-12") and forgetting.is_correct("PARIS!", "Paris")
    assert sentences("One. Two!\nThree") == ["One.", "Two!", "Three"]


def compliant(item: dict) -> str:
    """What a model that knows the answer and follows the instruction says."""
    if "answer" in item:
        return f"{item['answer']}."
    ins = item["instruction"]
    return {
        "lowercase": "it is a fine thing to think about.",
        "max_words": "It is good.",
        "keyword": f"The {ins.get('keyword')} matters here.",
        "bullets": "\n".join(f"- point {i}" for i in range(ins.get("k", 0))),
        "json_keys": json.dumps({k: "yes" for k in ins.get("keys", [])}),
        "one_sentence": "It is a fine thing to think about.",
    }[ins["template"]]


def one_style(item: dict) -> str:
    """The damaged adapter's only style: the right answer, shouted, in a long two-sentence paragraph."""
    said = item.get("answer", "that")
    return (f"ARR, THE ANSWER BE {said.upper()}, MATEY, AS SURE AS THE TIDE COMES IN OVER THE ROCKS EVERY SINGLE "
            "MORNING. NOW HOIST THE SAILS AND LET US BE OFF ACROSS THE SEVEN SEAS!")


def answerer(server: ScriptedOpenAI):
    """The forgetting check's answerer for a model behind an OpenAI-compatible server (llama.cpp serves adapters so)."""
    client = OpenAI(base_url=server.url, api_key="x")
    return lambda prompts, tokens: generate_served(client, prompts, max_new_tokens=tokens)


def served(items: list[dict], style) -> ScriptedOpenAI:
    by_question = {it["question"]: it for it in items}
    return ScriptedOpenAI(lambda body: style(by_question[body["messages"][-1]["content"]]))


def test_an_adapter_trained_to_answer_in_one_style_is_vetoed_for_instruction_following_while_its_accuracy_holds(
        settings: Settings) -> None:
    items = forgetting.general_set(forgetting.DEFAULT_ITEMS)  # the default few hundred
    measured = {}
    for side, style in (("base", compliant), ("adapter", one_style)):
        with served(items, style) as server:
            measured[side] = forgetting.measure_answers(answerer(server), items, system_prompt="You are a pirate.")
            assert all(r["messages"][0] == {"role": "system", "content": "You are a pirate."} for r in server.requests)
    found = forgetting.compare(measured["base"], measured["adapter"], settings.eval.max_forgetting)
    assert found["base_accuracy"] == found["adapter_accuracy"] == 1.0 and not found["accuracy_flagged"]
    assert found["base_instruction_following"] == 1.0 and found["adapter_instruction_following"] < 0.2
    assert found["instruction_flagged"] and 0 < found["instruction_noise"] < found["instruction_drop"]
    assert found["instruction_items"] == 150 and found["by_template"]["lowercase"] == [1.0, 0.0]
    # A clear held-out loss win does not buy it a promotion.
    report = {"heldout": {"candidate_items": [1.0] * 40, "against_items": [2.0 + i / 100 for i in range(40)]},
              "judge": None, "forgetting": found}
    verdict = decide(report, min_rows=settings.eval.min_rows, max_forgetting=settings.eval.max_forgetting)
    assert not verdict.promote and verdict.metric == "instruction_following"
    assert verdict.reason.startswith("candidate forgets how to follow instructions: it followed ")
    assert "its accuracy went from 100% to 100%" in verdict.reason and "\n" not in verdict.reason
    # The same report passes where the host allows a bigger drop than this one.
    assert decide(report, max_forgetting=0.99).promote


def test_a_drop_within_the_noise_is_no_veto() -> None:
    base = {"correct": [True] * 20, "followed": [True] * 16 + [False] * 4, "loss": None}
    adapter = {"correct": [True] * 20, "followed": [True] * 14 + [False] * 6, "loss": None}
    found = forgetting.compare(base, adapter, 0.10)  # 12.5% down, 2 of 20 items: noise
    assert found["instruction_drop"] > 0.10 and not found["flagged"]
