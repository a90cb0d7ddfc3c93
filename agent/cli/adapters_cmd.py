"""`selftune adapters ...` and `selftune rollback`: the adapter registry and which adapter each persona serves."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, for_people, new_typer, settings_of

adapters_app = new_typer("Trained adapters: list them, promote one for a persona, roll back.")


@adapters_app.command("list")
def list_cmd(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, help="Only adapters with this name."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List registered adapters (newest version last) and what each persona serves."""
    from skills.train.adapters import list_adapters

    adapters = list_adapters(settings_of(ctx), name)
    if as_json:
        emit_json({"adapters": [a.model_dump(mode="json") for a in adapters]})
        return
    table = Table("id", "method", "base", "persona", "served for", "eval loss")
    for a in adapters:
        table.add_row(a.id, a.method, a.base_model, a.persona or "", ", ".join(a.served_for),
                      for_people(a.metrics.get("eval_loss", "")))
    console.print(table)


@adapters_app.command("show")
def show_cmd(
    ctx: typer.Context,
    adapter: str = typer.Argument(..., help="Adapter id, e.g. pirate-lora/v2 (a bare name: its newest version)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show one adapter: base, method, lineage, metrics, what trained it (backend, device, dtype) and, for each
    persona it serves, its 👍 rate in use."""
    from improver.watch import watches
    from skills.train.adapters import get_adapter

    settings = settings_of(ctx)
    info = get_adapter(settings, adapter)
    in_use = watches(settings, [(p, info.id) for p in info.served_for])
    if as_json:
        emit_json({**info.model_dump(mode="json"), "in_use": [w.model_dump(mode="json") for w in in_use]})
        return
    ran = info.runtime or {}
    trained = (f"{ran.get('backend', '?')} on {ran.get('device', '?')}, {ran.get('dtype', '?')}"
               + (f", {ran['quantization']}" if ran.get("quantization") else "")) if ran else "not recorded"
    rows = [("id", info.id), ("base model", info.base_model), ("method", info.method),
            ("persona", info.persona or ""), ("served for", ", ".join(info.served_for)), ("trained with", trained),
            ("parent", info.parent or ""), ("created", info.created_at or ""), ("path", info.path),
            *((f"metric {k}", for_people(v)) for k, v in info.metrics.items()),
            *((f"in use for {w.persona}", w.line()) for w in in_use)]
    table = Table("field", "value", show_header=False)
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@adapters_app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    persona: str = typer.Argument(..., help="Persona that will serve the adapter."),
    adapter: str = typer.Argument(..., help="Adapter id, e.g. pirate-lora/v2."),
) -> None:
    """Serve an adapter for a persona without the evaluation gate (a commit in the workspace)."""
    from skills.train.adapters import promote

    sha = promote(settings_of(ctx), persona, adapter)
    console.print(f"{persona} now serves {adapter} (commit {sha[:8]}).")


@adapters_app.command("canary")
def canary_cmd(
    ctx: typer.Context,
    persona: str = typer.Argument(..., help="Persona whose chats the candidate shares."),
    adapter: Optional[str] = typer.Argument(None, help="Candidate adapter id, e.g. pirate-lora/v3 (not with --stop)."),  # noqa: UP045
    share: float = typer.Option(0.2, "--share", help="Share of the persona's chat turns the candidate answers."),
    days: float = typer.Option(2.0, "--days", help="How long before 👍/👎 on both sides decide."),
    stop: bool = typer.Option(False, "--stop", help="End the persona's running canary now; the served adapter stays."),
) -> None:
    """Let a candidate answer a share of a persona's chats, then promote it, end it or keep the served one, as
    people's 👍/👎 on both sides say at the deadline (every step is a workspace commit)."""
    from skills import canary

    settings = settings_of(ctx)
    if stop:
        ended = canary.stop(settings, persona)
        console.print(f"The canary of {ended.adapter} for {persona} is stopped; {ended.incumbent or 'the base model'} "
                      "answers every chat again.")
        return
    if adapter is None:
        raise typer.BadParameter("name the candidate adapter, e.g. `selftune adapters canary pirate pirate-lora/v3`.")
    started = canary.start(settings, persona, adapter, share=share, days=days)
    console.print(f"{started.adapter} now answers {started.share:.0%} of {persona}'s chat turns beside "
                  f"{started.incumbent or 'the base model'} until {started.deadline:%Y-%m-%d %H:%M} UTC; "
                  "👍/👎 on its answers decide then.", highlight=False)


def rollback(
    ctx: typer.Context,
    persona: str = typer.Argument(..., help="Persona whose served adapter is restored."),
    to: Optional[str] = typer.Option(None, "--to", help="Adapter id to serve instead of the previous one."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Serve the persona's previous adapter again (undoes the last promotion; itself undoable)."""
    from skills.train.adapters import rollback as do_rollback

    change = do_rollback(settings_of(ctx), persona, to=to)
    if as_json:
        emit_json(change)
    else:
        console.print(f"{persona}: {change['from'] or 'base model'} → {change['to'] or 'base model'}.")


def register(app: typer.Typer) -> None:
    """Add the `adapters` group and the top-level `rollback` command."""
    app.add_typer(adapters_app, name="adapters")
    app.command("rollback")(rollback)
