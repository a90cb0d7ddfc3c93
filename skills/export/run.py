"""`export.run`: merged HF folder, LoRA GGUF (+ the base GGUF to apply it on) or an Ollama model."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from config.errors import SelftuneError
from config.settings import Settings
from skills.evaluate.loading import base_model_of, resolve_adapter
from skills.export import gguf, merge, ollama

Target = Literal["merged", "gguf", "ollama"]


def base_gguf_for(base_model: str) -> Path:
    """The base model's GGUF: the packaged SmolLM2 file (other bases need a GGUF of their own)."""
    from skills.models import smollm2_gguf_path

    if base_model in ("smollm2",) or base_model.rstrip("/").endswith("smollm2-135m-instruct"):
        return smollm2_gguf_path()
    raise SelftuneError(f"No base GGUF is known for '{base_model}'; export --to merged, or train on smollm2.")


def writable_folder(out: Path) -> Path:
    """Create the export folder and prove it takes files, so a bad --out is one sentence before any work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise SelftuneError(f"Cannot write the export to {out}: {exc.strerror or exc}; "
                            "check the path and choose a writable folder with --out.") from None
    return out


def export_adapter(settings: Settings, adapter: str | Path, to: Target, *, out_dir: Path | None = None,
                   name: str | None = None, progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Export an adapter; returns the written paths (and the Ollama model for --to ollama)."""
    ref = resolve_adapter(adapter, settings)
    out = writable_folder(out_dir or settings.artifacts_dir / "exports" / ref.path.name)
    if to == "merged":
        return {"to": to, "adapter": ref.name, "path": str(merge.merge_adapter(settings, ref, out / "merged"))}
    from skills.models import resolve_base_model

    base_name = base_model_of(ref, settings)
    base_gguf = base_gguf_for(base_name)
    lora = gguf.write_lora_gguf(ref.path, resolve_base_model(base_name, settings.models_dir), out / f"{ref.path.name}.gguf")
    doc: dict[str, Any] = {"to": to, "adapter": ref.name, "path": str(lora), "base_gguf": str(base_gguf)}
    if to == "ollama":
        system = ref.manifest.get("system_prompt")
        (out / "Modelfile").write_text(ollama.modelfile(base_gguf, lora, system), encoding="utf-8")
        model = name or f"selftune-{ref.path.name}".lower()
        doc.update(modelfile=str(out / "Modelfile"),
                   ollama=ollama.create_model(settings.ollama.host, model, base_gguf, lora, system, progress))
    return doc
