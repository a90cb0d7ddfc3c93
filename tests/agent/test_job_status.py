"""Asking about "the job" as people do: the running one first, else the last one the person started, with the
common phrasings; the real jobs.status skill on a real job store."""

from __future__ import annotations

import time

import pytest

from agent.router import Router
from config.messages import IncomingMessage
from skills.jobs.store import JobStore
from skills.providers.openai_compat import OpenAIProvider
from skills.registry import load_registry


def ask(router: Router, text: str, user: str = "local") -> str:
    return router.handle(IncomingMessage(text=text, user=user, transport="console", channel="general")).text


def add_job(settings, persona: str, state: str, requester: str = "local", age_s: float = 0.0) -> str:
    """A job row as submission leaves it, moved to `state`; a running one has a live supervisor on another host."""
    store = JobStore(settings)
    try:
        job = store.create({"name": f"{persona}-lora", "persona": persona}, executor="local", worker=["w"],
                           requester=requester)
        fields = {"state": state, "created_at": time.time() - age_s}
        if state == "running":
            fields |= {"started_at": time.time(), "runner_pid": 1, "runner_host": "gpu-box",
                       "heartbeat_at": time.time(), "progress": {"step": 3, "max_steps": 10}}
        if state == "failed":
            fields["error"] = "out of memory"
        store.update(job.id, **fields)
        return job.id
    finally:
        store.close()


@pytest.fixture
def router(settings, scripted_llm):
    provider = OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=5)
    return Router(settings, registry=load_registry(), provider=provider)


@pytest.mark.parametrize("text", ["how is my job doing?", "how's my job doing", "what is my job doing?",
                                  "is my training done yet?", "status"])
def test_the_job_is_the_running_one(router, settings, text):
    add_job(settings, "butler", "succeeded", age_s=60)
    running = add_job(settings, "pirate", "running", age_s=120)  # older than the finished one, but running
    reply = ask(router, text)
    assert f"Job {running}" in reply and "is running" in reply and "There is no job" not in reply


def test_without_a_running_job_it_is_the_last_one_this_person_started(router, settings):
    mine = add_job(settings, "pirate", "succeeded", requester="local", age_s=60)
    add_job(settings, "butler", "failed", requester="discord:7", age_s=10)  # newer, someone else's
    reply = ask(router, "how is my job doing?")
    assert f"Job {mine}" in reply and "succeeded" in reply


def test_the_persona_job_after_it_succeeded_is_the_newest_not_an_older_cancelled_one(router, settings):
    add_job(settings, "pirate", "cancelled", age_s=900)
    done = add_job(settings, "pirate", "succeeded", age_s=30)
    reply = ask(router, "how's the pirate job?")
    assert f"Job {done}" in reply and "succeeded" in reply
    running = add_job(settings, "pirate", "running", age_s=600)  # a running one is "the" job while it runs
    assert f"Job {running}" in ask(router, "how's the pirate job?")


def test_no_jobs_yet_is_an_answer_not_an_error(router):
    assert "There are no jobs yet" in ask(router, "how is my job doing?")
