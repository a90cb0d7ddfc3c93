"""Users' paths: `selftune train --wait`, `selftune jobs ...`, and the jobs skills through the registry."""

import json

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from skills.context import Requester, SkillContext
from skills.registry import load_registry
from tests.jobs.test_local import wait_for

ROWS = [{"messages": [{"role": "user", "content": f"Say hi {i}"},
                      {"role": "assistant", "content": f"Arr, hi number {i}, matey!"}]} for i in range(12)]


def dataset(tmp_path):
    path = tmp_path / "pirate.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return path


def cli(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.slow  # the real worker imports torch/transformers/TRL (~30 s here)
def test_train_wait_runs_the_real_worker_on_the_tiny_model(settings, tmp_path, tiny_model_dir):
    result = cli("train", "persona-lora", "--dataset", str(dataset(tmp_path)), "--max-steps", "2", "--wait", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["state"] == "succeeded" and doc["progress"]["step"] == 2
    assert (tmp_path / "home" / "artifacts" / "adapters").exists()
    assert doc["adapter"] and json.loads(open(f"{doc['adapter']}/manifest.json").read())

    listed = json.loads(cli("jobs", "list", "--json").stdout)["jobs"]
    assert [j["id"] for j in listed] == [doc["job_id"]]
    shown = json.loads(cli("jobs", "show", doc["job_id"][:4], "--json").stdout)
    assert shown["state"] == "succeeded" and "succeeded" in shown["message"]
    logs = json.loads(cli("jobs", "logs", doc["job_id"], "--json").stdout)
    kinds = [e["event"] for e in logs["events"]]
    assert "start" in kinds and kinds[-1] == "done" and kinds.count("progress") >= 1
    human = cli("jobs", "logs", "latest")
    assert human.exit_code == 0 and "progress" in human.stdout and "done" in human.stdout
    again = cli("jobs", "cancel", doc["job_id"])
    assert again.exit_code == 2 and "already succeeded" in again.output


def test_unknown_job_and_bad_executor_are_one_sentence_errors(settings, tmp_path):
    missing = cli("jobs", "show", "nosuchjob")
    assert missing.exit_code == 1 and "There is no job 'nosuchjob'" in missing.output
    assert "Traceback" not in missing.output
    bad = cli("train", "--dataset", str(dataset(tmp_path)), "--executor", "ray")
    assert bad.exit_code == 1 and "executor.ray_address" in bad.output
    empty = cli("jobs", "list")
    assert empty.exit_code == 0 and "No jobs yet" in empty.stdout


def test_jobs_skills_status_logs_cancel(settings, manager, fake_spec):
    registry = load_registry()
    ctx = SkillContext(settings=settings, requester=Requester(user="discord:1", transport="discord", permission="train"))
    job_id = manager.submit(fake_spec(steps=100, step_s=0.1))
    wait_for(lambda: manager.get(job_id).progress.get("step"))
    status = registry.call("jobs.status", {}, ctx)
    assert status["id"] == job_id and status["state"] in ("queued", "running") and job_id in status["message"]
    cancelled = registry.call("jobs.cancel", {"job_id": job_id}, ctx)
    assert cancelled["cancel_requested"] is True
    assert manager.wait(job_id, 15).state == "cancelled"
    logs = registry.call("jobs.logs", {"job_id": job_id, "limit": 3}, ctx)
    assert logs["state"] == "cancelled" and len(logs["events"]) == 3
    reader = SkillContext(settings=settings, requester=Requester(user="discord:2", permission="read"))
    assert registry.call("jobs.status", {"job_id": job_id}, reader)["state"] == "cancelled"


def test_train_submit_skill_needs_train_permission(settings, tmp_path):
    from config.errors import PermissionDenied

    registry = load_registry()
    uploads = settings.artifacts_dir / "datasets"  # Discord users train on uploaded datasets, stored here
    reader = SkillContext(settings=settings, requester=Requester(user="discord:2", permission="read"))
    with pytest.raises(PermissionDenied):
        registry.call("train.submit", {"dataset": str(dataset(uploads))}, reader)
    trainer = SkillContext(settings=settings, requester=Requester(user="discord:1", permission="train"))
    started = registry.call("train.submit", {"dataset": str(dataset(uploads)), "max_steps": 1}, trainer)
    assert started["job_id"] and started["executor"] == "local"
    registry.call("jobs.cancel", {"job_id": started["job_id"]}, trainer)


def test_jobs_logs_follow_draws_the_train_wait_bar(settings, manager, fake_spec):
    job_id = manager.submit(fake_spec(steps=6))
    result = cli("jobs", "logs", job_id, "--follow")
    assert result.exit_code == 0, result.output
    assert "6/6 steps" in result.output and "loss" in result.output and "succeeded" in result.output
    assert '"step"' not in result.output and "checkpoint step=2" in result.output  # no raw JSON lines
    raw = json.loads(cli("jobs", "logs", job_id, "--follow", "--json").stdout)
    assert raw["state"] == "succeeded" and any(e["event"] == "progress" for e in raw["events"])
    table = CliRunner().invoke(app, ["jobs", "list"], terminal_width=80)
    assert job_id in table.stdout and all(len(line) <= 80 for line in table.stdout.splitlines())
