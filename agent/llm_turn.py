"""One LLM turn with tools: bounded by max_steps and a time budget; model mistakes become observations.

Tools are offered only when the request names them (agent.tool_offer), so plain chat sends none.
Safety: tools are offered only up to the requester's permission. Trust follows the data: when the turn
starts with text the requester did not type (recalled memory, others' messages, replies quoting data) or once
any tool output is in the context, only skills that declare `effects: none` may run, whatever their
permission; a refused call is answered to the model and named in the reply, so text inside data can never
start an action on its own and the user learns that it tried.
A tool call runs only if its tool was offered in that step: a step that offered none (plain chat, a streamed
answer, a persona adapter's answer) drops every call, structured or printed as text, and logs it. A final
answer that claims an action when no skill ran is replaced by what the assistant can do (agent.claims), and
one the provider's loop guard cut is marked `degenerate`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.claims import claimed_action, honest_reply
from agent.dispatch import describe_result, intent_of, run_skill, untrusted_refusal
from agent.tool_offer import relevant_skills
from agent.toolcalls import parse_text_tool_calls, skill_name, tool_name, tools_schema
from config.errors import SelftuneError
from config.messages import Reply, ReplyKind
from config.repetition import strip_tool_syntax
from skills.context import SkillContext
from skills.providers.base import ChatResult, Provider, TokenSink, ToolCall
from skills.registry import SkillInfo, SkillRegistry

log = logging.getLogger(__name__)
MAX_OBSERVATION_CHARS = 4000
Gate = Callable[[str, dict[str, Any]], str | None]  # (skill, args) -> what it will do when it needs a yes, else None


@dataclass
class TurnLimits:
    """How far one turn may go."""

    max_steps: int = 4
    budget_s: float = 120.0
    max_tokens: int | None = None
    temperature: float = 0.0


@dataclass
class TurnState:
    """What happened so far in this turn."""

    untrusted: list[str] = field(default_factory=list)  # where text the requester did not type came from
    executed: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # skills with side effects asked for on untrusted text
    dropped: list[str] = field(default_factory=list)  # tool calls made where no such tool was offered
    degenerate: bool = False  # the provider cut the final answer at its first repeat
    proposed: tuple[str, dict[str, Any], str] | None = None  # (skill, args, what it will do): waits for the user's yes

    def taint(self, source: str) -> None:
        """Record that text from `source` (not the requester's) entered the context."""
        if source not in self.untrusted:
            self.untrusted.append(source)


class LLMTurn:
    """Runs the model, executes the tool calls it makes, and feeds results back until it answers in text."""

    def __init__(self, provider: Provider, registry: SkillRegistry, ctx: SkillContext, limits: TurnLimits,
                 gate: Gate | None = None, offer_tools: bool = True):
        self.provider = provider
        self.offer_tools = offer_tools  # False for a persona adapter's answer: it speaks, it never acts
        self.gate = gate  # says which calls need the user's yes first (agent.confirm); they are not run here
        self.registry = registry
        self.ctx = ctx
        self.limits = limits
        self.allowed = [s for s in registry.all() if ctx.requester.allows(s.permission)]
        self.known = {s.name for s in self.allowed}
        self.offered: list[SkillInfo] = []
        self.state = TurnState()

    def run(self, messages: list[dict[str, Any]], untrusted: list[str] | None = None,
            on_token: TokenSink | None = None) -> Reply:
        """Answer the conversation; raises ProviderUnavailable if the model cannot be reached.

        `untrusted` names where text in `messages` that the requester did not type came from. `on_token` hears
        a plain answer (a step offered no tools) as it is written; tool steps are not streamed.
        """
        deadline = time.monotonic() + self.limits.budget_s
        state = self.state = TurnState(untrusted=list(untrusted or []))
        self.offered = relevant_skills(_request(messages), self.allowed) if self.offer_tools else []
        for _ in range(self.limits.max_steps):
            if time.monotonic() > deadline:
                return self._reply("I ran out of time for this request; try something smaller.", state, "error")
            tools = self.tools(state)
            stream = {"on_token": on_token} if on_token is not None and not tools else {}
            result = self.provider.chat(messages, tools=tools or None, max_tokens=self.limits.max_tokens,
                                        temperature=self.limits.temperature, **stream)
            calls = self._calls(result, tools)
            if not calls:
                state.degenerate = result.degenerate
                return self._final(result.text, state)
            messages.append(_assistant_message(result, calls))
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": self._observe(call, state)})
            if state.proposed is not None:  # the user answers the confirmation question before anything else runs
                return self._reply(state.proposed[2], state, "question")
            state.taint("tool output")
        return self._reply(f"I stopped after {self.limits.max_steps} steps without a final answer.", state, "error")

    def tools(self, state: TurnState) -> list[dict[str, Any]]:
        """The tools offered now: the requester's that the request names, only effect-free ones on data."""
        return tools_schema([s for s in self.offered if s.effect_free or not state.untrusted])

    def _calls(self, result: ChatResult, tools: list[dict[str, Any]]) -> list[ToolCall]:
        """The calls that may run: those naming a tool offered in this step; the rest are dropped and logged."""
        # A tool step's call to a tool withheld because of data goes on, to be refused where the user learns of it.
        offered = {t["function"]["name"] for t in tools} | (
            {tool_name(s.name) for s in self.offered} if tools and self.state.untrusted else set())
        # Small models print calls as text; only a step that offered tools reads them.
        made = result.tool_calls or (parse_text_tool_calls(result.text) if tools else [])
        kept = [c for c in made if tool_name(skill_name(c.name, self.known) or c.name) in offered]
        for call in made:
            if call not in kept:
                log.warning("dropped a tool call to %r: it was not offered in this step", call.name)
                self.state.dropped.append(skill_name(call.name, self.known) or call.name)
        return kept

    def _final(self, text: str, state: TurnState) -> Reply:
        """The turn's final answer, without printed tool calls, and never claiming an action no skill ran."""
        answer = strip_tool_syntax(text)
        if answer != text.strip():  # a call printed in a step that offered no tools is text to drop, not an action
            printed = [skill_name(c.name, self.known) or c.name for c in parse_text_tool_calls(text)]
            log.warning("dropped tool calls printed in a plain answer: %s", printed)
            state.dropped.extend(printed or ["a printed tool call"])
        if not answer and state.dropped:
            answer = (f"I didn't run {', '.join(dict.fromkeys(state.dropped))}: no action was offered for this "
                      "message. If you want one, ask for it directly (say “help” for what I can do).")
            return self._reply(answer, state, "error")
        claim = claimed_action(answer) if not state.executed else None
        if claim is not None:
            log.warning("replaced a reply that claimed an action no skill ran (%s)", claim.verb)
            return self._reply(honest_reply(claim, self.registry), state, "error")
        if not answer:
            return self._reply("(the model gave no answer)", state, "error")
        return self._reply(answer, state, "degenerate" if state.degenerate else "chat")

    def _observe(self, call: ToolCall, state: TurnState) -> str:
        """Run one call and return what the model sees: the result or a one-line error."""
        name = skill_name(call.name, self.known)
        if name is None:
            return _error(f"there is no tool named '{call.name}' available to this user")
        if call.error:
            return _error(f"{call.error}; call {tool_name(name)} again with a JSON object of arguments")
        if state.untrusted and not self.registry.get(name).effect_free:
            state.refused.append(name)
            return _error(f"refused: {name} changes things, and this conversation holds text the user did not type "
                          f"({', '.join(state.untrusted)}); only the user can ask for it directly")
        if state.proposed is not None:
            return _error("not run: an earlier action of this turn waits for the user's confirmation")
        asked = self.gate(name, call.arguments) if self.gate is not None else None
        if asked:
            state.proposed = (name, call.arguments, asked)
            return _error(f"not run: {asked} The user must confirm it first.")
        try:
            result = run_skill(self.registry, name, call.arguments, self.ctx)
        except SelftuneError as exc:
            return _error(str(exc))
        state.executed.append((name, call.arguments, result))
        return json.dumps({"result": result}, default=str, ensure_ascii=False)[:MAX_OBSERVATION_CHARS]

    def _reply(self, text: str, state: TurnState, kind: ReplyKind) -> Reply:
        reply = self._answer(text, state, kind)
        if state.degenerate:  # what was kept is fit to show, but it looped: never a training target as it is
            reply = reply.model_copy(update={"args": {**reply.args, "degenerate": True}})
        if state.dropped:
            reply = reply.model_copy(update={"args": {**reply.args, "dropped": list(dict.fromkeys(state.dropped))}})
        if state.refused:  # the user must learn that something tried to act, and why it did not
            note = untrusted_refusal(self.registry, state.refused, state.untrusted)
            reply = reply.model_copy(update={"text": f"{reply.text}\n\n{note}",
                                             "args": {**reply.args, "refused": list(dict.fromkeys(state.refused))}})
        return reply

    def _answer(self, text: str, state: TurnState, kind: ReplyKind) -> Reply:
        """The turn's reply; only the model's own answer without tool results is logged as a `chat` answer."""
        if not state.executed:
            return Reply(text=text, intent="chat", kind=kind)
        name, args, result = state.executed[-1]
        intent = intent_of(self.registry, name)
        job_id = result.get("job_id") if isinstance(result, dict) else None
        if text.startswith("(the model"):
            text = describe_result(intent, result)
        return Reply(text=text, intent=intent, args={"skill": name, **args}, job_id=job_id,
                     kind="command" if kind in ("chat", "degenerate") else kind)


def _request(messages: list[dict[str, Any]]) -> str:
    """The requester's message this turn answers (the last user message)."""
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


def _assistant_message(result: ChatResult, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant", "content": result.text or None,
        "tool_calls": [{"id": c.id or f"call_{i}", "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for i, c in enumerate(calls)],
    }


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)
