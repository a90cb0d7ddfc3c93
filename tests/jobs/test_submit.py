"""One path to a training job: the CLI and the skill return the same document, simultaneous submissions get
their own versions, bad input is refused before anything runs, and a retry resumes only its own checkpoint."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import UsageError
from skills.context import Requester, SkillContext
from skills.jobs import JobManager
from skills.jobs.procs import job_dir
from skills.jobs.submit import submit_training
from skills.registry import load_registry
from skills.train.versions import reserve_version
from tests.conftest import REPO
from tests.jobs.conftest import wait_for

ROW = {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Arr, hi matey!"}]}
# Keys whose values differ between two submissions by design (each job gets its own id, version and folder).
PER_JOB = {"job_id", "adapter_id", "adapter_version", "output_dir", "message"}


def rows_file(folder: Path, n: int, name: str = "pirate.jsonl") -> Path:
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(ROW) + "\n" for _ in range(n)))
    return path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def said(result) -> str:
    """The CLI's error sentence without the panel's frame and line breaks."""
    return " ".join(result.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


@pytest.fixture
def slot_taken(settings):
    """Hold this machine's training slot so submitted local jobs stay queued (no worker starts)."""
    lock = settings.home / "jobs" / "local.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    manager = JobManager(settings)
    for job in manager.list(limit=50):
        if not job.done:
            manager.cancel(job.id)
            manager.wait(job.id, timeout=15)
    manager.close()
    os.close(fd)


def test_cli_json_and_skill_return_the_same_document(settings, tmp_path, slot_taken):
    data = rows_file(settings.artifacts_dir / "datasets", 12)  # where a Discord caller may read
    result = cli("train", "persona-lora", "--persona", "pirate", "--dataset", str(data), "--max-steps", "3", "--json")
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    ctx = SkillContext(settings=settings, requester=Requester(user="discord:1", transport="discord", permission="train"))
    from_skill = load_registry().call("train.submit", {"recipe": "persona-lora", "persona": "pirate",
                                                       "dataset": str(data), "max_steps": 3}, ctx)
    assert sorted(from_cli) == sorted(from_skill)
    for key in from_cli:
        if key not in PER_JOB:
            assert from_cli[key] == from_skill[key], key
    assert (from_cli["adapter_id"], from_skill["adapter_id"]) == ("pirate-lora/v1", "pirate-lora/v2")
    assert from_cli["dataset_rows"] == 12 and from_cli["max_steps"] == 3 and from_cli["state"] == "queued"
    assert from_cli["dataset_sha256"] and from_cli["executor"] == "local" and from_cli["persona"] == "pirate"


def test_three_simultaneous_submissions_get_v1_v2_v3_and_all_succeed(settings, tmp_path):
    data = rows_file(tmp_path, 10)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.jobs.submit_probe", str(settings.home), str(data), str(go)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    go.touch()  # all three submit at once
    docs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        docs.append(json.loads(out))
    assert sorted(d["adapter_version"] for d in docs) == ["v1", "v2", "v3"]
    manager = JobManager(settings)
    for doc in docs:
        job = manager.wait(doc["job_id"], timeout=60)
        assert job.state == "succeeded", job.error
        assert job.adapter == doc["output_dir"] and (Path(job.adapter) / "manifest.json").is_file()
    manager.close()


def test_an_explicit_version_is_reserved_once(settings):
    assert reserve_version(settings, "pirate-lora", "v3") == "v3"
    with pytest.raises(UsageError, match="already taken"):
        reserve_version(settings, "pirate-lora", "v3")
    assert reserve_version(settings, "pirate-lora") == "v4"


def test_too_small_dataset_is_refused_before_training(settings, tmp_path):
    tiny = rows_file(tmp_path, 1, "one.jsonl")
    result = cli("train", "--dataset", str(tiny))
    assert result.exit_code == 1 and "Traceback" not in result.output
    sentence = said(result).replace(" ", "")  # the panel may break the path anywhere
    assert str(tiny) in sentence and "has1rowandtrainingneedsatleast8(train.min_rows)" in sentence
    assert json.loads(cli("jobs", "list", "--json").stdout)["jobs"] == []


