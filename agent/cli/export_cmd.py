"""`selftune export ADAPTER --to merged|gguf|ollama [--quant TYPE]`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Optional

import typer

from agent.cli.common import console, emit_json, err_console, settings_of
from agent.cli.progress import follow_submitted
from config.errors import UsageError
from config.settings import Settings


class ExportTarget(StrEnum):
    """Where `selftune export` writes to."""

    merged = "merged"
    gguf = "gguf"
    ollama = "ollama"


class Quant(StrEnum):
    """The tensor type of a whole-model GGUF (`--to gguf --quant ...`)."""

    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    q8_0 = "q8_0"
    q4_k_m = "q4_k_m"


def _on_executor(settings: Settings, adapter: str, to: str, executor: str, *, quant: str | None, out: Path | None,
                 quiet: bool) -> dict[str, Any]:
    """Export as a job on the executor (the GPU box with ray); returns the export fetched back here."""
    from skills.jobs.heavy import fetched_export, submit_export

    job_id = submit_export(settings, adapter, to, quant=quant, executor=executor)
    return fetched_export(follow_submitted(settings, job_id, "export", executor, quiet=quiet), out)


def register(app: typer.Typer) -> None:
    """Add the `export` command."""

    @app.command("export")
    def export(  # noqa: PLR0913 - one option per user-facing knob
        ctx: typer.Context,
        adapter: str = typer.Argument(..., help="Adapter folder or registered adapter id."),
        to: ExportTarget = typer.Option(..., "--to", help="merged: HF folder; gguf: llama.cpp LoRA GGUF; ollama: create a model."),
        quant: Optional[Quant] = typer.Option(  # noqa: UP045
            None, "--quant", "-q", help="With --to gguf: merge and write the whole model as one GGUF of this type."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: artifacts/exports/<adapter>)."),  # noqa: UP045
        name: Optional[str] = typer.Option(None, "--name", help="Ollama model name (default: selftune-<adapter>)."),  # noqa: UP045
        executor: Optional[str] = typer.Option(  # noqa: UP045
            None, "--executor", "-e", help="local (this machine) or ray (a job on the GPU box); default: executor.kind."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Export ADAPTER so other tools (Ollama, llama.cpp, any HF loader) can use it."""
        from skills.jobs.heavy import export_where_configured

        settings = settings_of(ctx)
        kind = executor or settings.executor.kind
        quant_type = quant.value if quant else None
        if quant_type and to != ExportTarget.gguf:
            raise UsageError("--quant applies only to --to gguf; drop it or export --to gguf.")
        if kind != "local" and to != ExportTarget.ollama:
            doc = _on_executor(settings, adapter, to.value, kind, quant=quant_type, out=out, quiet=as_json)
        else:
            # --to ollama with ray: the LoRA GGUF is made on the GPU box, the model FROM the pulled one here
            with err_console.status(f"Exporting to {to.value}…") as status:
                doc = export_where_configured(settings.model_copy(update={"executor": settings.executor.model_copy(
                    update={"kind": kind})}), adapter, to.value, out_dir=out, name=name, quant=quant_type,
                    progress=lambda e: status.update(e.get("message", "")))
        if as_json:
            emit_json(doc)
        else:
            console.print(f"Exported {doc['adapter']} to {doc['path']}")
            if doc.get("ollama"):
                console.print(f"Ollama model '{doc['ollama']['model']}' created at {doc['ollama']['host']}.")
