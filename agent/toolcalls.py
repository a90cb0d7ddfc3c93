"""Tools for the model: OpenAI tools schema from the skill registry, and recovery of tool calls printed as text.

Function names may not contain dots in the OpenAI API, so `train.submit` is offered as `train__submit`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from skills.providers.base import ToolCall, parse_arguments
from skills.registry import SkillInfo


def tool_name(skill_name: str) -> str:
    """The API-safe function name of a skill."""
    return skill_name.replace(".", "__")


def skill_name(name: str, known: set[str]) -> str | None:
    """Map a function name the model used (`train__submit`, `train.submit`, `train_submit`) back to a skill."""
    for candidate in (name, name.replace("__", "."), name.replace("_", ".", 1)):
        if candidate in known:
            return candidate
    return None


def tools_schema(skills: list[SkillInfo]) -> list[dict[str, Any]]:
    """OpenAI `tools` entries for the given skills (descriptions and parameters from SKILL.md + type hints)."""
    tools = []
    for skill in skills:
        tool = skill.openai_tool()
        tool["function"]["name"] = tool_name(skill.name)
        tools.append(tool)
    return tools


_BLOCK_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCE_RE = re.compile(r"```(?:json|tool_call)?\s*(\{.*?\})\s*```", re.DOTALL)


def _repair(raw: str) -> Any:
    """Parse JSON that small models get slightly wrong: single quotes, trailing commas, unclosed braces."""
    attempts = [raw, raw.replace("'", '"')]
    attempts += [re.sub(r",\s*([}\]])", r"\1", a) for a in attempts]
    attempts += [a + "}" * max(0, a.count("{") - a.count("}")) for a in attempts]
    for attempt in attempts:
        try:
            return json.loads(attempt)
        except ValueError:
            continue
    raise ValueError("unreadable JSON")


def _first_object(text: str) -> str | None:
    start = text.find("{")
    return text[start:] if start >= 0 else None


def _candidates(text: str) -> list[str]:
    blocks = _BLOCK_RE.findall(text) or _FENCE_RE.findall(text)
    if blocks:
        return blocks
    stripped = text.strip()
    return [stripped] if stripped.startswith("{") else []


def _to_call(data: Any, index: int) -> ToolCall | None:
    if not isinstance(data, dict):
        return None
    fn = data.get("function") if isinstance(data.get("function"), dict) else data
    name = fn.get("name") or fn.get("tool")
    if not isinstance(name, str):
        return None
    args, error = parse_arguments(fn.get("arguments", fn.get("parameters", fn.get("args", {}))))
    return ToolCall(id=f"text_{index}", name=name, arguments=args, error=error)


def parse_text_tool_calls(text: str) -> list[ToolCall]:
    """Tool calls a model printed as text: `<tool_call>{...}</tool_call>`, a ```json block, or a bare JSON object."""
    calls = []
    for index, raw in enumerate(_candidates(text)):
        raw = _first_object(raw) or raw
        try:
            data = _repair(raw.strip())
        except ValueError:
            name = re.search(r'"name"\s*:\s*"([^"]+)"', raw)
            if name:
                calls.append(ToolCall(id=f"text_{index}", name=name.group(1), error="arguments are not valid JSON"))
            continue
        call = _to_call(data, index)
        if call is not None:
            calls.append(call)
    return calls
