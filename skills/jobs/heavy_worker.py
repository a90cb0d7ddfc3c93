"""`python -m skills.jobs.heavy_worker SPEC.json`: evaluate or export an adapter, or do one piece of model work
(MODEL_TASKS: chat answers, the forgetting check, synthetic rows) as a job (on the Ray node with
the `trainer` resource, or locally), emitting JSON-line events; the report or export folder is the job's result.

The base model is resolved here, on the node that runs the job (its own models/ and Hugging Face cache),
from the spec's `base_model`, which the submitter may have mapped through `executor.worker_base_models`.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from skills.train.events import EventEmitter, run_spec_job

log = logging.getLogger("skills.jobs.heavy_worker")


def _adapter_on_this_node(spec: dict[str, Any], field: str = "adapter") -> Path:
    """The shipped adapter, its manifest pointing at the base model as this node names it, and at the copies of
    its train/eval split that travelled inside it (data/), so the overlap checks still see them here."""
    adapter = Path(spec[field])
    manifest_path = adapter / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    if spec.get("base_model"):
        manifest["base_model"] = spec["base_model"]
    for key in ("train_dataset", "eval_dataset"):
        entry = manifest.get(key)
        if isinstance(entry, dict) and entry.get("path") and not Path(entry["path"]).is_file():
            shipped = adapter / "data" / Path(entry["path"]).name
            if shipped.is_file():
                entry["path"] = str(shipped)
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return adapter


def _device() -> str:
    from skills.train.preflight import best_device

    return best_device()


def _scratch(out: Path) -> Path:
    """A fresh folder beside `out` (same filesystem, so the final rename is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def _finish(folder: Path, out: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest, then rename the folder into place, so it appears complete (as adapters do)."""
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    folder.replace(out)


def export(spec: dict[str, Any], emitter: EventEmitter) -> dict[str, Any]:
    """Export with this node's settings; every written file lands in output_dir (a LoRA's base GGUF stays here)."""
    from config.settings import load_settings
    from skills.export.run import export_adapter, export_lora_gguf

    out, device = Path(spec["output_dir"]), _device()
    emitter.emit("start", max_steps=0, kind="export", device=device)
    tmp = _scratch(out)
    if spec.get("lora_only"):  # for an Ollama ADAPTER line: only the LoRA GGUF (megabytes), no base GGUF at all
        lora = export_lora_gguf(load_settings(), _adapter_on_this_node(spec), out_dir=tmp / "export")
        doc: dict[str, Any] = {"to": "gguf", "adapter": spec.get("adapter_id"), "path": str(lora)}
    else:
        doc = export_adapter(load_settings(), _adapter_on_this_node(spec), spec["to"], out_dir=tmp / "export",
                             quant=spec.get("quant"))
    if doc.get("quant") and doc.get("merged"):  # the GGUF is the product; the merged folder need not travel back
        shutil.rmtree(doc.pop("merged"), ignore_errors=True)
    doc["node"] = {"device": device, "base_model": spec.get("base_model")}
    _finish(tmp / "export", out, {"name": spec.get("name"), "kind": "export", "adapter": spec.get("adapter_id"), **doc})
    return {"adapter_dir": str(out), "metrics": {"to": spec["to"], "quant": spec.get("quant")}}


def evaluate(spec: dict[str, Any], emitter: EventEmitter) -> dict[str, Any]:
    """Run the evaluation pipeline with this node's settings; write report + manifest into output_dir."""
    from config.settings import load_settings
    from skills.evaluate.run import evaluate_adapter

    settings, device = load_settings(), _device()
    for section in ("judge", "eval"):  # the host's judge and evidence rules decide the gate, not this node's
        if spec.get(section):
            current = getattr(settings, section)
            settings = settings.model_copy(update={section: type(current).model_validate(spec[section])})
    out = Path(spec["output_dir"])
    emitter.emit("start", max_steps=0, kind="eval", device=device)
    progress = lambda doc: emitter.message(str(doc.get("message", "")))  # noqa: E731 - one-line relay
    tmp = _scratch(out)
    against = str(_adapter_on_this_node(spec, "against_adapter")) if spec.get("against_adapter") else None
    doc = evaluate_adapter(settings, _adapter_on_this_node(spec), data=Path(spec["dataset"]), against=against,
                           limit=int(spec.get("limit", 32)), max_new_tokens=int(spec.get("max_new_tokens", 48)),
                           use_judge=bool(spec.get("use_judge", False)), out_dir=tmp / "report", progress=progress,
                           card=_card(spec), holdout=Path(spec["holdout_dataset"]) if spec.get("holdout_dataset") else None)
    doc["node"] = {"device": device, "base_model": spec.get("base_model")}
    (tmp / "report" / "eval.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    _finish(tmp / "report", out, {"name": spec.get("name"), "kind": "eval-report", "adapter": spec.get("adapter_id"),
                                  "gate": doc.get("gate"), "node": doc["node"]})
    return {"adapter_dir": str(out), "metrics": {"gate": doc.get("gate"), "heldout": doc.get("heldout")}}


