"""The synthetic toolbox, mode by mode, against the scripted OpenAI-compatible server (and a loopback web page)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import SelftuneError, UsageError
from config.settings import Settings
from skills.dataset.io import iter_canonical
from skills.dataset.manifest import read_manifest
from skills.dataset.synth import Inputs, Options, run_synth
from skills.dataset.validate import validate_file
from tests.datasets.scripted import Scripted, scripted_server, scripted_settings

THINK = re.compile(r"\A<think>\n(?P<thought>.+)\n</think>\n\n(?P<answer>.+)\Z", re.S)


@pytest.fixture
def llm(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    with scripted_server() as url:
        yield scripted_settings(settings, url, monkeypatch)


def synth_cli(*args: str) -> dict:
    result = CliRunner().invoke(app, ["dataset", "synth", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def chat_rows(path: Path) -> list[list[dict]]:
    return [row["messages"] for row in iter_canonical(path)]


# ---------------------------------------------------------------- multiturn
def test_multiturn_extends_each_existing_row_by_n_turns(llm: Settings, tmp_path: Path) -> None:
    originals = [
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a knot."},
         {"role": "assistant", "content": "The bowline."}],
        [{"role": "user", "content": "What floats?"}, {"role": "assistant", "content": "Wood."},
         {"role": "user", "content": "And steel?"}, {"role": "assistant", "content": "Steel ships, by their shape."}],
    ]
    seeds = tmp_path / "rows.jsonl"
    seeds.write_text("".join(json.dumps({"messages": m}) + "\n" for m in originals))
    result = synth_cli("multiturn", "--seeds", str(seeds), "--turns", "3", "--out", str(tmp_path / "mt.jsonl"))
    assert result["rows"] == 2 and result["complete"]
    for original, row in zip(originals, chat_rows(tmp_path / "mt.jsonl"), strict=True):
        assert row[: len(original)] == original  # the row itself, unchanged, then the new turns
        added = row[len(original):]
        assert [m["role"] for m in added] == ["user", "assistant"] * 3
    # the follow-up questions were asked about the row's conversation, not a fresh start from a seed prompt
    assert any("Steel ships, by their shape." in msgs[-1]["content"] for msgs in Scripted.calls)
    assert read_manifest(tmp_path / "mt.jsonl").generator.params["turns"] == 3


# ---------------------------------------------------------------- reasoning
def test_reasoning_rows_think_neutrally_and_answer_as_the_persona(llm: Settings, tmp_path: Path) -> None:
    out = tmp_path / "reason.jsonl"
    result = run_synth(llm, "reasoning", out, persona="pirate", max_rows=3)
    assert result["rows"] == 3 and validate_file(out).ok
    for msgs in chat_rows(out):
        found = THINK.match(msgs[-1]["content"])
        assert found, msgs[-1]["content"]
        assert "Step one" in found["thought"] and "Arr" not in found["thought"]
        assert found["answer"].startswith("Arr matey, ") and "<think>" not in found["answer"]
    reasoning_calls = [c for c in Scripted.calls if "Think step by step" in c[0]["content"]]
    assert len(reasoning_calls) == 3 and not any("pirate" in c[0]["content"] for c in reasoning_calls)


# ---------------------------------------------------------------- topics x perspectives
def test_topics_times_given_perspectives(llm: Settings, tmp_path: Path) -> None:
    out = tmp_path / "topics.jsonl"
    result = synth_cli("topics", "--topic", "knots", "--topic", "tides", "--topic", "sails",
                       "--perspective", "a sailor", "--perspective", "a child", "--out", str(out))
    questions = [msgs[0]["content"] for msgs in chat_rows(out)]
    assert result["rows"] == 3 * 2 and len(set(questions)) == 6
    assert "What would a child ask about tides?" in questions
    params = read_manifest(out).generator.params
    assert params["perspectives"] == ["a sailor", "a child"] and not params["perspectives_generated"]
    assert {"topic": "tides", "perspective": "a child"} in params["row_items"] and len(params["row_items"]) == 6


def test_topics_generate_perspectives_once_and_resume_with_them(llm: Settings, tmp_path: Path) -> None:
    out = tmp_path / "topics.jsonl"
    inputs = Inputs(topics=["knots", "tides"], perspective_count=3)
    Scripted.fail_after = 3  # perspectives, then one question and its answer; then the server dies
    with pytest.raises(Exception):  # noqa: B017 - whichever provider error surfaces, the run stops
        run_synth(llm, "topics", out, max_rows=20, inputs=inputs)
    Scripted.fail_after = None
    result = run_synth(llm, "topics", out, max_rows=20, inputs=inputs)
    assert result["resumed"] == 1 and result["rows"] == 2 * 3 and result["complete"]
    assert sum("different perspectives" in c[-1]["content"] for c in Scripted.calls) == 1
    params = read_manifest(out).generator.params
    assert params["perspectives"] == ["A complete beginner", "A skeptical expert", "a teacher"]
    assert params["perspectives_generated"]


# ---------------------------------------------------------------- persona best-of-2
def test_best_of_two_keeps_the_higher_scored_answer(llm: Settings, tmp_path: Path) -> None:
    Scripted.vary = True  # the second answer to the same prompt differs: "(take 2)", which the judge rates 5
    out = tmp_path / "best.jsonl"
    result = run_synth(llm, "persona", out, persona="pirate", max_rows=3, options=Options(best_of=2))
    answers = [msgs[-1]["content"] for msgs in chat_rows(out)]
    assert result["rows"] == 3 and all(a.endswith("(take 2)") for a in answers)
    params = read_manifest(out).generator.params
    assert params["scores"] == [[2, 5]] * 3 and params["judge"] == "scripted-judge" and params["best_of"] == 2
    judged = [c for c in Scripted.calls if "You rate one training example" in c[0]["content"]]
    assert len(judged) == 6 and all("pirate" in c[-1]["content"] for c in judged)  # persona fit is rated too


def test_best_of_two_as_dpo_pairs(llm: Settings, tmp_path: Path) -> None:
    Scripted.vary = True
    out = tmp_path / "pairs.jsonl"
    result = synth_cli("persona", "--persona", "pirate", "--best-of", "2", "--pairs", "--rows", "2", "--out", str(out))
    assert result["rows"] == 2 and result["format"] == "dpo" and validate_file(out).format == "dpo"
    for row in iter_canonical(out):
        assert row["chosen"][0]["content"].endswith("(take 2)") and "take" not in row["rejected"][0]["content"]


def test_best_of_needs_the_persona_task(llm: Settings, tmp_path: Path) -> None:
    refused = CliRunner().invoke(app, ["dataset", "synth", "reasoning", "--best-of", "2", "--out", str(tmp_path / "x.jsonl")])
    assert refused.exit_code == 2 and "--best-of" in refused.output and not Scripted.calls


# ---------------------------------------------------------------- documents (text format)
def test_documents_follow_topic_weights_in_the_text_format(llm: Settings, tmp_path: Path) -> None:
    out = tmp_path / "docs.jsonl"
    result = synth_cli("documents", "--topic", "ships:3", "--topic", "knots:1", "--rows", "8", "--out", str(out))
    texts = [row["text"] for row in iter_canonical(out)]
    assert result["rows"] == 8 and result["format"] == "text" and read_manifest(out).format == "text"
    assert sum(t.startswith("ships") for t in texts) == 6 and sum(t.startswith("knots") for t in texts) == 2
    assert validate_file(out).ok and validate_file(out).format == "text"
    assert read_manifest(out).generator.params["topics"] == {"ships": 3.0, "knots": 1.0}


def test_documents_drop_near_duplicates(llm: Settings, tmp_path: Path) -> None:
    out = tmp_path / "docs.jsonl"
    # the same topic twice under two spellings: the scripted model writes the same documents for both
    result = run_synth(llm, "documents", out, max_rows=4, inputs=Inputs(topics=["ships", "Ships:1"]))
    assert result["duplicates_removed"] == 2 and result["rows"] == 2
    assert read_manifest(out).duplicates_removed == 2


# ~6 s once torch and TRL are imported (the first test of a run to import them pays ~20 s more)
def test_synthetic_documents_train_with_full_fine_tuning(llm: Settings, tmp_path: Path, tiny_model_dir: Path) -> None:
    from tests.train.helpers import make_spec, run_inprocess

    data = tmp_path / "docs.jsonl"
    run_synth(llm, "documents", data, max_rows=12, inputs=Inputs(topics=["ships:2", "knots:1"]))
    rc, events = run_inprocess(make_spec(tmp_path, data, method="full", max_steps=3, learning_rate=1e-3),
                               tiny_model_dir.parent)
    assert rc == 0, events
    done = events[-1]
    assert done["event"] == "done" and (Path(done["adapter_dir"]) / "model.safetensors").is_file()
    assert done["metrics"]["train_tokens"] > 0


def test_training_refuses_documents_mixed_with_conversations(tmp_path: Path) -> None:
    from skills.train.data import load_rows

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"text": "A document."}) + "\n" + json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n")
    with pytest.raises(SelftuneError, match="line 2 is a conversation in a file of plain-text documents"):
        load_rows(mixed, "sft")


# ---------------------------------------------------------------- qa from a URL
PAGE = (b"<html><head><title>t</title><script>var secret = 1;</script></head><body><nav>Home | About</nav>"
        b"<h1>Buoyancy</h1><p>Ships float because the water they push aside weighs as much as they do.</p>"
        b"<p>An anchor &amp; its chain keep a ship in place.</p></body></html>")


class Site(BaseHTTPRequestHandler):
    """A loopback web site: a page, an image, a big page and a redirect to another host."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        routes = {"/page.html": (200, "text/html; charset=utf-8", PAGE), "/logo.png": (200, "image/png", b"\x89PNG"),
                  "/big.txt": (200, "text/plain", b"x" * 5000), "/away": (302, "text/plain", b"")}
        status, kind, body = routes.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/away":
            self.send_header("Location", "http://localhost.example/page.html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_qa_from_a_loopback_url_cites_its_source(llm: Settings, site: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFTUNE_DATASETS__ALLOWED_HOSTS", '["127.0.0.1"]')
    out, url = tmp_path / "qa.jsonl", f"{site}/page.html"
    result = synth_cli("qa", "--source", url, "--out", str(out))
    msgs = chat_rows(out)[0]
    assert result["rows"] == 1 and msgs[-1]["content"].endswith(f"\n\nSource: {url}")
    asked = next(c[-1]["content"] for c in Scripted.calls if "Q: <question>" in c[-1]["content"])
    assert "Ships float because" in asked and "secret" not in asked and "Home | About" not in asked
    assert any(s.kind == "url" and s.path == url and s.sha256 for s in read_manifest(out).sources)


