"""A scripted OpenAI-compatible server on 127.0.0.1 for synthesis tests: exact, deterministic answers.

It answers like a tiny obedient model: in a pirate's voice when the system prompt says pirate, else plainly;
it writes Q/A pairs, perspectives, topic questions, documents and neutral reasoning when asked for them, and
grades answers as a judge ("take 2" answers score 5, others 2). With `vary` on, asking the same thing again
gets "(take N)" appended, so best-of-n sees different answers.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from config.settings import Settings


def scripted_text(msgs: list[dict]) -> str:
    """The scripted model's answer to a conversation."""
    system = " ".join(m["content"] for m in msgs if m["role"] == "system")
    last = msgs[-1]["content"]
    if "You rate one training example" in system:  # the judge's rubric (skills/dataset/prompts/score.md)
        return "Score: 5" if "take 2" in last else "I would say 2 out of 5."
    if "Q: <question>" in last:
        return f"Q: What is in the text?\nA: {last[-20:]}"
    if "different perspectives" in last:
        return "Here are some perspectives:\n1. A complete beginner\n2. A skeptical expert\n- a teacher\n* a child"
    if (found := re.search(r"Topic: (?P<topic>.+)\nPerspective: (?P<who>.+)", last)) is not None:
        return f"Question: What would {found['who']} ask about {found['topic']}?"
    if (found := re.search(r"This is document (?P<n>\d+) on the topic.*Topic: (?P<topic>.+)", last, re.S)) is not None:
        topic, n = found["topic"].strip(), found["n"]
        return (f"{topic} part {n}. " + " ".join(f"Fact {n}.{i} about {topic} is number {int(n) * 100 + i}."
                                                for i in range(12)))
    if "Think step by step" in system:
        return f"The question is: {last}. Step one, recall the facts. Step two, put them together."
    return f"Arr matey, {last}" if "pirate" in system else f"Plain: {last}"


class Scripted(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions with scripted_text (500s after `fail_after` calls, like a dying server)."""

    calls: list[list[dict]] = []
    fail_after: int | None = None
    vary = False
    asked: Counter[str] = Counter()

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        msgs = body["messages"]
        Scripted.calls.append(msgs)
        if Scripted.fail_after is not None and len(Scripted.calls) > Scripted.fail_after:
            self.send_response(500)
            self.end_headers()
            return
        text = scripted_text(msgs)
        key = json.dumps(msgs)
        Scripted.asked[key] += 1
        if Scripted.vary and Scripted.asked[key] > 1:
            text += f" (take {Scripted.asked[key]})"
        payload = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep test output clean
        pass


@contextmanager
def scripted_server() -> Iterator[str]:
    """The server's /v1 base URL while the block runs (fresh call log each time)."""
    Scripted.calls, Scripted.fail_after, Scripted.vary, Scripted.asked = [], None, False, Counter()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def scripted_settings(settings: Settings, url: str, monkeypatch) -> Settings:  # noqa: ANN001 - pytest's MonkeyPatch
    """Settings whose LLM ('scripted-1') and judge ('scripted-judge') are the scripted server (env too, for the CLI)."""
    for key, value in {"LLM__PROVIDER": "openai", "LLM__BASE_URL": url, "LLM__MODEL": "scripted-1",
                       "LLM__TIMEOUT_S": "5", "JUDGE__PROVIDER": "openai", "JUDGE__BASE_URL": url,
                       "JUDGE__MODEL": "scripted-judge", "JUDGE__TIMEOUT_S": "5"}.items():
        monkeypatch.setenv(f"SELFTUNE_{key}", value)
    return settings.model_copy(update={
        "llm": settings.llm.model_copy(update={"provider": "openai", "base_url": url, "model": "scripted-1",
                                               "timeout_s": 5.0}),
        "judge": settings.judge.model_copy(update={"provider": "openai", "base_url": url, "model": "scripted-judge",
                                                   "timeout_s": 5.0})})
