"""`selftune export ADAPTER --to merged|gguf|ollama`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Optional

import typer

from agent.cli.common import console, emit_json, err_console, settings_of


class ExportTarget(StrEnum):
    """Where `selftune export` writes to."""

    merged = "merged"
    gguf = "gguf"
    ollama = "ollama"


def register(app: typer.Typer) -> None:
    """Add the `export` command."""

    @app.command("export")
    def export(
        ctx: typer.Context,
        adapter: str = typer.Argument(..., help="Adapter folder or registered adapter id."),
        to: ExportTarget = typer.Option(..., "--to", help="merged: HF folder; gguf: llama.cpp LoRA GGUF; ollama: create a model."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: artifacts/exports/<adapter>)."),  # noqa: UP045
        name: Optional[str] = typer.Option(None, "--name", help="Ollama model name (default: selftune-<adapter>)."),  # noqa: UP045
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Export ADAPTER so other tools (Ollama, llama.cpp, any HF loader) can use it."""
        from skills.export.run import export_adapter

        settings = settings_of(ctx)
        with err_console.status(f"Exporting to {to.value}…") as status:
            doc = export_adapter(settings, adapter, to.value, out_dir=out, name=name,
                                 progress=lambda e: status.update(e.get("message", "")))
        if as_json:
            emit_json(doc)
        else:
            console.print(f"Exported {doc['adapter']} to {doc['path']}")
            if doc.get("ollama"):
                console.print(f"Ollama model '{doc['ollama']['model']}' created at {doc['ollama']['host']}.")
