"""`dataset validate` warns about what the fine-tuning guides warn about, on the right lines; --strict fails."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli.main import app
from skills.dataset.validate import validate_file
from tests.datasets.conftest import chat


def problem_file(tmp_path: Path) -> Path:
    """One row per problem, among ten ordinary rows; line numbers are noted beside each."""
    rows = [chat(f"Tell me fact {i}", f"Fact {i}: water is wet, mostly.") for i in range(10)]  # lines 1-10
    rows += [
        chat("What is the capital of France?", "Paris."),  # 11
        chat("what is the capital of France", "The capital of France is Lyon, obviously."),  # 12: contradicts 11
        chat("Explain everything.", "word " * 300 + "end"),  # 13: length outlier
        chat("Greet me", "Hello there!  "),  # 14: trailing whitespace
        chat("How do you feel?", "As an AI, I do not have feelings."),  # 15: boilerplate
        chat("Hmm?", "..."),  # 16: an answer without a word
        chat("List two", "- one\n- two"),  # 17
        chat("List three", "- one\n- two\n- three"),  # 18
        chat("List again", "* one\n* two"),  # 19: the odd list style
        chat("Quote him", 'He said "yes".'),  # 20
        chat("Quote her", 'She said "no".'),  # 21
        chat("Quote them", "They said \u201cmaybe\u201d."),  # 22: the odd quote style
        chat("Two lines", "first\nsecond"),  # 23
        chat("Two more lines", "third\r\nfourth"),  # 24: the odd line ending inside a text
        chat("Plain", "A plain answer."),  # 25: its JSONL line ends in CRLF
    ]
    path = tmp_path / "problems.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + (b"\r\n" if n == 25 else b"\n") for n, r in enumerate(rows, 1)))
    return path


def test_each_problem_is_a_warning_on_its_lines(tmp_path: Path) -> None:
    report = validate_file(problem_file(tmp_path))
    assert report.ok and report.valid == 25
    by_message = {(f.check, tuple(f.lines)) for f in report.findings}
    assert ("contradiction", (11, 12)) in by_message
    assert ("length_outlier", (13,)) in by_message
    assert ("trailing_whitespace", (14,)) in by_message
    assert ("boilerplate", (15,)) in by_message
    assert ("empty_answer", (16,)) in by_message
    assert ("list_style", (19,)) in by_message
    assert ("quote_style", (22,)) in by_message
    assert ("line_endings", (24,)) in by_message  # a CRLF inside an answer among LF ones
    assert ("line_endings", (25,)) in by_message  # the file's own CRLF line among LF lines
    for finding in report.findings:
        assert finding.count == len(finding.lines)
    contradiction = next(f for f in report.findings if f.check == "contradiction")
    assert "lines 11 and 12" in contradiction.message and contradiction.count == 2


def test_cli_prints_warnings_and_strict_exits_1(tmp_path: Path) -> None:
    path = problem_file(tmp_path)
    relaxed = CliRunner().invoke(app, ["dataset", "validate", str(path)])
    assert relaxed.exit_code == 0, relaxed.output
    assert "warning (boilerplate, 1):" in relaxed.output and "(line 15)" in relaxed.output
    assert "warning (contradiction, 2):" in relaxed.output
    strict = CliRunner().invoke(app, ["dataset", "validate", str(path), "--strict", "--json"])
    assert strict.exit_code == 1
    doc = json.loads(strict.stdout)
    assert doc["invalid"] == 0 and doc["passed"] is False and doc["strict"] is True
    assert {f["check"] for f in doc["findings"]} >= {"contradiction", "length_outlier", "boilerplate"}


def test_a_clean_file_passes_strict(tmp_path: Path) -> None:
    path = tmp_path / "clean.jsonl"
    path.write_text("".join(json.dumps(chat(f"Question {i}?", f"Answer number {i}, plainly.")) + "\n" for i in range(12)))
    assert validate_file(path).findings == []
    assert CliRunner().invoke(app, ["dataset", "validate", str(path), "--strict"]).exit_code == 0


def test_preference_rows_are_not_contradictions(tmp_path: Path) -> None:
    rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "chosen": [{"role": "assistant", "content": f"yes {i}"}],
             "rejected": [{"role": "assistant", "content": "totally different words"}]} for i in range(3)]
    path = tmp_path / "dpo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert validate_file(path).findings == []
