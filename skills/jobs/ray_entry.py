"""Runs on the Ray worker node: `python -m skills.jobs.ray_entry spec.json --key JOB -- WORKER ARGV...`.

It points the spec at the shipped dataset and a node-local checkpoint folder (kept across retries of the same
job), runs the training worker, forwards its events, and streams the finished adapter back as base64
`artifact` events (before `done`, so the adapter is complete locally when `done` arrives).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

CHUNK = 48 * 1024  # raw bytes per artifact line (64 KiB of base64)


def remote_spec(spec: dict[str, Any], key: str, cwd: Path) -> dict[str, Any]:
    """The spec with paths valid on this node."""
    spec = dict(spec)
    for field in ("dataset", "eval_dataset", "holdout_dataset"):
        if spec.get(field):
            spec[field] = str(cwd / "data" / Path(spec[field]).name)
    if spec.get("adapter"):  # an eval job: the adapter was shipped beside the spec
        spec["adapter"] = str(cwd / "adapter" / Path(spec["adapter"]).name)
    if spec.get("against_adapter"):  # the promotion gate's served adapter, shipped too
        spec["against_adapter"] = str(cwd / "against" / Path(spec["against_adapter"]).name)
    name, version = spec.get("name", "adapter"), spec.get("version", "v1")
    spec["output_dir"] = str(cwd / "out" / name / version)
    spec["checkpoint_dir"] = str(Path.home() / ".cache" / "selftune" / "checkpoints" / key)
    return spec


def emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def send_adapter(folder: Path) -> None:
    """Emit the adapter folder as a gzipped tar in base64 chunks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    data = buf.getvalue()
    count = max(1, -(-len(data) // CHUNK))
    for index in range(count):
        part = base64.b64encode(data[index * CHUNK:(index + 1) * CHUNK]).decode()
        emit({"event": "artifact", "index": index, "count": count, "data": part})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, worker = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="python -m skills.jobs.ray_entry")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(own)
    cwd = Path.cwd()
    spec = remote_spec(json.loads(args.spec.read_text(encoding="utf-8")), args.key, cwd)
    spec_path = cwd / "spec.remote.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    worker = worker or ["-m", "skills.train.worker"]
    proc = subprocess.Popen([sys.executable, *worker, str(spec_path)], stdout=subprocess.PIPE, text=True)
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))  # let it checkpoint first
    emit({"event": "message", "message": "worker started on the Ray node", "pid": proc.pid})
    assert proc.stdout is not None
    for line in proc.stdout:
        doc = _event(line)
        if doc is not None and doc["event"] == "done":
            send_adapter(Path(doc["adapter_dir"]))
        sys.stdout.write(line)
        sys.stdout.flush()
    return proc.wait()


def _event(line: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "event" in doc else None


if __name__ == "__main__":
    code = main()
    sys.exit(code if code >= 0 else 128 - code)
