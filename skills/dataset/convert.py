"""Convert canonical rows to messages / ShareGPT / alpaca, refusing to lose information unless allowed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config.errors import SelftuneError, UsageError
from skills.dataset.formats import row_kind
from skills.dataset.io import iter_canonical, write_dataset
from skills.dataset.manifest import Source, file_sha256
from skills.dataset.scrub import scrub_row

TARGETS = ("messages", "sharegpt", "alpaca")
FROM_ROLE = {"user": "human", "assistant": "gpt", "tool": "observation", "system": "system"}


class Lossy(Exception):
    """This row cannot be written in the target format without losing something (the message says what)."""


class LossyConversion(SelftuneError):
    """A conversion would lose information and --allow-lossy was not given."""


def from_canonical(row: dict[str, Any], to: str, *, allow_lossy: bool = False) -> dict[str, Any]:
    """One canonical row in format `to`; raises Lossy when information would be lost and that is not allowed."""
    kind = row_kind(row)
    if kind == "text":
        raise Lossy(f"plain-text rows (continued pre-training) hold no conversation to write as {to}")
    if to == "messages":
        return row
    if kind == "kto":
        raise Lossy("KTO rows (messages + label) can only be written as messages")
    if to == "sharegpt":
        return _to_sharegpt(row, allow_lossy) if kind == "sft" else _dpo_to_sharegpt(row, allow_lossy)
    if kind == "dpo":
        raise Lossy("DPO rows can be written as messages or sharegpt, not alpaca")
    return _to_alpaca(row)


def _arguments(raw: str) -> Any:
    """Tool-call arguments as an object when that round-trips exactly, else the original string."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    return parsed if json.dumps(parsed) == raw else raw


def _sharegpt_turns(msgs: list[dict[str, Any]], allow_lossy: bool) -> list[dict[str, str]]:
    turns = []
    for msg in msgs:
        if "tool_call_id" in msg or any("id" in c for c in msg.get("tool_calls", [])):
            _lose("tool call ids have no place in ShareGPT", allow_lossy)
        if "tool_calls" in msg:
            if msg["content"]:
                _lose("assistant text next to a tool call has no place in ShareGPT", allow_lossy)
            calls = [{"name": c["function"]["name"], "arguments": _arguments(c["function"]["arguments"])}
                     for c in msg["tool_calls"]]
            turns.append({"from": "function_call", "value": json.dumps(calls[0] if len(calls) == 1 else calls)})
        else:
            turns.append({"from": FROM_ROLE[msg["role"]], "value": msg["content"]})
    return turns


def _to_sharegpt(row: dict[str, Any], allow_lossy: bool) -> dict[str, Any]:
    msgs, out = row["messages"], {}
    if msgs[0]["role"] == "system":
        out["system"], msgs = msgs[0]["content"], msgs[1:]
    out["conversations"] = _sharegpt_turns(msgs, allow_lossy)
    if "tools" in row:
        out["tools"] = json.dumps(row["tools"])
    return out


def _dpo_to_sharegpt(row: dict[str, Any], allow_lossy: bool) -> dict[str, Any]:
    prompt, out = row["prompt"], {}
    if prompt[0]["role"] == "system":
        out["system"], prompt = prompt[0]["content"], prompt[1:]
    out["conversations"] = _sharegpt_turns(prompt, allow_lossy)
    for side in ("chosen", "rejected"):
        if len(row[side]) != 1:
            _lose(f"a multi-message '{side}' has no place in ShareGPT preference rows", allow_lossy)
        out[side] = _sharegpt_turns(row[side][-1:], allow_lossy)[0]
    return out


def _to_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    msgs, out = row["messages"], {}
    if "tools" in row:
        raise Lossy("tool schemas have no place in alpaca")
    if msgs[0]["role"] == "system":
        out["system"], msgs = msgs[0]["content"], msgs[1:]
    if any(m["role"] not in ("user", "assistant") or "tool_calls" in m for m in msgs):
        raise Lossy("tool calls and tool results have no place in alpaca")
    pairs = [[msgs[i]["content"], msgs[i + 1]["content"]] for i in range(0, len(msgs), 2)]
    out.update(instruction=pairs[-1][0], input="", output=pairs[-1][1])
    if len(pairs) > 1:
        out["history"] = pairs[:-1]
    return out


def _lose(reason: str, allow_lossy: bool) -> None:
    if not allow_lossy:
        raise Lossy(reason)


def convert_file(
    src: str | Path, dst: str | Path, to: str, *, fmt: str = "auto", allow_lossy: bool = False, scrub: bool = False,
) -> dict[str, Any]:
    """Convert a dataset file; lossy rows stop the conversion (nothing is written) unless allow_lossy."""
    src, dst = Path(src), Path(dst)
    if to not in TARGETS:
        raise UsageError(f"Cannot convert to '{to}'; use one of {', '.join(TARGETS)}.")
    if src.resolve() == dst.resolve():
        raise UsageError(f"The output {dst} is the input; write to a new file (inputs are never modified).")
    stats: Counter[str] = Counter()
    rows = _converted(src, to, fmt, allow_lossy, scrub, stats)
    note = f"convert to {to}" + (" (lossy allowed)" if allow_lossy else "") + (" (scrubbed)" if scrub else "")
    manifest = write_dataset(rows, dst, fmt=to, sources=[Source(kind="file", path=str(src), sha256=file_sha256(src), note=note)])
    return {"path": manifest.path, "format": to, "rows": manifest.rows, "sha256": manifest.sha256,
            "skipped": stats.pop("skipped", 0), "scrubbed": dict(stats)}


def _converted(src: Path, to: str, fmt: str, allow_lossy: bool, scrub: bool, stats: Counter[str]) -> Iterator[dict]:
    for number, row in enumerate(iter_canonical(src, fmt), 1):
        if scrub:
            row = scrub_row(row, stats)
        try:
            yield from_canonical(row, to, allow_lossy=allow_lossy)
        except Lossy as exc:
            if not allow_lossy:
                raise LossyConversion(
                    f"Converting {src} to {to} would lose information at row {number}: {exc}; "
                    "pass --allow-lossy to convert anyway (such rows are then simplified or skipped)."
                ) from None
            stats["skipped"] += 1