def _local_provider(spec: dict[str, Any]) -> Any:
    """The local model as this node has it: the spec's base, with the shipped adapter on it when there is one."""
    from config.settings import load_settings
    from skills.providers.local import LocalProvider

    settings = load_settings()
    payload = spec["payload"]
    provider = LocalProvider(spec["base_model"], settings.models_dir, timeout_s=float(payload.get("timeout_s", 600)),
                             max_new_tokens=int(payload.get("max_tokens", 256)))
    if not spec.get("adapter"):
        return provider
    from skills.evaluate.loading import load_with_adapters
    from skills.train.lookup import resolve_adapter

    loaded = load_with_adapters(settings, resolve_adapter(_adapter_on_this_node(spec), settings))

    class WithAdapter(LocalProvider):
        def load(self) -> tuple[Any, Any]:
            return loaded

    return WithAdapter(spec["base_model"], settings.models_dir, timeout_s=provider.timeout_s,
                       max_new_tokens=provider.max_new_tokens)


def chat_answers(spec: dict[str, Any], folder: Path) -> list[str]:
    """The local model's answer to each chat (`payload.chats`), as its provider gives it (one by one, greedy)."""
    provider, payload = _local_provider(spec), spec["payload"]
    return [str(provider.chat(chat, max_tokens=int(payload.get("max_tokens", 48)),
                              temperature=float(payload.get("temperature", 0.0))).text).strip()
            for chat in payload["chats"]]


def forgetting(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The forgetting check's general-ability set (accuracy, answer loss, per-item correct) for the base or the
    shipped adapter, under `payload.system_prompt`."""
    from skills.evaluate import forgetting as check

    model, tokenizer = _local_provider(spec).load()
    size = int(spec["payload"].get("items") or check.DEFAULT_ITEMS)  # the host's eval.forgetting_items
    return check.measure(model, tokenizer, check.general_set(size), system_prompt=spec["payload"].get("system_prompt"))


def synth(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The host's synthesis run by the local model here: the dataset (and its manifest) is written into `folder`,
    which travels back."""
    from skills.dataset.manifest import Source
    from skills.dataset.synth import Options, synthesize

    payload = spec["payload"]
    return synthesize(_local_provider(spec), payload["task"], payload["items"], folder / payload["file"],
                      system_prompt=payload["system_prompt"], persona=payload.get("persona"),
                      max_rows=int(payload["max_rows"]), max_seconds=float(payload["max_seconds"]),
                      max_tokens=int(payload["max_tokens"]),
                      sources=[Source.model_validate(s) for s in payload.get("sources", [])],
                      options=Options(**payload.get("options", {})), plan=payload.get("plan") or {})


MODEL_TASKS = {"answers": chat_answers, "forgetting": forgetting, "synth": synth}


def model_work(spec: dict[str, Any], emitter: EventEmitter) -> dict[str, Any]:
    """One MODEL_TASKS task; result.json (its JSON result) is renamed into the output_dir when complete."""
    from config.errors import SelftuneError

    if spec.get("task") not in MODEL_TASKS:
        raise SelftuneError(f"Unknown model task '{spec.get('task')}'; this worker knows {', '.join(MODEL_TASKS)}.")
    device = _device()
    emitter.emit("start", max_steps=0, kind="model", device=device)
    emitter.message(f"{spec['task']} on {spec['base_model']} ({device})")
    out = Path(spec["output_dir"])
    tmp = _scratch(out)
    result = MODEL_TASKS[spec["task"]](spec, tmp)
    (tmp / "result.json").write_text(json.dumps({"task": spec["task"], "result": result}, default=str),
                                     encoding="utf-8")
    _finish(tmp, out, {"name": spec.get("name"), "kind": "model", "task": spec["task"],
                       "node": {"device": device, "base_model": spec.get("base_model")}})
    return {"adapter_dir": str(out), "metrics": {"task": spec["task"]}}


WORK = {"export": export, "eval": evaluate, "model": model_work}


def _card(spec: dict[str, Any]) -> Any:
    """The persona card the host shipped (this node has no workspace of its own), or None."""
    from skills.personas import Persona

    return Persona.model_validate(spec["persona_card"]) if spec.get("persona_card") else None


def spec_kind(argv: list[str]) -> str:
    """'export', 'model' or 'eval', for messages (read again: the spec may be what failed)."""
    try:
        kind = json.loads(Path(argv[0]).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, IndexError):
        return "eval"
    return kind if kind in WORK else "eval"


def main(argv: list[str] | None = None) -> int:
    """Evaluate, export or do model work per the spec file; exit 0 with a `done` event, 1 with an `error` event."""
    argv = sys.argv[1:] if argv is None else argv
    return run_spec_job(argv, lambda spec, emitter: WORK.get(spec.get("kind", "eval"), evaluate)(spec, emitter),
                        lambda exc: f"The {spec_kind(argv)} job failed on the worker ({type(exc).__name__}: {exc}).")

if __name__ == "__main__":
    sys.exit(main())
