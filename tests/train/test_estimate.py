"""Training estimates measured on this device: earlier jobs with the same base, method and length, as a range."""

from __future__ import annotations

import json
from pathlib import Path

from agent.router import Router
from config.messages import IncomingMessage
from config.workspace import open_workspace
from skills.jobs.store import JobStore
from skills.train.estimate import estimate_job
from skills.train.spec import spec_from_recipe

ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "arr"}]}


def dataset(tmp_path: Path, rows: int = 40) -> Path:
    path = tmp_path / "pirate.jsonl"
    path.write_text("\n".join(json.dumps(ROW) for _ in range(rows)) + "\n")
    return path


def past_job(settings, spec, step_seconds: list[float], startup_s: float = 20.0, **spec_changes) -> str:
    """A succeeded job whose progress events came `step_seconds` apart (one step each) after `startup_s`."""
    doc = {**spec.model_dump(mode="json"), **spec_changes}
    store = JobStore(settings)
    try:
        job = store.create(doc, executor="local", worker=["w"])
        start, ts = 1_000.0, 1_000.0 + startup_s
        for step, seconds in enumerate([0.0, *step_seconds], start=1):
            ts += seconds
            store.append_event(job.id, 1, step, {"event": "progress", "step": step, "loss": 1.0})
            store.conn.execute("UPDATE job_events SET ts = ? WHERE job_id = ? AND ordinal = ?", (ts, job.id, step))
        store.update(job.id, state="succeeded", started_at=start, finished_at=ts + 1.0)
        return job.id
    finally:
        store.close()


def test_without_an_earlier_job_the_estimate_is_a_wide_guess(settings, tmp_path):
    open_workspace(settings)
    spec = spec_from_recipe(settings, None, persona="pirate", dataset=str(dataset(tmp_path)))
    estimate = estimate_job(settings, spec)
    low, high = estimate.range_s
    assert estimate.source == "configured" and low < estimate.seconds < high and high >= 4 * low
    assert "a guess from agent.train_step_s" in estimate.sentence()


def test_earlier_jobs_of_the_same_base_method_and_length_set_the_step_time(settings, tmp_path):
    open_workspace(settings)
    spec = spec_from_recipe(settings, None, persona="pirate", dataset=str(dataset(tmp_path)))
    past_job(settings, spec, [10.0, 12.0, 14.0, 12.0])
    past_job(settings, spec, [0.1] * 4, base_model="smollm2-other")  # another base: not this job's cost
    past_job(settings, spec, [0.1] * 4, method="full")  # another method
    estimate = estimate_job(settings, spec)
    assert estimate.source == "measured" and estimate.jobs == 1 and estimate.step_s == 12.0
    assert estimate.startup_s == 9.0  # 69 s of wall time less 5 steps x 12 s: loading and saving
    low, high = estimate.range_s
    assert low < estimate.seconds < high
    assert "measured here on 1 earlier job like it" in estimate.sentence() and "12.0 s/step" in estimate.sentence()


def test_the_chat_preview_shows_the_measured_range(settings, tmp_path):
    open_workspace(settings)
    settings.agent.confirm_jobs_over_s = 0  # every job asks first
    data = dataset(tmp_path)
    spec = spec_from_recipe(settings, None, persona="pirate", dataset=str(data))
    past_job(settings, spec, [3.0, 3.0, 3.0])
    asked = Router(settings).handle(IncomingMessage(text=f"tune a pirate persona adapter on {data}", user="local",
                                                    transport="cli", channel="cli"))
    assert asked.confirm and "3.0 s/step, measured here on 1 earlier job like it" in asked.text
    assert "–" in asked.text.split("steps,", 1)[1]  # a range, not one number
