"""Skill export.run: export an adapter to merged weights, GGUF or Ollama."""

from __future__ import annotations

from typing import Any, Literal

from skills.context import SkillContext
from skills.paths import AdapterPath


def run_export(adapter: AdapterPath, to: Literal["merged", "gguf", "ollama"] = "ollama", name: str | None = None,
               *, ctx: SkillContext) -> dict[str, Any]:
    """Export an adapter; returns the written paths (and the Ollama model name for 'ollama')."""
    from skills.jobs.heavy import export_where_configured

    # with executor.kind = "ray": a job on the GPU box; only the exported files (or the LoRA GGUF) come back
    return export_where_configured(ctx.settings, adapter, to, name=name, progress=ctx.report)
