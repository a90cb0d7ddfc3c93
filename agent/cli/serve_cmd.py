"""`selftune serve [--persona P ...] [--port N]`: an OpenAI-compatible server on 127.0.0.1 with the base model and
every promoted persona adapter under their names (`base`, `pirate`), so other tools can use them: llama.cpp
answers behind a small front that picks the adapter and system prompt by the request's model name."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any, Optional

import typer

from agent.cli.common import console, emit_json, err_console, settings_of


def _describe(doc: dict[str, Any], base_url: str) -> str:
    lines = [f"Serving at {base_url} (OpenAI-compatible; Ctrl-C stops). Models:",
             f"  base: {Path(doc['base_gguf']).name}"]
    lines += [f"  {persona}: adapter {name} with the {persona} card's system prompt"
              for persona, name in doc["personas"].items()]
    lines += [f"  skipped {item}" for item in doc["skipped"]]
    lines.append(f'Use it from any OpenAI client with base_url "{base_url}" and model "base" or a persona\'s name; '
                 f'selftune chats through it with llm.provider = "openai", llm.base_url = "{base_url}".')
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the `serve` command."""

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        persona: Optional[list[str]] = typer.Option(None, "--persona", help="Serve only these personas' adapters (repeatable)."),  # noqa: UP045
        port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
        threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for generation."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document when the server is up."),
    ) -> None:
        """Serve the base model and the promoted persona adapters over an OpenAI-compatible API."""
        from skills.export.openai_front import ModelTable, OpenAIFront
        from skills.export.serve import LlamaServer, served_adapters, served_models

        settings = settings_of(ctx)
        with err_console.status("Exporting the promoted adapters to GGUF…"):
            doc = served_adapters(settings, persona or None)
        table = ModelTable(served_models(settings, doc), {name: i for i, name in enumerate(doc["adapters"])})
        server = LlamaServer(doc["base_gguf"], doc["adapters"], threads=threads).start()  # on an internal port
        try:
            front = OpenAIFront(table, server.port, port).start()
        except Exception:
            server.stop()
            raise
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if as_json:
            emit_json({**doc, "base_url": front.base_url, "models": [m.name for m in table.models]})
        else:
            console.print(_describe(doc, front.base_url), highlight=False)
        try:
            while not stop.wait(1.0):  # serve until SIGTERM or Ctrl-C
                pass
        except KeyboardInterrupt:
            pass
        finally:
            front.stop()
            server.stop()
