"""Dataset formats: detect a row's format and turn any supported row into the canonical OpenAI-messages form.

Canonical rows:
- SFT: {"messages": [{"role", "content", "tool_calls"?, "tool_call_id"?}], "tools"?: [...]}
- DPO: {"prompt": [messages], "chosen": [messages], "rejected": [messages]} (TRL conversational preference)
- KTO: {"messages": [...], "label": bool}
- text: {"text": str} (plain documents for continued pre-training; the loss covers every token)
Every check raises RowError with one sentence that says what is wrong; callers add the line number.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson

Format = Literal["messages", "sharegpt", "alpaca", "dpo", "kto", "text"]
FORMATS: tuple[str, ...] = ("messages", "sharegpt", "alpaca", "dpo", "kto", "text")
ROLES = frozenset({"system", "user", "assistant", "tool"})
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
    "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool",
}


MAX_DEPTH = 64  # real rows nest < 20 levels; writers (orjson) refuse > 254 and Python's json recurses
LONG_TEXT_CHARS = 32_000  # ~8k tokens: longer than the context any recipe here trains with


class RowError(ValueError):
    """One row is invalid; the message says why in one sentence (without the line number)."""


def detect_format(row: Any) -> Format | None:
    """Guess a row's format from its keys; None when it matches none."""
    if not isinstance(row, dict):
        return None
    if "chosen" in row and "rejected" in row:
        return "dpo"
    if "label" in row and ("messages" in row or "completion" in row):
        return "kto"
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row or ("output" in row and "input" in row):
        return "alpaca"
    if "text" in row:
        return "text"
    return None


def to_canonical(row: Any, fmt: Format) -> dict[str, Any]:
    """Validate one row of format `fmt` and return its canonical form; raises RowError."""
    if not isinstance(row, dict):
        raise RowError(f"is a JSON {_json_kind(row)}, not an object with {_expected_keys(fmt)}")
    if _too_deep(row, MAX_DEPTH):
        raise RowError(f"nests JSON more than {MAX_DEPTH} levels deep; no conversation needs that, so flatten it")
    return _READERS[fmt](row)


def _too_deep(value: Any, limit: int) -> bool:
    """True when arrays/objects nest more than `limit` levels (iterative: deep rows must not recurse)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def long_text(row: Any) -> str | None:
    """Which text of a raw row (any format) is longer than LONG_TEXT_CHARS, as 'X is N characters'; else None."""
    if type(row) is not dict:
        return None
    for key, value in row.items():  # exact type checks: this runs on every row of a validation
        if type(value) is str:
            if len(value) > LONG_TEXT_CHARS:
                return f"'{key}' is {len(value):,} characters long"
        elif type(value) is list:
            for i, turn in enumerate(value):
                text = turn.get("content", turn.get("value")) if type(turn) is dict else turn
                if type(text) is str and len(text) > LONG_TEXT_CHARS:
                    return f"'{key}' turn {i + 1} is {len(text):,} characters long"
    return None


def looks_valid(row: Any, fmt: str) -> bool:
    """A fast check for the common plain-text shapes; False means "run the full check", not "invalid".

    Rows with a text over LONG_TEXT_CHARS take the full path too, where they get their warning.
    """
    if type(row) is not dict:
        return False
    if fmt == "messages":
        return "tools" not in row and _plain_chat(row.get("messages"))
    if fmt == "alpaca":
        out, ins, extra = row.get("output"), row.get("instruction"), row.get("input", "")
        return (type(out) is str and type(ins) is str and out.strip() != "" and ins.strip() != ""
                and type(extra) is str and len(row) <= 3
                and max(len(out), len(ins), len(extra)) <= LONG_TEXT_CHARS)
    return False


def _plain_chat(msgs: Any) -> bool:
    """Text-only system?/user/assistant alternation ending with a non-empty assistant turn."""
    if type(msgs) is not list or not msgs:
        return False
    prev = None
    for i, m in enumerate(msgs):
        if type(m) is not dict or len(m) != 2 or type(m.get("content")) is not str:
            return False
        if len(m["content"]) > LONG_TEXT_CHARS:
            return False
        role = m["role"] if "role" in m else None
        if role == "user":
            if prev == "user":
                return False
        elif role == "assistant":
            if prev != "user" or not m["content"].strip():
                return False
        elif role != "system" or i:
            return False
        prev = role
    return prev == "assistant"


def row_kind(row: dict[str, Any]) -> Literal["sft", "dpo", "kto", "text"]:
    """Which kind of canonical row this is."""
    if "chosen" in row:
        return "dpo"
    if "text" in row and "messages" not in row:
        return "text"
    return "kto" if "label" in row else "sft"


# ---------------------------------------------------------------- messages
def _text(content: Any, where: str) -> str | None:
    """Content as a string: strings pass, text-part lists are joined, anything else is an error."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = []
        for part in content:
            if part.get("type", "text") != "text":
                raise RowError(f"{where} has a '{part.get('type')}' content part; only text is supported")
            text = part.get("text", part.get("value"))
            if not isinstance(text, str):
                raise RowError(f"{where} has a text part without a string 'text'")
            texts.append(text)
        return "".join(texts)
    raise RowError(f"{where} content must be a string, not a JSON {_json_kind(content)}")


