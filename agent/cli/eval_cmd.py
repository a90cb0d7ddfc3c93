"""`selftune eval ADAPTER`: is the adapter better than its base (or another adapter)?"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from agent.cli.common import console, emit_json, err_console, settings_of
from agent.cli.progress import follow_submitted
from config.settings import Settings


def _print_human(doc: dict[str, Any]) -> None:
    from rich.markdown import Markdown

    console.print(Markdown(Path(doc["report"]["markdown"]).read_text(encoding="utf-8")))
    page = Path(doc["report"]["markdown"]).with_name("report.html")
    console.print(f"Report: {doc['report']['markdown']} (chart: {doc['report']['png']}; open in a browser: {page})")


def _on_executor(settings: Settings, adapter: str, executor: str, *, against: str, persona: str | None,
                 data: Path | None, limit: int, judge: bool, quiet: bool) -> dict[str, Any]:
    """Evaluate as a job on the executor (the GPU box with ray); returns the report fetched back here.

    The adapter compared `against` and the persona card travel with the job."""
    from skills.jobs.heavy import fetched_report, submit_eval

    job_id = submit_eval(settings, adapter, executor=executor, data=data, limit=limit, use_judge=judge,
                         against=against, persona=persona)
    return fetched_report(follow_submitted(settings, job_id, "evaluation", executor, quiet=quiet))


def register(app: typer.Typer) -> None:
    """Add the `eval` command."""

    @app.command("eval")
    def eval_(  # noqa: PLR0913 - one option per user-facing knob
        ctx: typer.Context,
        adapter: str = typer.Argument(..., help="Adapter folder or registered adapter id."),
        against: str = typer.Option("base", "--against", help="'base' or another adapter (folder or id) to compare with."),
        data: Optional[Path] = typer.Option(None, "--data", help="Eval split (messages JSONL); default: the adapter's."),  # noqa: UP045
        persona: Optional[str] = typer.Option(None, "--persona", help="Persona whose style rules to check."),  # noqa: UP045
        judge: bool = typer.Option(True, "--judge/--no-judge", help="Ask the judge model (the judge section of the config) to compare answers."),
        limit: int = typer.Option(32, "--limit", min=1, help="Evaluate at most this many items; fewer than eval.min_rows "
                                   "(16 by default) give no promote verdict."),
        executor: Optional[str] = typer.Option(  # noqa: UP045
            None, "--executor", "-e", help="local (this machine) or ray (a job on the GPU box); default: executor.kind."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Evaluate ADAPTER: held-out loss, samples, format adherence, judge, forgetting, and the promotion verdict."""
        from skills.evaluate.report import summary
        from skills.evaluate.run import evaluate_adapter

        settings = settings_of(ctx)
        kind = executor or settings.executor.kind
        if kind != "local":
            doc = _on_executor(settings, adapter, kind, against=against, persona=persona, data=data, limit=limit,
                               judge=judge, quiet=as_json)
        else:
            with err_console.status("Evaluating…") as status:
                doc = evaluate_adapter(settings, adapter, against=against, data=data, persona=persona, limit=limit,
                                       use_judge=judge, progress=lambda e: status.update(e.get("message", "")))
        if as_json:
            emit_json(summary(doc))
        else:
            _print_human(doc)
