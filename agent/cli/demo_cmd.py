"""`selftune demo`: the end-to-end flow (dataset → train → eval → export → serve → schedule → improve)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from agent.cli.common import console, emit_json, err_console, settings_of


def register(app: typer.Typer) -> None:
    """Add the `demo` command."""

    @app.command()
    def demo(
        ctx: typer.Context,
        tiny: bool = typer.Option(False, "--tiny", help="The tiny random test model and minimal steps (seconds; for CI)."),
        home: Optional[Path] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
            None, "--home", help="Run in this state dir instead of the configured one (e.g. a scratch folder)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document with every step's result."),
        train_budget: Optional[float] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
            None, "--train-budget", min=1, metavar="SECONDS", help="Seconds of training at most (default 300, with --tiny 120): a slow "
            "machine trains fewer steps and the demo goes on with that adapter."),
    ) -> None:
        """Run the whole flow on this machine: a pirate persona adapter, trained, evaluated, exported and served.

        Default: SmolLM2 on CPU in a few minutes. Everything is written to the state dir (see the summary)."""
        from agent.demo import DemoPlan, run_demo, summary_table

        if home is not None:
            os.environ["SELFTUNE_HOME"] = str(home.expanduser().resolve())  # the job runner inherits it
        settings = settings_of(ctx)
        out = err_console if as_json else console
        try:
            plan = DemoPlan.for_mode(tiny)
            if train_budget is not None:
                plan = plan.model_copy(update={"train_budget_s": train_budget})
            results = run_demo(settings, plan, out)
        except KeyboardInterrupt:
            err_console.print("Stopped the demo; nothing it started is still running.", markup=False, highlight=False)
            raise typer.Exit(130) from None
        failed = [r.name for r in results if r.status == "failed"]
        if as_json:
            emit_json({"home": str(settings.home), "tiny": tiny, "ok": not failed,
                       "steps": [r.model_dump(mode="json") for r in results]})
        else:
            console.print(summary_table(results, settings))
            console.print(f"Everything is under {settings.home}. Next: `selftune chat \"talk like the pirate\"`, "
                          "`selftune adapters list`, `selftune schedule list`, `selftune improve journal`.", markup=False)
        raise typer.Exit(1 if failed else 0)