def _tool_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(calls, list) or not calls:
        raise RowError(f"{where} 'tool_calls' must be a non-empty list")
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise RowError(f"{where} has a tool call without function.name")
        args = _arguments(fn.get("arguments", "{}"), f"{where} tool call {len(out) + 1} ({fn['name']})")
        clean = {"type": "function", "function": {"name": fn["name"], "arguments": args}}
        if isinstance(call.get("id"), str):
            clean["id"] = call["id"]
        out.append(clean)
    return out


def _arguments(args: Any, where: str) -> str:
    """function.arguments as the JSON text of an object (OpenAI's form); anything else is a RowError."""
    if isinstance(args, str):
        try:
            parsed = orjson.loads(args)
        except orjson.JSONDecodeError:
            raise RowError(f"{where} has function.arguments that are not valid JSON") from None
        if not isinstance(parsed, dict):
            raise RowError(f"{where} has function.arguments that are a JSON {_json_kind(parsed)}, not an object")
        return args
    if not isinstance(args, dict):
        raise RowError(f"{where} has function.arguments that are a JSON {_json_kind(args)}, not an object")
    return json.dumps(args, ensure_ascii=False)


def _message(msg: Any, i: int) -> dict[str, Any]:
    where = f"message {i + 1}"
    if not isinstance(msg, dict):
        raise RowError(f"{where} is a JSON {_json_kind(msg)}, not an object with 'role' and 'content'")
    role = msg.get("role")
    if role not in ROLES:
        raise RowError(f"{where} has role {role!r}; use system, user, assistant or tool")
    if "content" not in msg and "tool_calls" not in msg:
        raise RowError(f"{where} ({role}) is missing 'content'")
    out: dict[str, Any] = {"role": role, "content": _text(msg.get("content"), f"{where} ({role})")}
    if msg.get("tool_calls") is not None:
        if role != "assistant":
            raise RowError(f"{where} ({role}) has tool_calls; only assistant messages may call tools")
        out["tool_calls"] = _tool_calls(msg["tool_calls"], f"{where} (assistant)")
    if role == "tool" and isinstance(msg.get("tool_call_id"), str):
        out["tool_call_id"] = msg["tool_call_id"]
    if out["content"] is None:
        if "tool_calls" not in out:
            raise RowError(f"{where} ({role}) has null content")
        out["content"] = ""
    return out


def check_messages(raw: Any, *, field: str = "messages", need_answer: bool = True) -> list[dict[str, Any]]:
    """Validate a conversation (roles, order, empty turns) and return clean messages."""
    if not isinstance(raw, list) or not raw:
        raise RowError(f"'{field}' must be a non-empty list of messages")
    msgs = [_message(m, i) for i, m in enumerate(raw)]
    _check_order(msgs)
    if need_answer and msgs[-1]["role"] != "assistant":
        raise RowError(f"'{field}' ends with a {msgs[-1]['role']} turn; the last turn must be the assistant's")
    return msgs


