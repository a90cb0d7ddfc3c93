"""Honest measurement of recipe proposals: the guides' bounds, the served base model, each persona's own data."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import optuna
import pytest

from config.settings import Settings
from config.workspace import open_workspace
from improver import holdout, journal
from improver.bounds import bound_problems
from improver.eval_config import EvalConfig, from_settings
from improver.generators.optuna_hparams import suggest
from improver.loop import Loop
from improver.proposals import Draft
from skills.train.spec import Recipe

RECIPE = "recipes/persona-lora.toml"


class PlantedRecipe:
    """A generator that proposes one fixed learning rate for the recipe (the planted proposal)."""

    name = "planted"

    def __init__(self, settings: Settings, learning_rate: str) -> None:
        self.settings, self.learning_rate = settings, learning_rate

    def propose(self, target: str, history: list) -> Draft:
        text = open_workspace(self.settings).read(RECIPE).replace("learning_rate = 2e-4",
                                                                   f"learning_rate = {self.learning_rate}")
        return Draft(target=target, changes={RECIPE: text}, generator=self.name)

    def feedback(self, proposal: object, verdict: object) -> None:
        """Nothing to learn."""


def _run(settings: Settings, cfg: EvalConfig, learning_rate: str) -> journal.JournalEntry:
    loop = Loop(settings, generator_for=lambda _t: PlantedRecipe(settings, learning_rate), eval_config=cfg)
    [entry] = loop.run(rounds=1, targets=["recipe:persona-lora"]).entries
    return entry


def test_planted_learning_rate_of_5e_3_is_refused_as_out_of_bounds_and_journaled(
    settings: Settings, eval_cfg: EvalConfig
) -> None:
    ws = open_workspace(settings)
    head = ws.head()
    entry = _run(settings, eval_cfg, "5e-3")
    assert entry.verdict == "rejected"
    assert "learning_rate 0.005 is outside the lora bound 1e-05..0.0005" in entry.reason, entry.reason
    assert entry.baseline is None and entry.candidate is None  # refused before anything was trained
    assert ws.head() == head and "learning_rate = 2e-4" in ws.read(RECIPE)
    assert journal.entries(settings, target="recipe:persona-lora")[-1].reason == entry.reason


@pytest.mark.parametrize(("method", "hyper", "needle"), [
    ("full", {"learning_rate": 2e-4}, "learning_rate 0.0002 is outside the full bound 5e-06..5e-05"),
    ("lora", {"rank": 256, "alpha": 512}, "rank 256 is outside the lora bound 4..128"),
    ("lora", {"rank": 8, "alpha": 64}, "alpha 64 is outside the lora bound 8..32 (r to 4r for r=8)"),
    ("qlora", {"epochs": 12}, "epochs 12 is outside the qlora bound 1..5"),
])
def test_every_guide_bound_is_checked(method: str, hyper: dict, needle: str) -> None:
    problems = bound_problems(Recipe.model_validate({"method": method, "hyper": hyper}))
    assert any(needle in p for p in problems), problems
    assert bound_problems(Recipe.model_validate({"method": method, "hyper": {
        "learning_rate": 2e-5 if method == "full" else 2e-4}})) == []


def test_optuna_search_space_stays_inside_the_bounds() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for method in ("lora", "qlora", "full", "dpo"):
        for _ in range(60):
            trial = study.ask()
            values = suggest(trial, method)
            # what set_hyper writes: 3 significant digits
            hyper = {k: float(f"{v:.3g}") if isinstance(v, float) else v for k, v in values.items()}
            assert bound_problems(Recipe.model_validate({"method": method, "hyper": hyper})) == [], (method, hyper)
            study.tell(trial, 1.0)


def test_proposal_measured_only_on_tiny_is_never_applied_to_the_real_recipe(
    settings: Settings, eval_cfg: EvalConfig
) -> None:
    # The user serves SmolLM2 and asked for a cheaper eval base: the short run uses "tiny".
    served = settings.model_copy(update={"base_model": "smollm2",
                                         "improver": settings.improver.model_copy(update={"eval_base_model": "tiny"})})
    cfg = from_settings(served, **{k: getattr(eval_cfg, k) for k in ("answerer", "answer_base_url", "judge_provider",
                                                                     "judge_base_url", "train_steps", "bootstrap")},
                        repeats=2)
    assert cfg.base_model == "smollm2" and cfg.measured_base("smollm2") == "tiny"
    ws = open_workspace(settings)
    head = ws.head()
    entry = _run(served, cfg, "4e-4")  # the value that measurably helps on tiny (test_planted)
    assert entry.verdict == "suggested", entry
    assert entry.reason.startswith("measured on tiny, not the served smollm2") and "not applied" in entry.reason
    assert entry.candidate < entry.baseline and entry.commit == ""
    assert ws.head() == head and "learning_rate = 2e-4" in ws.read(RECIPE)
    assert "1 suggested" in journal.summarize(journal.entries(settings))


def test_without_an_eval_base_recipes_are_measured_on_the_served_model(settings: Settings) -> None:
    cfg = from_settings(settings.model_copy(update={"base_model": "smollm2"}))
    assert cfg.recipe_base_model is None and cfg.measured_base("smollm2") == "smollm2"


def test_each_persona_is_measured_on_its_own_heldout_rows_never_another_personas(settings: Settings) -> None:
    hd = settings.holdout_dir
    _, _, source = holdout.recipe_rows_for(hd, "persona-lora", ["pirate"])
    assert source.startswith("the default held-out set recipes/default.jsonl (no own data)")
    default_rows = (hd / "recipes" / "default.jsonl").read_text()
    assert "arr" not in default_rows.lower() and "matey" not in default_rows.lower()
    own = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"Arr, a{i}"}]}
           for i in range(8)]
    (hd / "adapters").mkdir(parents=True, exist_ok=True)
    (hd / "adapters" / "pirate.jsonl").write_text("".join(json.dumps(r) + "\n" for r in own))
    train, held, source = holdout.recipe_rows_for(hd, "persona-lora", ["pirate"])
    assert source == "held-out adapters/pirate.jsonl" and len(train) + len(held) == 8
    # another persona on the same recipe does not get the pirate's rows
    _, _, other = holdout.recipe_rows_for(hd, "persona-lora", ["assistant"])
    assert "default" in other
    assert holdout.persona_source(hd, "pirate").startswith("the default held-out set personas/default.jsonl")


def test_recipe_verdict_names_its_model_and_data(settings: Settings, eval_cfg: EvalConfig) -> None:
    from improver.evaluator import evaluate
    from improver.proposals import create_proposal

    ws = open_workspace(settings)
    text = ws.read(RECIPE).replace("learning_rate = 2e-4", "learning_rate = 3e-4")
    assert tomllib.loads(text)["hyper"]["learning_rate"] == 3e-4
    ref = create_proposal(settings, ws, Draft(target="recipe:persona-lora", changes={RECIPE: text})).branch
    verdict = evaluate(eval_cfg.model_copy(update={"repeats": 1}), ref)
    assert verdict.measured_on == verdict.served_on == "tiny" and not verdict.eval_base
    assert "default held-out set" in verdict.data


def test_persona_prompts_are_judged_on_the_served_adapters_answers(
    settings: Settings, eval_cfg: EvalConfig, tiny_model_dir: Path
) -> None:
    from improver.evaluator import evaluate
    from improver.proposals import create_proposal
    from skills.train.adapters import set_served
    from tests.eval.conftest import train_adapter

    train_adapter(tiny_model_dir, holdout.recipe_rows(settings.holdout_dir, "default")[0],
                  settings.artifacts_dir / "adapters" / "pirate-lora" / "v1", steps=5)
    ws = open_workspace(settings)
    ws.write("adapters/served.toml", set_served(ws.read("adapters/served.toml"), "pirate", "pirate-lora/v1"))
    ws.commit("serve pirate-lora/v1")
    card = ws.read("personas/pirate.toml").replace("friendly pirate", "jolly pirate")
    ref = create_proposal(settings, ws, Draft(target="persona:pirate", changes={"personas/pirate.toml": card})).branch
    # Local answers (the served adapter on its base), the scripted judge; small so it stays quick.
    cfg = eval_cfg.model_copy(update={"answerer": "local", "repeats": 1, "max_prompts": 2, "max_new_tokens": 6})
    verdict = evaluate(cfg, ref)
    assert verdict.verdict == "reject" and verdict.measured_on.startswith("pirate-lora/v1 on "), verdict
    assert verdict.judge is not None and verdict.judge["n"] == 2
    assert verdict.data.startswith("the default held-out set personas/default.jsonl")
