"""A stand-in for `python -m skills.train.worker SPEC.json` speaking the same stdout protocol (docs/contracts.md).

Spec keys it reads: output_dir, checkpoint_dir, hyper.max_steps, hyper.save_steps, and test knobs under "fake":
step_s (sleep per step), fail_at (emit an error event at that step and exit 1), ignore_sigterm.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path


def emit(event, **data):
    print(json.dumps({"event": event, **data}), flush=True)


def last_checkpoint(folder):
    steps = [int(p.name.split("-")[1]) for p in folder.glob("checkpoint-*")] if folder.is_dir() else []
    return max(steps, default=0)


def main():
    spec = json.loads(Path(sys.argv[1]).read_text())
    fake, hyper = spec.get("fake", {}), spec.get("hyper", {})
    max_steps, save_steps = hyper.get("max_steps", 6), hyper.get("save_steps", 2)
    ckpt = Path(spec["checkpoint_dir"])
    stop = {"term": False}
    if fake.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.update(term=True))
    start = last_checkpoint(ckpt)
    print("fake worker warming up (not an event)", flush=True)
    print(f"pid {os.getpid()} loading model", file=sys.stderr, flush=True)
    emit("start", max_steps=max_steps, resumed_from=start or None, pid=os.getpid())
    for step in range(start + 1, max_steps + 1):
        time.sleep(fake.get("step_s", 0.05))
        if fake.get("fail_at") == step:
            emit("error", message=f"CUDA out of memory at step {step}")
            sys.exit(1)
        emit("progress", step=step, max_steps=max_steps, loss=2.0 / step, lr=1e-4, tokens_per_s=100.0,
             eta_s=(max_steps - step) * 0.05, epoch=step / max_steps)
        if step % save_steps == 0 or stop["term"]:
            (ckpt / f"checkpoint-{step}").mkdir(parents=True, exist_ok=True)
            emit("checkpoint", step=step, path=str(ckpt / f"checkpoint-{step}"))
        if stop["term"]:
            emit("message", message="stopped by SIGTERM after checkpoint")
            sys.exit(143)
    out = Path(spec["output_dir"])
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "adapter_model.safetensors").write_bytes(b"\0" * 1024)
    (tmp / "manifest.json").write_text(json.dumps({"name": spec.get("name"), "resumed_from": start}))
    os.replace(tmp, out)
    emit("done", adapter_dir=str(out), metrics={"train_loss": 2.0 / max_steps, "eval_loss": 0.5, "steps": max_steps,
                                                "tokens_per_s": 100.0})


if __name__ == "__main__":
    main()