def _check_order(msgs: list[dict[str, Any]]) -> None:
    """System first only; user and assistant alternate; tool results follow a tool call."""
    prev = None
    for i, msg in enumerate(msgs):
        role, where = msg["role"], f"message {i + 1}"
        if role == "system" and i != 0:
            raise RowError(f"{where} is a system message; only the first message may be a system message")
        if role == "assistant" and not msg["content"].strip() and "tool_calls" not in msg:
            raise RowError(f"{where} is an empty assistant turn")
        if role == "user" and prev == "user":
            raise RowError(f"wrong role order: {where} is a user turn right after another user turn")
        if role == "assistant" and prev in (None, "system"):
            raise RowError(f"wrong role order: {where} is an assistant turn before any user turn")
        if role == "assistant" and prev == "assistant" and "tool_calls" not in msgs[i - 1]:
            raise RowError(f"wrong role order: {where} is an assistant turn right after another assistant turn")
        if role == "tool" and not (prev == "tool" or (prev == "assistant" and "tool_calls" in msgs[i - 1])):
            raise RowError(f"wrong role order: {where} is a tool result that follows no tool call")
        prev = role
    _check_tool_ids(msgs)


def _check_tool_ids(msgs: list[dict[str, Any]]) -> None:
    """A tool result's tool_call_id names a call the assistant issued just before, and answers it once."""
    open_calls: set[str] = set()
    for i, msg in enumerate(msgs):
        if "tool_calls" in msg:
            open_calls = {call["id"] for call in msg["tool_calls"] if "id" in call}
        call_id = msg.get("tool_call_id") if msg["role"] == "tool" else None
        if call_id is None:
            continue
        if call_id not in open_calls:
            issued = ", ".join(sorted(open_calls)) or "none with an id"
            raise RowError(f"message {i + 1} (tool) answers tool_call_id {call_id!r}, which matches no open "
                           f"tool call (issued: {issued})")
        open_calls.discard(call_id)


def _tools(row: dict[str, Any]) -> dict[str, Any]:
    """The optional row-level tool schemas (a list, or a JSON string of one as LLaMA-Factory writes it)."""
    tools = row.get("tools")
    if tools in (None, "", []):
        return {}
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            raise RowError("'tools' is a string that is not valid JSON") from None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise RowError("'tools' must be a list of tool schemas")
    return {"tools": tools} if tools else {}


def _read_messages(row: dict[str, Any]) -> dict[str, Any]:
    return {"messages": check_messages(row.get("messages")), **_tools(row)}


# ---------------------------------------------------------------- sharegpt
def sharegpt_messages(turns: Any, field: str = "conversations", *, need_answer: bool = True) -> list[dict]:
    """ShareGPT turns ({from, value}) as clean messages."""
    if not isinstance(turns, list) or not turns:
        raise RowError(f"'{field}' must be a non-empty list of turns")
    msgs = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise RowError(f"turn {i + 1} of '{field}' must be an object with 'from' and 'value'")
        role = SHAREGPT_ROLES.get(turn["from"])
        if role is None:
            raise RowError(f"turn {i + 1} has from={turn['from']!r}; use human, gpt, system, function_call or observation")
        if not isinstance(turn["value"], str):
            raise RowError(f"turn {i + 1} ({turn['from']}) value must be a string, not a JSON {_json_kind(turn['value'])}")
        msgs.append(_function_call(turn["value"], i) if turn["from"] == "function_call" else
                    {"role": role, "content": turn["value"]})
    return check_messages(msgs, field=field, need_answer=need_answer)


def _function_call(value: str, i: int) -> dict[str, Any]:
    """A ShareGPT function_call turn (JSON {name, arguments}, or a list of them) as an assistant tool call."""
    try:
        calls = json.loads(value)
    except ValueError:
        raise RowError(f"turn {i + 1} (function_call) value is not valid JSON") from None
    calls = calls if isinstance(calls, list) else [calls]
    if not all(isinstance(c, dict) and c.get("name") for c in calls):
        raise RowError(f"turn {i + 1} (function_call) must hold {{'name', 'arguments'}}")
    return {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": c["name"], "arguments": c.get("arguments", {})}} for c in calls
    ]}


def _read_sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    msgs = sharegpt_messages(row.get("conversations"))
    if isinstance(row.get("system"), str) and row["system"] and msgs[0]["role"] != "system":
        msgs.insert(0, {"role": "system", "content": row["system"]})
    return {"messages": msgs, **_tools(row)}


