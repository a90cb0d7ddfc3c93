"""`selftune skills` and `selftune mcp`: the skill registry for people and for other agent hosts."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, new_typer, settings_of
from config.errors import UsageError

skills_app = new_typer("List, inspect, call and export selftune's skills (built-in, entry-point and workspace).")


def _registry(ctx: typer.Context):  # noqa: ANN202
    from skills.registry import load_registry

    return load_registry(workspace=settings_of(ctx).workspace_dir)


def _summary(skill) -> dict:  # noqa: ANN001
    return {
        "name": skill.name, "description": skill.description, "permission": skill.permission, "effects": skill.effects,
        "origin": skill.origin, "version": skill.version, "parameters": skill.parameters,
    }


@skills_app.command("list")
def list_skills(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List every registered skill with its permission, effects and origin."""
    registry = _registry(ctx)
    if as_json:
        emit_json({"skills": [_summary(s) for s in registry.all()], "errors": registry.errors})
        return
    table = Table("name", "permission", "effects", "origin", "description")
    for s in registry.all():
        table.add_row(s.name, s.permission, s.effects, f"{s.origin} {s.version}", s.description)
    console.print(table)
    for error in registry.errors:
        console.print(f"[red]not loaded:[/] {error}")


@skills_app.command("show")
def show_skill(ctx: typer.Context, name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one skill: description, permission, origin and its parameter schema."""
    skill = _registry(ctx).get(name)
    if as_json:
        emit_json({**_summary(skill), "usage": skill.body})
        return
    console.print(f"[bold]{skill.name}[/] ({skill.permission}, effects {skill.effects}, {skill.origin} {skill.version})\n"
                  f"{skill.description}")
    console.print_json(json.dumps(skill.parameters))
    if skill.body:
        console.print(skill.body, highlight=False)


@skills_app.command("call")
def call_skill(
    ctx: typer.Context,
    name: str,
    args: str = typer.Option("{}", "--args", help="Arguments as a JSON object."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Call a skill with JSON arguments as the local user (what exported SKILL.md files run)."""
    from config.settings import Settings  # noqa: F401 - settings built below
    from skills.context import Requester, SkillContext

    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not valid JSON ({exc.msg}); pass an object like '{{\"path\": \"data.jsonl\"}}'.") from None
    if not isinstance(parsed, dict):
        raise UsageError("--args must be a JSON object.")
    settings = settings_of(ctx)
    requester = Requester(user="local", transport="cli", permission=settings.auth.local_user_permission)
    # The local user at their own shell may name any file they could open themselves.
    result = _registry(ctx).call(name, parsed, SkillContext(settings=settings, requester=requester, confined=False))
    if as_json:
        emit_json(result)
    else:  # JSON only for --json: people read the result's sentence
        from agent.dispatch import describe_result

        console.print(describe_result(name, result), highlight=False, markup=False)


@skills_app.command("export")
def export(ctx: typer.Context, out: Path = typer.Argument(..., help="Folder to write <skill>/SKILL.md into.")) -> None:
    """Export every skill as a SKILL.md folder (Agent Skills / OpenClaw style) for another agent host."""
    from agent.skill_export import export_skills

    paths = export_skills(_registry(ctx), out)
    console.print(f"Exported {len(paths)} skills to {out}")


def register(app: typer.Typer) -> None:
    """Add the `skills` group and the `mcp` command."""
    app.add_typer(skills_app, name="skills")

    @app.command()
    def mcp(
        ctx: typer.Context,
        http: bool = typer.Option(False, "--http", help="Serve streamable HTTP on 127.0.0.1 instead of stdio "
                                  "(needs SELFTUNE_MCP_TOKEN; clients send 'Authorization: Bearer <token>')."),
        port: int = typer.Option(None, "--port", help="HTTP port (default mcp.port, 8765)."),
        client: str = typer.Option("mcp-client", "--client", help="Name of the connecting client, for logs and audit."),
    ) -> None:
        """Serve selftune's skills to another agent host over MCP (stdio by default)."""
        import anyio

        from agent.mcp_server import SkillServer, http_token, serve_http, serve_stdio

        settings = settings_of(ctx)
        token = http_token(settings) if http else None  # refuse before anything listens
        server = SkillServer(settings, _registry(ctx), client=client)
        if token is not None:
            serve_http(server, port or settings.mcp.port, token)
        else:
            anyio.run(serve_stdio, server)
