"""TrainSpec and recipes: what the jobs engineer and users build specs from."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import NotFound, UsageError
from config.workspace import open_workspace
from skills.train.spec import TrainSpec, list_recipes, load_recipe, spec_from_recipe


def test_shipped_recipes_load(settings) -> None:
    assert {"persona-lora", "persona-qlora", "dpo", "full-small"} <= set(list_recipes(settings))
    assert load_recipe(settings, "dpo").method == "dpo"
    assert load_recipe(settings, "full-small").hyper.learning_rate == 2e-5


def test_spec_from_recipe_with_persona_and_overrides(settings, sft_file: Path) -> None:
    open_workspace(settings)
    spec = spec_from_recipe(settings, None, persona="pirate", dataset=sft_file, max_steps=7, seed=3)
    assert spec.recipe == "persona-lora" and spec.method == "lora"
    assert spec.hyper.max_steps == 7 and spec.seed == 3
    assert spec.name == "pirate-lora" and spec.version == "v1"
    assert spec.output_dir == settings.artifacts_dir / "adapters" / "pirate-lora" / "v1"
    assert len(spec.dataset_sha256) == 64 and spec.base_model == "tiny"
    path = spec.save(settings.home / "spec.json")
    assert TrainSpec.load(path) == spec


def test_method_full_lowers_learning_rate(settings, sft_file: Path) -> None:
    spec = spec_from_recipe(settings, "persona-lora", method="full", dataset=sft_file)
    assert spec.hyper.learning_rate == 2e-5


def test_workspace_recipe_overrides_default(settings, sft_file: Path) -> None:
    ws = open_workspace(settings)
    ws.write("recipes/persona-lora.toml", 'method = "lora"\n[hyper]\nrank = 4\n')
    assert spec_from_recipe(settings, "persona-lora", dataset=sft_file).hyper.rank == 4


def test_clear_errors(settings, sft_file: Path) -> None:
    with pytest.raises(NotFound, match="no recipe 'nope'"):
        spec_from_recipe(settings, "nope", dataset=sft_file)
    with pytest.raises(UsageError, match="Unknown training option"):
        spec_from_recipe(settings, "persona-lora", dataset=sft_file, rnak=4)
    with pytest.raises(UsageError, match="No dataset"):
        spec_from_recipe(settings, "persona-lora")
    with pytest.raises(UsageError, match="rank"):
        spec_from_recipe(settings, "persona-lora", dataset=sft_file, rank=0)
