"""`python -m skills.jobs.eval_worker SPEC.json`: evaluate an adapter as a job (on the Ray node with the
`trainer` resource, or locally), emitting JSON-line events; the report folder is the job's result.

The base model is resolved here, on the node that runs the job (its own models/ and Hugging Face cache),
from the spec's `base_model`, which the submitter may have mapped through `executor.worker_base_models`.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from config.errors import SelftuneError
from skills.train.events import EventEmitter, claim_stdout

log = logging.getLogger("skills.jobs.eval_worker")


def _adapter_on_this_node(spec: dict[str, Any]) -> Path:
    """The shipped adapter, its manifest pointing at the base model as this node names it."""
    adapter = Path(spec["adapter"])
    manifest_path = adapter / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    if spec.get("base_model"):
        manifest["base_model"] = spec["base_model"]
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return adapter


def evaluate(spec: dict[str, Any], emitter: EventEmitter) -> dict[str, Any]:
    """Run the evaluation pipeline with this node's settings; write report + manifest into output_dir."""
    from config.settings import load_settings
    from skills.evaluate.run import evaluate_adapter
    from skills.train.preflight import cuda_available

    settings = load_settings()
    device = "cuda" if cuda_available() else "cpu"
    out = Path(spec["output_dir"])
    emitter.emit("start", max_steps=0, kind="eval", device=device)
    progress = lambda doc: emitter.message(str(doc.get("message", "")))  # noqa: E731 - one-line relay
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent if out.parent.exists() else None))
    doc = evaluate_adapter(settings, _adapter_on_this_node(spec), data=Path(spec["dataset"]),
                           limit=int(spec.get("limit", 32)), max_new_tokens=int(spec.get("max_new_tokens", 48)),
                           use_judge=bool(spec.get("use_judge", False)), out_dir=tmp / "report", progress=progress)
    doc["node"] = {"device": device, "base_model": spec.get("base_model")}
    (tmp / "report" / "eval.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    manifest = {"name": spec.get("name"), "kind": "eval-report", "adapter": spec.get("adapter_id"),
                "gate": doc.get("gate"), "node": doc["node"]}
    (tmp / "report" / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    (tmp / "report").replace(out)  # the folder appears complete, as adapters do
    return {"adapter_dir": str(out), "metrics": {"gate": doc.get("gate"), "heldout": doc.get("heldout")}}


def main(argv: list[str] | None = None) -> int:
    """Evaluate per the spec file; exit 0 with a `done` event, 1 with an `error` event."""
    argv = sys.argv[1:] if argv is None else argv
    emitter = EventEmitter(claim_stdout())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        emitter.emit("done", **evaluate(spec, emitter))
    except SelftuneError as exc:
        emitter.emit("error", message=str(exc))
        return 1
    except Exception as exc:  # our own bug: one line for the user, the traceback on stderr (the job log)
        log.exception("evaluation failed")
        emitter.emit("error", message=f"Evaluation failed on the worker ({type(exc).__name__}: {exc}).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
