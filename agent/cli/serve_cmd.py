"""`selftune serve [--persona P ...] [--port N]`: an OpenAI-compatible llama.cpp server on 127.0.0.1 with the
base GGUF and every promoted persona adapter, so other tools can use them."""

from __future__ import annotations

import signal
import threading
from typing import Any, Optional

import typer

from agent.cli.common import console, emit_json, err_console, settings_of


def _describe(doc: dict[str, Any], base_url: str) -> str:
    lines = [f"Serving {doc['base_gguf']} at {base_url} (OpenAI-compatible; Ctrl-C stops)."]
    for persona, name in doc["personas"].items():
        lines.append(f"  {persona}: adapter {name} (llama.cpp lora id {list(doc['adapters']).index(name)})")
    lines += [f"  skipped {item}" for item in doc["skipped"]]
    lines.append('Chat through it: llm.provider = "openai", llm.base_url = "' + base_url + '", llm.lora_api = "llamacpp".')
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
        from skills.export.serve import LlamaServer, served_adapters

        settings = settings_of(ctx)
        with err_console.status("Exporting the promoted adapters to GGUF…"):
            doc = served_adapters(settings, persona or None)
        server = LlamaServer(doc["base_gguf"], doc["adapters"], port=port, threads=threads).start()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if as_json:
            emit_json({**doc, "base_url": server.base_url})
        else:
            console.print(_describe(doc, server.base_url), highlight=False)
        try:
            while not stop.wait(1.0):  # serve until SIGTERM or Ctrl-C
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
