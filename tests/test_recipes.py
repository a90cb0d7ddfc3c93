"""Recipes as files: `train FILE --set`, `recipes list|show|new`, and TOML edits that keep people's comments."""

import json
import tomllib
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.workspace import open_workspace
from improver.generators.llm_edit import replace_system_prompt
from improver.generators.optuna_hparams import OptunaRecipeGenerator
from skills.jobs import JobManager
from skills.train.adapters import set_served
from skills.train.spec import parse_sets

ROW = {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Arr, hi matey!"}]}
MY_RECIPE = """# my own recipe: kept by every edit
description = "mine"
method = "lora"

[hyper]
rank = 8          # small on purpose
alpha = 16
learning_rate = 3e-4  # the user's first guess
max_steps = 2
"""


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def flat(output: str) -> str:
    """The error box's text on one line (rich wraps it at the terminal width)."""
    return " ".join(output.replace("│", " ").split())


def rows_file(folder: Path, n: int = 12) -> Path:
    path = folder / "pirate.jsonl"
    path.write_text("".join(json.dumps(ROW) + "\n" for _ in range(n)))
    return path


def _stop(settings, job_id: str) -> None:
    manager = JobManager(settings)
    try:
        if not manager.get(job_id).done:
            manager.cancel(job_id)
        manager.wait(job_id, timeout=30)
    finally:
        manager.close()


def test_train_a_toml_file_with_set_records_the_value(settings, tmp_path):
    recipe = tmp_path / "my.toml"
    recipe.write_text(MY_RECIPE)
    result = cli("train", str(recipe), "--set", "hyper.learning_rate=1e-4", "--set", "seed=7",
                 "--dataset", str(rows_file(tmp_path)), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    try:
        spec = json.loads((settings.home / "jobs" / doc["job_id"] / "spec.json").read_text())
        assert spec["hyper"]["learning_rate"] == 1e-4 and spec["hyper"]["rank"] == 8 and spec["seed"] == 7
        assert doc["recipe"] == "my" and doc["max_steps"] == 2
    finally:
        _stop(settings, doc["job_id"])


@pytest.mark.slow  # the real worker imports torch/transformers/TRL
def test_train_file_with_set_trains_with_that_value(settings, tmp_path, tiny_model_dir):
    recipe = tmp_path / "my.toml"
    recipe.write_text(MY_RECIPE)
    result = cli("train", str(recipe), "--set", "hyper.learning_rate=1e-4", "--dataset", str(rows_file(tmp_path)),
                 "--wait", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["state"] == "succeeded"
    manifest = json.loads((Path(doc["adapter"]) / "manifest.json").read_text())
    assert manifest["hyper"]["learning_rate"] == 1e-4 and manifest["hyper"]["rank"] == 8
    events = json.loads(cli("jobs", "logs", doc["job_id"], "--json").stdout)["events"]
    rates = [e["lr"] for e in events if isinstance(e.get("lr"), float)]
    assert rates and max(rates) <= 1e-4 * 1.0001  # the trainer ran with the --set value, not the file's 3e-4


def test_bad_set_values_are_one_sentence_with_the_field_help(settings, tmp_path):
    data = str(rows_file(tmp_path))
    bad = cli("train", "persona-lora", "--set", "hyper.rank=0", "--dataset", data)
    assert bad.exit_code == 2 and "hyper.rank" in flat(bad.output) and "LoRA rank" in flat(bad.output)
    assert "Traceback" not in flat(bad.output)
    unknown = cli("train", "persona-lora", "--set", "hyper.lr=1e-4", "--dataset", data)
    assert unknown.exit_code == 2 and "hyper.lr" in flat(unknown.output) and "learning_rate" in flat(unknown.output)
    missing = cli("train", str(tmp_path / "nope.toml"), "--dataset", data)
    assert missing.exit_code == 2 and "nope.toml does not exist" in flat(missing.output)
    absent = cli("train", "persona-lora", "--set", "hyper.report_to=tensorboard", "--dataset", data)
    assert absent.exit_code == 2 and "pip install tensorboard" in flat(absent.output)


def test_parse_sets_reads_toml_literals_and_bare_words():
    sets = parse_sets(["hyper.learning_rate=1e-4", "packing=false", "scheduler=linear", "base_model=tiny"])
    assert sets == {"learning_rate": 1e-4, "packing": False, "scheduler": "linear", "base_model": "tiny"}


def test_recipes_list_show_new(settings):
    listed = json.loads(cli("recipes", "list", "--json").stdout)["recipes"]
    names = [r["name"] for r in listed]
    assert {"persona-lora", "persona-qlora", "dpo", "full-small"} <= set(names)
    # The built-ins the user sees are the workspace copies, the files the improver edits.
    assert all(r["path"].startswith(str(settings.workspace_dir)) for r in listed)
    shown = cli("recipes", "show", "persona-lora")
    assert shown.exit_code == 0 and "learning_rate" in shown.stdout and "effective batch" in shown.stdout
    made = cli("recipes", "new", "mine", "--from", "persona-qlora")
    assert made.exit_code == 0, made.output
    target = settings.workspace_dir / "recipes" / "mine.toml"
    assert tomllib.loads(target.read_text())["method"] == "qlora"
    assert "recipes: new mine" in open_workspace(settings).repo.head.commit.message
    again = cli("recipes", "new", "mine")
    assert again.exit_code == 2 and "already exists" in flat(again.output)
    table = cli("recipes", "list")
    assert table.exit_code == 0 and "mine" in table.stdout


def test_a_comment_in_a_recipe_survives_an_improver_edit(settings):
    ws = open_workspace(settings)
    ws.write("recipes/mine.toml", MY_RECIPE)
    draft = OptunaRecipeGenerator(settings).propose("recipe:mine", [])
    text = draft.changes["recipes/mine.toml"]
    assert "# my own recipe: kept by every edit" in text and "# small on purpose" in text
    hyper = tomllib.loads(text)["hyper"]
    study = optuna.load_study(study_name="recipe-mine", storage=f"sqlite:///{settings.home / 'improver_optuna.db'}")
    assert hyper["learning_rate"] == pytest.approx(study.trials[0].params["learning_rate"], rel=5e-3)
    assert hyper["max_steps"] == 2 and list(hyper)[:2] == ["rank", "alpha"]  # order kept


def test_persona_and_served_edits_keep_comments():
    card = '# the captain\nname = "pirate"\nsystem_prompt = "Arr."  # first try\n\n[style]\nany_of = ["arr"]\n'
    edited = replace_system_prompt(card, 'Say "Arr" and\nbe kind.')
    assert edited.startswith("# the captain") and tomllib.loads(edited)["system_prompt"] == 'Say "Arr" and\nbe kind.'
    served = set_served('# my note\nassistant = "a/v1"  # keep\n', "pirate", "pirate-lora/v2")
    assert "# my note" in served and "# keep" in served and tomllib.loads(served)["pirate"] == "pirate-lora/v2"

