"""One LLM turn with tools: bounded by max_steps and a time budget; model mistakes become observations.

Safety: tools are offered only up to the requester's permission, and once any tool output (data) is in
the context, only read-only tools may run, so text inside data can never start an action on its own.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from agent.dispatch import SKILL_INTENTS, describe_result, run_skill
from agent.toolcalls import parse_text_tool_calls, skill_name, tool_name, tools_schema
from config.errors import SelftuneError
from config.messages import Reply, ReplyKind
from skills.context import SkillContext
from skills.providers.base import ChatResult, Provider, ToolCall
from skills.registry import SkillRegistry

MAX_OBSERVATION_CHARS = 4000


@dataclass
class TurnLimits:
    """How far one turn may go."""

    max_steps: int = 4
    budget_s: float = 120.0
    max_tokens: int | None = None


@dataclass
class TurnState:
    """What happened so far in this turn."""

    tainted: bool = False  # tool output (untrusted data) is in the context
    executed: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)


class LLMTurn:
    """Runs the model, executes the tool calls it makes, and feeds results back until it answers in text."""

    def __init__(self, provider: Provider, registry: SkillRegistry, ctx: SkillContext, limits: TurnLimits):
        self.provider = provider
        self.registry = registry
        self.ctx = ctx
        self.limits = limits
        allowed = [s for s in registry.all() if ctx.requester.allows(s.permission)]
        self.tools = tools_schema(allowed)
        self.known = {s.name for s in allowed}

    def run(self, messages: list[dict[str, Any]]) -> Reply:
        """Answer the conversation; raises ProviderUnavailable if the model cannot be reached."""
        deadline = time.monotonic() + self.limits.budget_s
        state = TurnState()
        for _ in range(self.limits.max_steps):
            if time.monotonic() > deadline:
                return self._reply("I ran out of time for this request; try something smaller.", state, "error")
            result = self.provider.chat(messages, tools=self.tools or None, max_tokens=self.limits.max_tokens)
            calls = self._calls(result)
            if not calls:
                answer = result.text.strip()
                return self._reply(answer or "(the model gave no answer)", state, "chat" if answer else "error")
            messages.append(_assistant_message(result, calls))
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": self._observe(call, state)})
            state.tainted = True
        return self._reply(f"I stopped after {self.limits.max_steps} steps without a final answer.", state, "error")

    def _calls(self, result: ChatResult) -> list[ToolCall]:
        if result.tool_calls or not self.tools:
            return result.tool_calls
        # Small models print calls as text; only names of offered tools count as calls.
        return [c for c in parse_text_tool_calls(result.text) if skill_name(c.name, self.known)]

    def _observe(self, call: ToolCall, state: TurnState) -> str:
        """Run one call and return what the model sees: the result or a one-line error."""
        name = skill_name(call.name, self.known)
        if name is None:
            return _error(f"there is no tool named '{call.name}' available to this user")
        if call.error:
            return _error(f"{call.error}; call {tool_name(name)} again with a JSON object of arguments")
        if state.tainted and self.registry.get(name).permission != "read":
            return _error(f"refused: {name} changes things and may only be requested by the user, not by tool output")
        try:
            result = run_skill(self.registry, name, call.arguments, self.ctx)
        except SelftuneError as exc:
            return _error(str(exc))
        state.executed.append((name, call.arguments, result))
        return json.dumps({"result": result}, default=str, ensure_ascii=False)[:MAX_OBSERVATION_CHARS]

    def _reply(self, text: str, state: TurnState, kind: ReplyKind) -> Reply:
        """The turn's reply; only the model's own answer without tool results is logged as a `chat` answer."""
        if not state.executed:
            return Reply(text=text, intent="chat", kind=kind)
        name, args, result = state.executed[-1]
        intent = SKILL_INTENTS.get(name, "chat")
        job_id = result.get("job_id") if isinstance(result, dict) else None
        if text.startswith("(the model"):
            text = describe_result(intent, result)
        return Reply(text=text, intent=intent, args={"skill": name, **args}, job_id=job_id,
                     kind="command" if kind == "chat" else kind)


def _assistant_message(result: ChatResult, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant", "content": result.text or None,
        "tool_calls": [{"id": c.id or f"call_{i}", "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for i, c in enumerate(calls)],
    }


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)
