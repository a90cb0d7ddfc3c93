"""LLM-written edits: a new persona system prompt from the configured chat provider.

The provider sees the current card, the style markers it is graded on and the journal of past attempts
for this target (verdict, reason, what was tried), so it does not repeat rejected ideas. It never sees the
held-out prompts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomlkit

from config.settings import Settings
from config.workspace import open_workspace
from improver.journal import JournalEntry
from improver.proposals import Draft, rationale_of
from skills.personas import load_persona

PROMPT = (Path(__file__).parent / "prompts" / "llm_edit.md").read_text(encoding="utf-8")
MAX_PROMPT_CHARS = 800
_TAGGED = re.compile(r"<prompt>(.*?)(?:</prompt>|$)", re.S | re.I)


class LLMEditGenerator:
    """Proposes persona system prompts written by an LLM provider."""

    name = "llm-edit"

    def __init__(self, settings: Settings, provider: Any | None = None) -> None:
        self.settings = settings
        self._provider = provider

    @property
    def provider(self) -> Any:
        """The chat provider (built on first use from settings.llm)."""
        if self._provider is None:
            from skills.providers import get_provider

            self._provider = get_provider(self.settings)
        return self._provider

    def propose(self, target: str, history: list[JournalEntry]) -> Draft | None:
        """A new system prompt for persona:<name>, or None when the model offers nothing new."""
        kind, _, name = target.partition(":")
        if kind != "persona":
            return None
        ws = open_workspace(self.settings)
        card = load_persona(ws.path, name)
        tried = [rationale_of(self.settings, e.proposal_id) for e in history if e.proposal_id]
        reply = self.provider.chat(_messages(card, history, tried), temperature=0.8, max_tokens=200).text
        new_prompt = extract_prompt(reply)
        if not new_prompt or new_prompt == card.system_prompt or any(new_prompt in t for t in tried):
            return None
        rel = f"personas/{name}.toml"
        text = replace_system_prompt(ws.read(rel), new_prompt)
        return Draft(target=target, changes={rel: text}, rationale=f"Tried system prompt: {new_prompt}\n\n{reply}",
                     generator=self.name)

    def feedback(self, proposal: Any, verdict: Any) -> None:
        """Nothing to learn in-process: the journal carries the history."""


def _messages(card: Any, history: list[JournalEntry], tried: list[str]) -> list[dict[str, str]]:
    lines = [f"Persona: {card.name} — {card.description}", f"Markers: {', '.join(card.style.any_of)}",
             f"Current system prompt: {card.system_prompt}", "Past attempts:"]
    for entry, rationale in zip(history[-8:], tried[-8:], strict=False):
        lines.append(f"- {entry.verdict} ({entry.reason}): {rationale.splitlines()[0][:300]}")
    if not history:
        lines.append("- none yet")
    return [{"role": "system", "content": PROMPT}, {"role": "user", "content": "\n".join(lines)}]


def extract_prompt(reply: str) -> str:
    """The text between <prompt> tags, else the reply's first paragraph; trimmed and capped."""
    match = _TAGGED.search(reply)
    text = match.group(1) if match else reply.strip().split("\n\n")[0]
    return " ".join(text.split())[:MAX_PROMPT_CHARS].strip()


def replace_system_prompt(card_text: str, new_prompt: str) -> str:
    """The card with a new system_prompt, set through tomlkit so comments and order are kept."""
    doc = tomlkit.parse(card_text)
    doc["system_prompt"] = new_prompt
    return tomlkit.dumps(doc)
