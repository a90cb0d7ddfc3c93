"""`selftune simulate`: a simulated community, a week of nights on a fake clock, measured on a hidden holdout."""

from __future__ import annotations

import time

import typer

from agent.cli.common import console, emit_json, err_console, settings_of


def simulate_cmd(
    ctx: typer.Context,
    nights: int = typer.Option(3, "--nights", min=1, max=30, help="Simulated nights."),
    persona: str = typer.Option("pirate", "--persona", help="The persona the simulated community talks to."),
    users: int = typer.Option(3, "--users", min=1, max=50, help="Simulated users (the poisoner comes on top)."),
    tiny: bool = typer.Option(False, "--tiny", help="Tiny random model, minimal training: checks the loop in minutes."),
    poison_night: int = typer.Option(2, "--poison-night", min=0, help="Night a user floods the channel (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated users' choices."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Simulate users chatting by day and the nightly pipeline by night; report hidden-holdout curves."""
    from agent.simulate.nights import SimOptions, Simulation
    from agent.simulate.report import table

    opts = SimOptions(nights=nights, persona=persona, users=users, tiny=tiny, poison_night=poison_night, seed=seed)
    started = time.monotonic()
    quiet = (lambda _m: None) if as_json else (
        lambda m: err_console.print(f"[dim]{time.monotonic() - started:6.0f} s  {m}[/]"))
    doc = Simulation(settings_of(ctx), opts, progress=quiet).run()
    if as_json:
        emit_json(doc)
        return
    console.print(table(doc))
    if doc["poison"]:
        console.print(f"poisoned night {doc['poison']['night']}: {doc['poison']['outcome']}")
    console.print(f"report: {doc['report_dir']} ({doc['seconds']:.0f} s)")


def register(app: typer.Typer) -> None:
    """Add the `simulate` command."""
    app.command("simulate")(simulate_cmd)
