"""validate_file: every bad row reported with its line and a clear sentence; never raises; never writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skills.dataset.validate import validate_file
from tests.datasets.conftest import chat


@pytest.mark.parametrize(
    ("name", "fmt", "rows"),
    [("alpaca_en_demo.json", "alpaca", 60), ("identity.json", "alpaca", 91), ("dpo_en_demo.json", "dpo", 20),
     ("glaive_toolcall_en_demo.json", "sharegpt", 30), ("kto_en_demo.json", "kto", 30),
     ("v1_sft_demo.jsonl", "messages", 40)],
)
def test_real_llamafactory_files_are_valid(lf: Path, name: str, fmt: str, rows: int) -> None:
    report = validate_file(lf / name)
    assert (report.format, report.rows, report.invalid) == (fmt, rows, 0), report.errors[:3]


def test_bad_rows_are_reported_with_line_and_reason(write_jsonl) -> None:
    good = chat()
    path = write_jsonl([
        good,
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]},
        {"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]},
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"content": "hi"}]},
        "{not json",
        b"\xff\xfe\"bad\"",
        "[1, 2]",
        good,
        '{"messages": [{"role": "user", "content": "cut',
    ])
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    before = path.read_bytes()
    report = validate_file(path)
    assert path.read_bytes() == before  # never modifies the input
    assert (report.rows, report.valid, report.invalid) == (10, 2, 8)
    by_line = {e.line: e.message for e in report.errors}
    assert "empty assistant turn" in by_line[2]
    assert "wrong role order" in by_line[3]
    assert "must be a string" in by_line[4]
    assert "role None" in by_line[5]
    assert "not valid JSON" in by_line[6]
    assert "UTF-8" in by_line[7]
    assert "array" in by_line[8]
    assert "truncated" in by_line[10]
    assert all(m.startswith(f"line {line} ") for line, m in by_line.items())


def test_bom_is_a_warning_and_rows_still_count(write_jsonl) -> None:
    path = write_jsonl([chat()])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    report = validate_file(path)
    assert report.ok and "byte-order mark" in report.warnings[0]


@pytest.mark.parametrize(
    ("content", "name", "needle"),
    [(b"instruction,output\nhi,hello\n", "d.csv", "CSV"), (b"", "e.jsonl", "empty"),
     (b"\x1f\x8b\x08\x00", "d.jsonl.gz", "gzip"), (b"\xff\xfe{\x00", "u.jsonl", "UTF-16"),
     (b'{\n  "messages": []\n}\n', "p.jsonl", "spread over several lines"), (b"hello\n", "t.txt", "JSON object")],
)
def test_unreadable_files_give_one_sentence(tmp_path: Path, content: bytes, name: str, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    report = validate_file(path)
    assert not report.ok and report.errors[0].line == 0 and needle in report.errors[0].message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "does not exist" in validate_file(tmp_path / "nope.jsonl").errors[0].message
    assert "is a folder" in validate_file(tmp_path).errors[0].message


def test_json_array_in_jsonl_file_warns_and_reports_item_index(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps([chat(), {"messages": "x"}, chat()], indent=1))
    report = validate_file(path)
    assert report.layout == "array" and "JSON array, not JSONL" in report.warnings[0]
    assert report.invalid == 1 and report.errors[0].index == 1 and report.errors[0].line > 1


def test_truncated_json_array(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([chat(), chat()])[:-30])
    report = validate_file(path)
    assert report.valid == 1 and "truncated" in report.errors[0].message


def test_given_format_mismatch_names_the_missing_field(write_jsonl) -> None:
    report = validate_file(write_jsonl([chat()]), fmt="alpaca")
    assert report.invalid == 1 and "missing 'instruction'" in report.errors[0].message


def test_tool_calls_and_roles(write_jsonl) -> None:
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    ok = {"messages": [{"role": "user", "content": "q"}, call, {"role": "tool", "content": "r", "tool_call_id": "c1"},
                       {"role": "assistant", "content": "done"}]}
    orphan = {"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "r"},
                           {"role": "assistant", "content": "a"}]}
    report = validate_file(write_jsonl([ok, orphan]))
    assert report.valid == 1 and "follows no tool call" in report.errors[0].message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), name=st.sampled_from(["x.jsonl", "x.json", "x.csv"]))
def test_validate_never_raises_on_bytes(tmp_path: Path, data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    report = validate_file(path)
    assert report.rows >= 0 and (report.ok or report.errors or report.warnings)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["messages", "role", "content", "from", "value", "instruction", "output", "chosen",
                         "rejected", "prompt", "label", "tool_calls", "conversations", "history", "tool_call_id",
                         "id", "function", "name", "arguments", "tools"]), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(json_values, min_size=1, max_size=4))
def test_validate_never_raises_on_json_shapes(tmp_path: Path, rows: list) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = validate_file(path)
    assert report.ok or report.errors or report.warnings
    assert report.valid + report.invalid >= report.rows


@settings(max_examples=300, deadline=None)
@given(row=json_values, fmt=st.sampled_from(["messages", "alpaca"]))
def test_fast_path_never_accepts_what_the_full_check_rejects(row, fmt: str) -> None:
    from skills.dataset.formats import RowError, looks_valid, to_canonical

    if looks_valid(row, fmt):
        try:
            to_canonical(row, fmt)
        except RowError as exc:  # pragma: no cover - the assertion below reports it
            raise AssertionError(f"fast path accepted {row!r}: {exc}") from None


def _deep(levels: int) -> str:
    """A messages row whose assistant content nests `levels` arrays (with a bracket inside a string)."""
    return ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": '
            + "[" * levels + '"a]\\"["' + "]" * levels + "}]}")


def test_very_deep_nesting_is_an_error_on_its_line_not_a_crash(write_jsonl, tmp_path: Path) -> None:
    good = json.dumps(chat())
    report = validate_file(write_jsonl([good, _deep(100_000), good, _deep(100), good]))
    assert (report.rows, report.valid, report.invalid) == (5, 3, 2)
    assert [e.line for e in report.errors] == [2, 4]
    assert "too deeply" in report.errors[0].message and "more than 64 levels" in report.errors[1].message

    array = tmp_path / "deep.json"  # an array item too deep to decode is skipped; the items after it are read
    array.write_text(f"[\n{good},\n{_deep(50_000)},\n{good}\n]")
    report = validate_file(array)
    assert (report.rows, report.valid, report.invalid) == (3, 2, 1)
    assert (report.errors[0].line, report.errors[0].index) == (3, 1) and "too deeply" in report.errors[0].message


def _tool_row(call_id: str = "c1", answer_id: str = "c1", arguments: object = '{"city": "Paris"}') -> dict:
    call = {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": arguments}}
    return {"messages": [{"role": "user", "content": "weather?"},
                         {"role": "assistant", "content": None, "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": answer_id, "content": "sunny"},
                         {"role": "assistant", "content": "Sunny."}]}


def test_tool_call_ids_and_arguments_are_checked(write_jsonl) -> None:
    report = validate_file(write_jsonl([
        _tool_row(), _tool_row(answer_id="c9"), _tool_row(arguments="{city: Paris"), _tool_row(arguments="[1]"),
        _tool_row(arguments={"city": "Paris"}),
    ]))
    assert (report.valid, report.invalid) == (2, 3)
    lines = {e.line: e.message for e in report.errors}
    assert set(lines) == {2, 3, 4}
    assert "tool_call_id 'c9'" in lines[2] and "matches no open tool call (issued: c1)" in lines[2]
    assert "tool call 1 (weather)" in lines[3] and "not valid JSON" in lines[3]
    assert "not an object" in lines[4]


def test_a_text_longer_than_any_context_window_is_a_warning_with_its_line(write_jsonl) -> None:
    report = validate_file(write_jsonl([chat(), chat(user="x" * 100_000), chat(answer="z" * 40_000)]))
    assert report.ok and report.valid == 3
    assert len(report.warnings) == 2
    assert report.warnings[0].startswith("line 2: 'messages' turn 1 is 100,000 characters long")
    assert report.warnings[1].startswith("line 3: 'messages' turn 2 is 40,000 characters long")
    alpaca = validate_file(write_jsonl([{"instruction": "i", "output": "o"}, {"instruction": "y" * 40_000, "output": "o"}],
                                       name="alpaca.jsonl"))
    assert alpaca.ok and alpaca.warnings[0].startswith("line 2: 'instruction' is 40,000 characters long")


def test_cli_reports_the_new_cases_as_json(write_jsonl) -> None:
    from typer.testing import CliRunner

    from agent.cli.main import app

    path = write_jsonl([_deep(5000), _tool_row(answer_id="nope")])
    result = CliRunner().invoke(app, ["dataset", "validate", str(path), "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [e["line"] for e in doc["errors"]] == [1, 2]


nested_values = st.recursive(st.just("x") | st.integers(), lambda inner: st.lists(inner, min_size=1, max_size=2),
                             max_leaves=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=1, max_value=3000), where=st.sampled_from(["content", "arguments", "tools"]),
       leaf=nested_values, layout=st.sampled_from(["jsonl", "array"]))
def test_validate_never_raises_on_any_nesting(tmp_path: Path, depth: int, where: str, leaf, layout: str) -> None:
    nested = "[" * depth + json.dumps(leaf) + "]" * depth
    user, answer = '{"role": "user", "content": "q"}', '{"role": "assistant", "content": "a"}'
    call = '{"id": "c", "function": {"name": "f", "arguments": NESTED}}'
    row = {"content": '{"messages": [{"role": "user", "content": NESTED}, ANSWER]}',
           "arguments": '{"messages": [USER, {"role": "assistant", "tool_calls": [CALL]}]}',
           "tools": '{"tools": NESTED, "messages": [USER, ANSWER]}'}[where]
    row = row.replace("CALL", call).replace("USER", user).replace("ANSWER", answer).replace("NESTED", nested)
    path = tmp_path / ("x.jsonl" if layout == "jsonl" else "x.json")
    path.write_text(row + "\n" if layout == "jsonl" else f"[{row}, {json.dumps(chat())}]")
    report = validate_file(path)
    assert report.rows == (1 if layout == "jsonl" else 2)
    assert report.invalid == 1, report.errors


ARGUMENTS = ['{"city": "Paris"}', "{}", "", "{city: Paris", "[1, 2]", '"Paris"', "null", '{"a": {"b": [1]}}', "{'a': 1}"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3, unique=True),
       answers=st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3),
       arguments=st.sampled_from(ARGUMENTS) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
def test_tool_rows_are_valid_exactly_when_results_answer_issued_calls(tmp_path: Path, ids: list[str], answers: list[str],
                                                                      arguments) -> None:
    calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": arguments}} for i in ids]
    results = [{"role": "tool", "tool_call_id": a, "content": "r"} for a in answers]
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": calls},
                        *results, {"role": "assistant", "content": "done"}]}
    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps(row) + "\n")
    report = validate_file(path)
    is_object = isinstance(arguments, dict) or (arguments.startswith("{") and arguments not in ("{city: Paris", "{'a': 1}"))
    answered_once = len(set(answers)) == len(answers) and set(answers) <= set(ids)
    assert report.valid == int(is_object and answered_once), report.errors
    assert all(e.line == 1 for e in report.errors)
