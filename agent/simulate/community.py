"""The simulated community: users who chat with a persona through the Router as Discord members would, and
react 👍/👎 by a hidden rule of their own (the loop never reads it; it only sees their reactions).

The conversation set (`data/<persona>/conversations.jsonl`) is what users ask; the hidden holdout beside it is
read only by `agent.simulate.measure`.
"""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import NotFound
from config.messages import IncomingMessage
from config.names import check_name

DATA = Path(__file__).with_name("data")


@dataclass(frozen=True)
class HiddenRule:
    """What the simulated users like: a style marker present, and an answer of min_words to max_words words
    (long enough to say something, short enough to read on a phone) that does not go round in circles."""

    markers: tuple[str, ...]
    max_words: int
    min_words: int = 1
    min_distinct: float = 0.0  # share of distinct words: "aye, aye, aye, aye..." says nothing either

    def likes(self, text: str) -> bool:
        """Whether a user of this community gives the answer a 👍."""
        low = text.lower()
        words = [w.strip(".,!?;:'\"") for w in low.split()]
        distinct = len(set(words)) / len(words) if words else 0.0
        return (any(m in low for m in self.markers) and self.min_words <= len(words) <= self.max_words
                and distinct >= self.min_distinct)


@dataclass(frozen=True)
class Community:
    """A persona's simulated community: its prompts, hidden rule and the poisoner's prompts."""

    persona: str
    prompts: list[str]
    rule: HiddenRule
    poison_prompts: list[str] = field(default_factory=list)


def persona_data(persona: str) -> Path:
    """The folder of a persona's simulation data; a clear error when the simulation has none."""
    folder = DATA / check_name(persona, "persona")  # a name, never a path out of the data folder
    if not (folder / "community.toml").is_file():
        have = ", ".join(sorted(p.name for p in DATA.iterdir() if p.is_dir()))
        raise NotFound(f"There is no simulated community for persona '{persona}'; use one of: {have}.")
    return folder


def load_community(persona: str) -> Community:
    """The community of a persona (conversation prompts, hidden rule, poison prompts)."""
    folder = persona_data(persona)
    card = tomllib.loads((folder / "community.toml").read_text(encoding="utf-8"))
    prompts = [json.loads(line)["prompt"] for line in
               (folder / "conversations.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    hidden = card["hidden_rule"]
    rule = HiddenRule(markers=tuple(hidden["markers"]), max_words=int(hidden["max_words"]),
                      min_words=int(hidden.get("min_words", 1)), min_distinct=float(hidden.get("min_distinct", 0.0)))
    return Community(persona=persona, prompts=prompts, rule=rule, poison_prompts=list(card["poison"]["prompts"]))


@dataclass
class DayStats:
    """What a simulated day of chat produced."""

    messages: int = 0
    up: int = 0
    down: int = 0
    errors: int = 0
    poisoned: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts for the report."""
        return {"messages": self.messages, "up": self.up, "down": self.down, "errors": self.errors,
                "poisoned": self.poisoned}


class Chatroom:
    """One Discord-like channel bound to the persona: users talk through the Router, memory logs, reactions rate."""

    def __init__(self, router: Any, memory: Any, channel: str, community: Community, seed: int = 0) -> None:
        self.router, self.memory, self.channel, self.community = router, memory, channel, community
        self.rng = random.Random(seed)
        self._count = 0

    def say(self, user: str, text: str) -> Any:
        """Send one message as a Discord member would; returns the Router's reply."""
        self._count += 1
        msg = IncomingMessage(transport="discord", channel=self.channel, user=user, text=text,
                              message_id=f"sim-{self._count}")
        return self.router.handle(msg)

    def rate_last(self, user: str, liked: bool) -> None:
        """A 👍 or 👎 reaction on the answer just given (stored as Discord's feedback cog stores it)."""
        answer = self.memory.last_answer(self.channel)
        if answer is not None:
            self.memory.feedback(answer.id, user, "👍" if liked else "👎")

    def day(self, users: int, per_user: int, poisoner: bool = False) -> DayStats:
        """Each user asks `per_user` prompts and reacts by the hidden rule; a poisoner floods off-persona."""
        stats = DayStats()
        for u in range(users):
            for _ in range(per_user):
                self._exchange(f"discord:sim-user-{u + 1}", self.rng.choice(self.community.prompts), stats)
        if poisoner:
            for i in range(users * per_user):  # the flood: as many messages as the whole community sent
                prompt = self.community.poison_prompts[i % len(self.community.poison_prompts)]
                self._exchange("discord:sim-poisoner", prompt, stats, inverted=True)
        return stats

    def _exchange(self, user: str, prompt: str, stats: DayStats, inverted: bool = False) -> None:
        reply = self.say(user, prompt)
        stats.messages += 1
        if reply.kind != "chat":  # an error or a command reply is no persona answer to react to
            stats.errors += 1
            return
        liked = self.community.rule.likes(reply.text)
        liked = (not liked) if inverted else liked  # the poisoner likes exactly what the community dislikes
        self.rate_last(user, liked)
        stats.poisoned += int(inverted)
        stats.up += int(liked)
        stats.down += int(not liked)