@pytest.mark.parametrize("steps", ["0", "-5", "-1"])
def test_max_steps_below_one_is_refused_not_read_as_epochs(settings, tmp_path, steps):
    result = cli("train", "--dataset", str(rows_file(tmp_path, 12)), "--max-steps", steps)
    assert result.exit_code == 2, result.output
    assert f"--max-steps must be at least 1 (got {steps})" in said(result)
    assert json.loads(cli("jobs", "list", "--json").stdout)["jobs"] == []


def test_epochs_must_be_positive(settings, tmp_path):
    with pytest.raises(UsageError, match="epochs"):
        submit_training(settings, dataset=rows_file(tmp_path, 12), epochs=0)
    from skills.train.spec import Hyper

    with pytest.raises(ValueError, match="at least 1"):
        Hyper(max_steps=0)
    assert Hyper(max_steps=-1).max_steps == -1  # recipes' "train by epochs" marker stays valid


def test_retry_resumes_only_its_own_checkpoint(settings, manager, fake_spec):
    first = fake_spec("pirate", steps=60, step_s=0.1)
    first_id = manager.submit(first)
    wait_for(lambda: manager.get(first_id).progress.get("step", 0) >= 4)
    manager.cancel(first_id)  # it checkpoints, then stops
    assert manager.wait(first_id, 20).state == "cancelled"
    saved = max(e["step"] for e in manager.events(first_id) if e["event"] == "checkpoint")
    # Same adapter name and the same checkpoint_dir asked for: before, this job resumed from the first one's.
    second = {**fake_spec("pirate", steps=3), "output_dir": str(Path(first["output_dir"]).with_name("v2"))}
    second_id = manager.submit(second)
    assert manager.wait(second_id, 20).state == "succeeded"
    starts = [e for e in manager.events(second_id) if e["event"] == "start"]
    assert starts[0]["resumed_from"] is None
    assert Path(manager.get(first_id).spec["checkpoint_dir"]) == job_dir(settings, first_id) / "checkpoints"

    manager.retry(first_id)
    wait_for(lambda: [e for e in manager.events(first_id) if e["event"] == "start" and e["attempt"] == 2])
    again = [e for e in manager.events(first_id) if e["event"] == "start" and e["attempt"] == 2]
    assert again[0]["resumed_from"] == saved >= 4


def test_submission_waits_for_its_turn(settings, tmp_path, slot_taken):
    doc = submit_training(settings, dataset=rows_file(tmp_path, 9), max_steps=2)
    assert doc.state == "queued" and doc.adapter_id == "base-lora/v1"
    assert wait_for(lambda: JobManager(settings).get(doc.job_id).waiting)


def test_an_older_job_table_gains_the_supervisor_columns(settings):
    from config.state import connect
    from skills.jobs.store import JobStore

    conn = connect(settings)
    conn.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, executor TEXT "
                 "NOT NULL, spec TEXT NOT NULL, worker TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1, created_at "
                 "REAL NOT NULL, started_at REAL, finished_at REAL, error TEXT, adapter TEXT, pid INTEGER, runner_pid "
                 "INTEGER, ray_job_id TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0, waiting TEXT, progress TEXT "
                 "NOT NULL DEFAULT '{}', requester TEXT, resources TEXT NOT NULL DEFAULT '{\"trainer\": 1}')")
    conn.execute("INSERT INTO jobs (id, name, state, executor, spec, worker, created_at) "
                 "VALUES ('old1', 'x', 'succeeded', 'local', '{}', '[]', 1.0)")
    conn.close()
    store = JobStore(settings)
    assert store.get("old1").heartbeat_at is None and store.get("old1").state == "succeeded"
    store.close()
