"""`selftune train`: submit a fine-tuning job and optionally wait for it with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent.cli.common import console, emit_json, settings_of
from agent.cli.progress import follow_job
from config.errors import UsageError


def _as_file(recipe: str | None) -> Path | None:
    """The recipe argument as a file when it names one (a path or *.toml); a bare name stays a recipe name."""
    if recipe is None or not (recipe.endswith(".toml") or "/" in recipe or Path(recipe).is_file()):
        return None
    path = Path(recipe).expanduser()
    if not path.is_file():
        raise UsageError(f"Recipe file {path} does not exist; check the path or use a name from "
                         "`selftune recipes list`.")
    return path.resolve()


def _help() -> str:
    """The command's help, naming the packaged recipes and the dataset formats it reads."""
    from skills.dataset.formats import FORMATS
    from skills.train.spec import DEFAULT_RECIPES

    recipes = ", ".join(sorted(p.stem for p in DEFAULT_RECIPES.glob("*.toml")))
    return ("Submit a training job; prints its id (follow it with `selftune jobs logs ID --follow`).\n\n"
            f"Recipes: {recipes} (and any in the workspace's recipes folder; `selftune recipes list` shows them).\n\n"
            f"Dataset formats (JSONL or a JSON array, detected from the rows): {', '.join(FORMATS)}; "
            "`selftune dataset validate FILE` checks one.")


def register(app: typer.Typer) -> None:
    """Add the `train` command."""

    @app.command(help=_help())
    def train(
        ctx: typer.Context,
        recipe: Optional[str] = typer.Argument(  # noqa: UP045
            None, metavar="RECIPE_OR_FILE", help="A recipe name (`selftune recipes list`) or a recipe TOML file."),
        persona: Optional[str] = typer.Option(None, "--persona", "-p", help="Persona the adapter is for."),  # noqa: UP045
        method: Optional[str] = typer.Option(None, "--method", "-m", help="lora | qlora | dpo | full."),  # noqa: UP045
        dataset: Optional[Path] = typer.Option(None, "--dataset", "-d", help="Canonical JSONL dataset."),  # noqa: UP045
        executor: Optional[str] = typer.Option(None, "--executor", "-e", help="local (this machine) or ray (GPU box)."),  # noqa: UP045
        max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override the recipe's optimizer steps."),  # noqa: UP045
        sets: list[str] = typer.Option([], "--set", "-s", help="Override a recipe field: --set hyper.learning_rate=1e-4."),  # noqa: B006
        wait: bool = typer.Option(False, "--wait", "-w", help="Wait for the job, with a progress bar (step, loss, ETA)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Submit a training job; prints its id (follow it with `selftune jobs logs ID --follow`)."""
        from skills.jobs import JobManager
        from skills.jobs.format import describe
        from skills.jobs.submit import TrainingJob, submit_training
        from skills.train.spec import parse_sets

        settings = settings_of(ctx)
        overrides = parse_sets(sets)
        if max_steps is not None:
            overrides["max_steps"] = max_steps
        recipe_file = _as_file(recipe)
        manager = JobManager(settings)
        try:
            doc = submit_training(settings, None if recipe_file else recipe, persona=persona, method=method,
                                  dataset=dataset, executor=executor, manager=manager, recipe_file=recipe_file,
                                  **overrides)
            if not as_json:
                console.print(f"Submitted job {doc.job_id} ({doc.adapter_id}).", markup=False)
            if wait:
                job = follow_job(manager, doc.job_id, quiet=as_json)
                doc = TrainingJob.of(job)
                if not as_json:
                    console.print(describe(job), markup=False)
        finally:
            manager.close()
        if as_json:
            emit_json(doc.model_dump(mode="json"))
        raise typer.Exit(1 if wait and doc.state != "succeeded" else 0)
