"""One-line, human descriptions of a job's state and progress (CLI, chat replies, the Discord progress message)."""

from __future__ import annotations

import time

from skills.jobs.store import Job


def duration(seconds: float | None) -> str:
    """'1h 02m', '3m 05s' or '12s' (the CLI, chat replies and the Discord progress message all use this)."""
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def progress_text(job: Job) -> str:
    """'step 12/60, loss 1.234, ETA 2m05s' from the job's latest progress (empty when none yet)."""
    p = job.progress
    parts = []
    if "step" in p:
        parts.append(f"step {p['step']}/{p.get('max_steps', '?')}")
    if p.get("loss") is not None:
        parts.append(f"loss {float(p['loss']):.3f}")
    if p.get("eval_loss") is not None:
        parts.append(f"eval loss {float(p['eval_loss']):.3f}")
    if job.state == "running" and p.get("eta_s") is not None:
        parts.append(f"ETA {duration(p['eta_s'])}")
    return ", ".join(parts)


def describe(job: Job) -> str:
    """One sentence about a job for people."""
    head = f"Job {job.id} ({job.name}, {job.executor}"
    head += f", attempt {job.attempt})" if job.attempt > 1 else ")"
    if job.state == "queued":
        return f"{head} is queued. {job.waiting or ''}".strip()
    if job.state == "running":
        elapsed = duration(time.time() - job.started_at) if job.started_at else "?"
        detail = progress_text(job)
        return f"{head} is running for {elapsed}" + (f": {detail}." if detail else ".")
    if job.state == "succeeded":
        return f"{head} succeeded ({progress_text(job) or 'done'}); adapter at {job.adapter}."
    if job.state == "cancelled":
        return f"{head} was cancelled."
    return f"{head} failed: {job.error}"


def adapter_id_of(adapter_dir: str | None) -> str | None:
    """'pirate-lora/v3' from the adapter folder a job left (artifacts/adapters/pirate-lora/v3)."""
    if not adapter_dir:
        return None
    path = adapter_dir.rstrip("/").split("/")
    return "/".join(path[-2:]) if len(path) >= 2 else path[-1]


def ended_text(job: Job) -> str:
    """How a job ended, told where it was started: success with the next step to try, or the reason it failed."""
    head = f"Job {job.id} ({job.name})"
    if job.state == "succeeded":
        adapter = adapter_id_of(job.adapter)
        steps = f" after {job.progress['step']} steps" if job.progress.get("step") else ""
        if not adapter:
            return f"{head} succeeded{steps}."
        return (f"{head} succeeded{steps}; its adapter is {adapter}. Next: say 'evaluate the {adapter} adapter' to "
                "compare it with the base model.")
    if job.state == "cancelled":
        return f"{head} was cancelled."
    reason = (job.error or "no reason was recorded").rstrip(".")
    return f"{head} failed: {reason}. `selftune jobs logs {job.id}` shows its log."
