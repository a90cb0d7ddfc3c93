"""A stand-in for `python -m skills.train.worker SPEC.json` at the process boundary, reading the real TrainSpec.

It speaks the worker's stdout protocol (docs/contracts.md): start, progress per step, eval, then done with a
complete adapter folder (manifest with name/version) and before/after samples. Knobs come from the environment
the job supervisor inherits: FAKE_TRAINER_STEPS, FAKE_TRAINER_STEP_S, FAKE_TRAINER_FAIL (an error message).
"""

import json
import os
import sys
import time
from pathlib import Path


def emit(event, **data):
    print(json.dumps({"event": event, **data}), flush=True)


def main():
    spec = json.loads(Path(sys.argv[1]).read_text())
    steps = int(os.environ.get("FAKE_TRAINER_STEPS", "12"))
    step_s = float(os.environ.get("FAKE_TRAINER_STEP_S", "0.05"))
    emit("start", max_steps=steps, resumed_from=None, pid=os.getpid())
    if os.environ.get("FAKE_TRAINER_FAIL"):
        emit("error", message=os.environ["FAKE_TRAINER_FAIL"])
        sys.exit(1)
    for step in range(1, steps + 1):
        time.sleep(step_s)
        emit("progress", step=step, max_steps=steps, loss=3.0 - step * 0.2, eta_s=(steps - step) * 2)
    emit("eval", step=steps, eval_loss=1.1)
    out = Path(spec["output_dir"])
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "adapter_model.safetensors").write_bytes(b"\0" * 1024)
    (tmp / "manifest.json").write_text(json.dumps({"name": spec["name"], "version": spec["version"],
                                                   "base_model": spec.get("base_model"), "method": spec["method"]}))
    os.replace(tmp, out)
    emit("done", adapter_dir=str(out), metrics={"train_loss": 0.6, "eval_loss": 1.1, "base_eval_loss": 2.4},
         samples=[{"prompt": "Hi", "before": "Hello.", "after": "Ahoy, matey!"}])


if __name__ == "__main__":
    main()