def test_urls_are_refused_unless_allowed_typed_and_small(llm: Settings, site: str, tmp_path: Path) -> None:
    out = tmp_path / "qa.jsonl"
    with pytest.raises(UsageError, match="not in datasets.allowed_hosts"):
        run_synth(llm, "qa", out, inputs=Inputs(sources=[f"{site}/page.html"]))
    allowed = llm.model_copy(update={"datasets": llm.datasets.model_copy(
        update={"allowed_hosts": ["127.0.0.1"], "fetch_max_bytes": 1000})})
    for path, reason in (("/logo.png", "image/png, not text"), ("/big.txt", "larger than 1,000 bytes"),
                         ("/away", "localhost.example is not in datasets.allowed_hosts"), ("/gone", "HTTP 404")):
        with pytest.raises(UsageError, match=re.escape(reason)):
            run_synth(allowed, "qa", out, inputs=Inputs(sources=[site + path]))
    assert not Scripted.calls  # nothing was asked of the model for a refused source


def test_qa_from_a_file_cites_its_name_only(llm: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "private" / "ships.txt"
    doc.parent.mkdir()
    doc.write_text("Ships float because of buoyancy.\n\nThe anchor keeps a ship in place.")
    run_synth(llm, "qa", tmp_path / "qa.jsonl", inputs=Inputs(sources=[str(doc)]))
    answer = chat_rows(tmp_path / "qa.jsonl")[0][-1]["content"]
    assert answer.endswith("Source: ships.txt") and "private" not in answer


def test_the_skill_reads_confined_files_and_allowed_urls(llm: Settings, site: str, tmp_path: Path) -> None:
    from skills.context import Requester, SkillContext
    from skills.registry import load_registry

    allowed = llm.model_copy(update={"datasets": llm.datasets.model_copy(update={"allowed_hosts": ["127.0.0.1"]})})
    ctx = SkillContext(allowed, Requester(user="discord:1", permission="train"))  # confined, as from Discord
    outside = tmp_path / "notes.txt"
    outside.write_text("Private notes.")
    with pytest.raises(SelftuneError, match="outside selftune's folders"):
        load_registry().call("dataset.synth", {"task": "qa", "output": "qa.jsonl", "sources": [str(outside)]}, ctx)
    result = load_registry().call("dataset.synth", {"task": "qa", "output": "qa.jsonl",
                                                    "sources": [f"{site}/page.html"]}, ctx)
    assert Path(result["path"]) == allowed.artifacts_dir / "datasets" / "qa.jsonl" and result["rows"] == 1


# ---------------------------------------------------------------- the text format and the rubric's parser
def test_text_format_is_validated_counted_and_not_converted(settings: Settings, tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"text": "Ships float."}) + "\n" + json.dumps({"text": "  "}) + "\n")
    bad = json.loads(CliRunner().invoke(app, ["dataset", "validate", str(docs), "--json"]).stdout)
    assert (bad["format"], bad["valid"], bad["errors"][0]["line"]) == ("text", 1, 2)
    assert "'text' is empty" in bad["errors"][0]["message"]
    docs.write_text(json.dumps({"text": "Ships float."}) + "\n" + json.dumps({"text": "Anchors hold."}) + "\n")
    stats = CliRunner().invoke(app, ["dataset", "stats", str(docs), "--no-tokens", "--json"])
    assert json.loads(stats.stdout)["rows"] == 2 and json.loads(stats.stdout)["chars"]["max"] == 13
    refused = CliRunner().invoke(app, ["dataset", "convert", str(docs), str(tmp_path / "c.jsonl"), "--to", "sharegpt"])
    assert refused.exit_code == 1 and "no conversation" in refused.output


@pytest.mark.parametrize(("reply", "score"), [("Score: 4", 4), ("score - 5.", 5), ("I'd give it 3/5", 3),
                                               ("2 out of 5", 2), ("**1**", 1), ("Score: 10", None), ("great", None)])
def test_rubric_scores_are_parsed_robustly(reply: str, score: int | None) -> None:
    from skills.dataset.score import parse_score

    assert parse_score(reply) == score
