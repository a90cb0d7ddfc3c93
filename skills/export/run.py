"""`export.run`: merged HF folder, LoRA GGUF (+ the base GGUF to apply it on) or an Ollama model."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from config.errors import SelftuneError, disk_full_text
from config.settings import Settings
from skills.export import gguf, merge, ollama
from skills.train.lookup import AdapterRef, base_model_of, resolve_adapter

Target = Literal["merged", "gguf", "ollama"]


def base_gguf_for(base_model: str, settings: Settings | None = None) -> Path:
    """The base model's GGUF: a packaged base's own file (SmolLM2, Gemma 3), else an f16 conversion under models/gguf/."""
    from skills.models import packaged_gguf, resolve_base_model

    packaged = packaged_gguf(base_model, settings.models_dir if settings is not None else None)
    if packaged is not None:
        return packaged
    if settings is None:
        raise SelftuneError(f"No base GGUF is known for '{base_model}'; export an adapter on it with --to gguf first.")
    if (why := gguf.converter_missing()) is not None:
        raise SelftuneError(f"No base GGUF is known for '{base_model}' and none can be made: {why}; "
                            "or export --to merged.")
    folder = resolve_base_model(base_model, settings.models_dir)
    out = settings.models_dir / "gguf" / f"{folder.name}-f16.gguf"
    return out if out.is_file() else gguf.write_model_gguf(folder, out, "f16")


def is_full_model(ref: AdapterRef) -> bool:
    """A full fine-tune: a whole model folder rather than a LoRA adapter."""
    full = ref.manifest.get("method") == "full" or ref.manifest.get("kind") == "model"
    return full or not (ref.path / "adapter_config.json").is_file()


def _export_full(ref: AdapterRef, to: Target, out: Path, quant: str | None) -> dict[str, Any]:
    """A full fine-tune is already a whole model: copy it as the merged folder, or convert it to one GGUF."""
    if to == "merged":
        target = out / "merged"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ref.path, target, ignore=shutil.ignore_patterns("manifest.json", "checkpoint-*"))
        return {"to": to, "adapter": ref.name, "path": str(target)}
    if to == "ollama":
        raise SelftuneError(f"{ref.name} is a full fine-tune; export it --to gguf and create the Ollama model from "
                            "that file (`ollama create NAME` with `FROM <file>.gguf`).")
    path = gguf.write_model_gguf(ref.path, out / f"{ref.path.name}-{quant or 'q8_0'}.gguf", quant or "q8_0")
    return {"to": to, "adapter": ref.name, "path": str(path), "quant": quant or "q8_0"}


def writable_folder(out: Path) -> Path:
    """Create the export folder and prove it takes files, so a bad --out is one sentence before any work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        full = disk_full_text(exc, out)
        if full is not None:
            raise SelftuneError(full) from None
        raise SelftuneError(f"Cannot write the export to {out}: {exc.strerror or exc}; "
                            "check the path and choose a writable folder with --out.") from None
    return out


def export_lora_gguf(settings: Settings, adapter: str | Path, out_dir: Path | None = None) -> Path:
    """Only the adapter as a LoRA GGUF (megabytes; no base GGUF is made): what an Ollama `ADAPTER` line needs."""
    from skills.models import resolve_base_model

    ref = resolve_adapter(adapter, settings)
    if is_full_model(ref):
        raise SelftuneError(f"{ref.name} is a full fine-tune, not an adapter; export it --to gguf as a whole model.")
    out = writable_folder(out_dir or settings.artifacts_dir / "exports" / ref.path.name)
    base_dir = resolve_base_model(base_model_of(ref, settings), settings.models_dir)
    return gguf.write_lora_gguf(ref.path, base_dir, out / f"{ref.path.name}.gguf")


def export_onto_pulled(settings: Settings, ref: AdapterRef, out: Path, base: str, name: str | None,
                       progress: Callable[[dict[str, Any]], None] | None, lora: Path | None = None) -> dict[str, Any]:
    """--to ollama with a pulled base: FROM it + ADAPTER + SYSTEM + PARAMETERs, and the Modelfile beside it.

    `lora`: the adapter's LoRA GGUF when it was made elsewhere (on the GPU box); else it is written here."""
    from skills.export.ollama_pulled import create_from_pulled, modelfile_from

    lora = lora or export_lora_gguf(settings, ref.path, out)
    system, cfg = ref.manifest.get("system_prompt"), settings.ollama
    model = name or f"selftune-{ref.path.name}".lower()
    created = create_from_pulled(cfg.host, model, base, ref.name, lora, system,
                                 (cfg.num_ctx, cfg.temperature, cfg.repeat_penalty), progress)
    (out / "Modelfile").write_text(modelfile_from(base, lora, system, created["parameters"]), encoding="utf-8")
    return {"to": "ollama", "adapter": ref.name, "path": str(lora), "from": base,
            "modelfile": str(out / "Modelfile"), "ollama": created}


def export_adapter(settings: Settings, adapter: str | Path, to: Target, *, out_dir: Path | None = None,
                   name: str | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
                   quant: str | None = None) -> dict[str, Any]:
    """Export an adapter; returns the written paths (and the Ollama model for --to ollama).

    `quant` with --to gguf writes the merged model as one GGUF of that type (f16, bf16, q8_0) instead of a LoRA GGUF.
    """
    ref = resolve_adapter(adapter, settings)
    out = writable_folder(out_dir or settings.artifacts_dir / "exports" / ref.path.name)
    if is_full_model(ref):
        return _export_full(ref, to, out, quant)
    if to == "gguf" and quant:
        merged = merge.merge_adapter(settings, ref, out / "merged")
        path = gguf.write_model_gguf(merged, out / f"{ref.path.name}-{quant}.gguf", quant)
        return {"to": to, "adapter": ref.name, "path": str(path), "quant": quant, "merged": str(merged)}
    if to == "merged":
        return {"to": to, "adapter": ref.name, "path": str(merge.merge_adapter(settings, ref, out / "merged"))}
    from skills.models import resolve_base_model
    from skills.providers.persona import pulled_base

    base_name = base_model_of(ref, settings)
    if to == "ollama" and (pulled := pulled_base(settings, ref.manifest.get("persona"))) is not None:
        return export_onto_pulled(settings, ref, out, pulled, name, progress)
    base_gguf = base_gguf_for(base_name, settings)
    lora = gguf.write_lora_gguf(ref.path, resolve_base_model(base_name, settings.models_dir), out / f"{ref.path.name}.gguf")
    doc: dict[str, Any] = {"to": to, "adapter": ref.name, "path": str(lora), "base_gguf": str(base_gguf)}
    if to == "ollama":
        system = ref.manifest.get("system_prompt")
        (out / "Modelfile").write_text(ollama.modelfile(base_gguf, lora, system), encoding="utf-8")
        model = name or f"selftune-{ref.path.name}".lower()
        doc.update(modelfile=str(out / "Modelfile"),
                   ollama=ollama.create_model(settings.ollama.host, model, base_gguf, lora, system, progress))
    return doc
