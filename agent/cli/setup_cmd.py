"""`selftune setup`: prepare the models once per machine, with progress (`make install` runs it)."""

from __future__ import annotations

import typer

from agent.cli.common import console, emit_json, err_console, settings_of
from agent.machine_setup import SetupItem


def register(app: typer.Typer) -> None:
    """Add the `setup` command."""

    @app.command()
    def setup(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document with each item's outcome."),
    ) -> None:
        """Prepare the recall embedder and the base models once for this machine (a few minutes on 2 cores).

        Every state dir on the machine shares them; running it again only checks they are there."""
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from agent.machine_setup import items, run_item
        from config.machine_cache import machine_models_dir

        settings = settings_of(ctx)
        todo = items(settings)
        done = []
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("preparing", total=len(todo))
            for name, prepare in todo:
                bar.update(task, description=f"preparing {name}")
                item = run_item(settings, name, prepare)
                done.append(item)
                bar.console.print(_line(item), markup=False, highlight=False)
                bar.advance(task)
        where = machine_models_dir(settings)
        if as_json:
            emit_json({"ok": True, "cache": str(where), "items": [i.model_dump() for i in done]})
            return
        console.print(f"Ready: every state dir on this machine uses the models in {where}.", markup=False, soft_wrap=True,
                      highlight=False)


def _line(item: SetupItem) -> str:
    if item.outcome == "prepared":
        return f"✓ {item.name}: prepared in {item.seconds:.0f} s"
    if item.outcome == "ready":
        return f"✓ {item.name}: already prepared"
    return f"– {item.name}: skipped ({item.detail})"