# ---------------------------------------------------------------- alpaca
def _read_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("instruction", "output"):
        if key not in row:
            raise RowError(f"is missing '{key}' (alpaca rows need instruction and output)")
    for key in ("instruction", "input", "output", "system"):
        if (row.get(key) is not None or key in ("instruction", "output")) and not isinstance(row[key], str):
            raise RowError(f"'{key}' must be a string, not a JSON {_json_kind(row[key])}")
    if not row["output"].strip():
        raise RowError("'output' is empty (an empty assistant turn)")
    prompt = "\n".join(p for p in (row["instruction"], row.get("input") or "") if p)
    if not prompt.strip():
        raise RowError("'instruction' and 'input' are both empty")
    msgs = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    msgs += _history(row.get("history"))
    msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    return {"messages": check_messages(msgs)}


def _history(history: Any) -> list[dict[str, Any]]:
    if history in (None, []):
        return []
    pairs = history if isinstance(history, list) else None
    if pairs is None or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                for p in pairs):
        raise RowError("'history' must be a list of [instruction, response] string pairs")
    return [m for q, a in pairs for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]


# ---------------------------------------------------------------- preference data
def _side(value: Any, key: str) -> list[dict[str, Any]]:
    """A chosen/rejected completion: a string, one message, a ShareGPT turn, or a list of messages."""
    if isinstance(value, str):
        if not value.strip():
            raise RowError(f"'{key}' is empty")
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict) and "from" in value:
        value = sharegpt_messages([{"from": "human", "value": "-"}, value], key)[1:]
    elif isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise RowError(f"'{key}' must be a string or a list of messages")
    msgs = [_message(m, i) for i, m in enumerate(value)]
    if msgs[-1]["role"] != "assistant" or not (msgs[-1]["content"].strip() or "tool_calls" in msgs[-1]):
        raise RowError(f"'{key}' must end with a non-empty assistant turn")
    return msgs


def _prompt(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "conversations" in row:
        msgs = sharegpt_messages(row["conversations"], need_answer=False)
        if isinstance(row.get("system"), str) and row["system"] and msgs[0]["role"] != "system":
            msgs.insert(0, {"role": "system", "content": row["system"]})
        return msgs
    raw = row.get("prompt", row.get("messages"))
    if raw is None:
        return None
    if isinstance(raw, str):
        if not raw.strip():
            raise RowError("'prompt' is empty")
        return [{"role": "user", "content": raw}]
    return check_messages(raw, field="prompt" if "prompt" in row else "messages", need_answer=False)


def _read_dpo(row: dict[str, Any]) -> dict[str, Any]:
    prompt = _prompt(row)
    chosen, rejected = _side(row.get("chosen"), "chosen"), _side(row.get("rejected"), "rejected")
    if prompt is None:  # TRL's implicit prompt: the shared prefix of chosen and rejected
        n = 0
        while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
            n += 1
        prompt, chosen, rejected = chosen[:n], chosen[n:], rejected[n:]
        if not prompt:
            raise RowError("has no 'prompt' and chosen/rejected share no prompt turns")
    _check_order(prompt + chosen)
    if chosen == rejected:
        raise RowError("'chosen' and 'rejected' are identical")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _read_kto(row: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(row.get("label"), bool):
        raise RowError(f"'label' must be true or false, not {json.dumps(row.get('label'))}")
    if "messages" in row:
        return {"messages": check_messages(row["messages"]), "label": row["label"]}
    prompt = _prompt(row) or []
    msgs = prompt + _side(row.get("completion"), "completion")
    _check_order(msgs)
    return {"messages": msgs, "label": row["label"]}


# ---------------------------------------------------------------- plain text (continued pre-training)
def _read_text(row: dict[str, Any]) -> dict[str, Any]:
    if "text" not in row and detect_format(row) not in (None, "text"):
        raise RowError("is a conversation in a file of plain-text documents ({\"text\"} rows); keep documents and "
                       "conversations in separate files and train them as separate stages")
    text = row.get("text")
    if not isinstance(text, str):
        raise RowError(f"'text' must be a string, not a JSON {_json_kind(text)}")
    if not text.strip():
        raise RowError("'text' is empty")
    return {"text": text}


_READERS = {"messages": _read_messages, "sharegpt": _read_sharegpt, "alpaca": _read_alpaca,
            "dpo": _read_dpo, "kto": _read_kto, "text": _read_text}


def _json_kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _expected_keys(fmt: str) -> str:
    return {"messages": "'messages'", "sharegpt": "'conversations'", "alpaca": "'instruction' and 'output'",
            "dpo": "'prompt', 'chosen' and 'rejected'", "kto": "'messages' and 'label'", "text": "'text'"}[fmt]
