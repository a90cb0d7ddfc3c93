"""`selftune doctor` as a user reads it: ok/warn/fail levels, a compact skills line, 80 columns."""

import json
from http.server import BaseHTTPRequestHandler

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from tests.helpers import free_port, serving

runner = CliRunner()


class _JSONServer(BaseHTTPRequestHandler):
    """Answers every GET with the JSON document `answer(path)` returns."""

    def answer(self, path: str) -> dict:
        raise NotImplementedError

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps(self.answer(self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Ollama(_JSONServer):
    def answer(self, path: str) -> dict:
        return {"version": "0.6.0"}


@pytest.fixture
def ollama_up():
    with serving(_Ollama) as address:
        yield address


def _check(doc: dict, name: str) -> dict:
    return next(c for c in doc["checks"] if c["name"] == name)


def test_a_stopped_ollama_is_a_warning_not_ok(settings, monkeypatch):
    monkeypatch.setenv("SELFTUNE_OLLAMA__HOST", f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["doctor", "--json"])
    ollama = _check(json.loads(result.stdout), "ollama")
    assert ollama["level"] == "warn" and ollama["ok"] is True and "not running" in ollama["detail"]
    human = runner.invoke(app, ["doctor"])
    line = next(x for x in human.stdout.splitlines() if x.strip().startswith("ollama"))
    assert "warn" in line and " ok " not in line
    assert "warning(s)" in human.stdout


def test_a_running_ollama_is_ok(settings, monkeypatch, ollama_up):
    monkeypatch.setenv("SELFTUNE_OLLAMA__HOST", ollama_up)
    ollama = _check(json.loads(runner.invoke(app, ["doctor", "--json"]).stdout), "ollama")
    assert ollama["level"] == "ok" and "reachable" in ollama["detail"]


def test_a_failure_fails_and_exits_1(settings, monkeypatch):
    monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
    monkeypatch.setenv("SELFTUNE_EXECUTOR__RAY_ADDRESS", f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["doctor", "--json"])
    doc = json.loads(result.stdout)
    assert _check(doc, "ray")["level"] == "fail" and doc["ok"] is False and result.exit_code == 1
    human = runner.invoke(app, ["doctor"])
    assert human.exit_code == 1 and "FAIL" in human.stdout and "1 failure(s)" in human.stdout


def test_skills_line_is_compact_and_everything_fits_80_columns(settings):
    doc = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    skills = _check(doc, "skills")
    assert skills["detail"].count(",") < 8 and "built-in" in skills["detail"] and len(skills["detail"]) < 240
    human = runner.invoke(app, ["doctor"], terminal_width=80)
    assert all(len(line) <= 80 for line in human.stdout.splitlines()), human.stdout
    lines = human.stdout.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(" skills "))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i][:23].isspace() or not lines[i].strip())
    assert end - start <= 4, lines[start:end]  # the skills row: a few lines, not one per skill


def test_doctor_shows_what_each_persona_serves_where(settings, monkeypatch):
    """Persona pirate serves its promoted adapter as its own Ollama model; the others the base; a stopped server
    turns every persona row into a warning with one sentence of advice."""
    from tests.eval.fake_ollama import FakeOllama
    from tests.train.test_adapters import fake_adapter

    adapter = fake_adapter(settings, "pirate-lora", "v1")
    assert runner.invoke(app, ["adapters", "promote", "pirate", adapter]).exit_code == 0
    monkeypatch.setenv("SELFTUNE_LLM__PROVIDER", "ollama")
    monkeypatch.setenv("SELFTUNE_LLM__MODEL", "llama3.2")
    with FakeOllama() as server:
        server.models["llama3.2"] = {}
        monkeypatch.setenv("SELFTUNE_LLM__BASE_URL", server.host)
        result = runner.invoke(app, ["doctor", "--json"])
        doc = json.loads(result.stdout)
        human = runner.invoke(app, ["doctor"], terminal_width=120)
    personas = {p["persona"]: p for p in doc["personas"]}
    in_use = personas["pirate"].pop("in_use")  # its 👍 record in real use (tests/improver/test_watch.py)
    assert in_use["adapter"] == adapter and in_use["rated"] == 0 and in_use["rate"] is None
    assert personas["pirate"] == {"persona": "pirate", "provider": "ollama", "model": "selftune-pirate:pirate-lora-v1",
                                  "adapter": adapter, "where": server.host, "reachable": True, "ready": True,
                                  "advice": None}
    others = [p for name, p in personas.items() if name != "pirate"]
    assert others and all(p["model"] == "llama3.2" and p["adapter"] is None and p["ready"] for p in others)
    assert _check(doc, "persona pirate")["level"] == "ok"
    text = " ".join(human.stdout.split())
    assert "persona pirate ok adapter pirate-lora/v1 as" in text and "via ollama" in text

    stopped = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)  # the server is gone now
    pirate = next(p for p in stopped["personas"] if p["persona"] == "pirate")
    assert pirate["reachable"] is False and pirate["ready"] is False and "ollama serve" in pirate["advice"]
    assert _check(stopped, "persona pirate")["level"] == "warn"


class _RayHeadWithoutTrainer(_JSONServer):
    """A Ray head's job/state API whose only node offers CPUs, no `trainer` (the GPU box not started with it):
    the session's real head (tests/jobs) has one, so this case keeps its own stand-in, which starts in
    milliseconds."""

    def answer(self, path: str) -> dict:
        nodes = [{"node_id": "a1", "state": "ALIVE", "is_head_node": True, "resources_total": {"CPU": 2.0}}]
        return {"ray_version": "2"} if path.startswith("/api/version") else {
            "result": True, "msg": "", "data": {"result": {"total": 1, "result": nodes}}}


def test_a_ray_head_without_a_trainer_worker_is_a_warning_in_one_sentence(settings, monkeypatch):
    with serving(_RayHeadWithoutTrainer) as address:
        monkeypatch.setenv("SELFTUNE_EXECUTOR__KIND", "ray")
        monkeypatch.setenv("SELFTUNE_EXECUTOR__RAY_ADDRESS", address)
        result = runner.invoke(app, ["doctor", "--json"])
    ray = _check(json.loads(result.stdout), "ray")
    assert ray["level"] == "warn" and "no worker offers the trainer resource" in ray["detail"]
    assert ray["detail"].count(". ") == 0 and '"trainer": 1' in ray["fix"]
