"""What the owner's traffic says about skills: failed requests, the skill their rephrase reached, repeated sequences.

Read from the conversation log, consented channels only. An exchange is a person's message and the assistant's
first reply to it. Per person and channel, exchanges no further apart than `rephrase_window_s` form a chain that
ends when a skill ran (a command reply nobody rated 👎). The chain's last request that was not an answer to a
question is the one that reached the skill; what it resolves to (with the follow-up answered) is the action the
person ended up running. Earlier requests of the chain failed: a chat reply, an error, a declined "Did you mean",
a 👎 on a command. A chain's action followed directly by the same person's next action on a shared argument
(e.g. tune pirate -> eval pirate) forms a sequence; requests before it expected the whole sequence.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from improver.skill_replay import Action, ReplayItem, Resolve
from memory.consent import consented_list
from memory.log import iter_messages

ANSWERS = {"yes", "y", "yep", "yeah", "ok", "okay", "sure", "do it", "go", "go ahead", "no", "n", "nope", "cancel"}
SEQUENCE_GAP_S = 12 * 3600.0  # a follow-on action (eval after tune) may wait for a training run
MIN_REPEATS = 3  # a sequence seen this often is worth a composed skill
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]{3,}")
_COMMON = {"could", "would", "please", "with", "that", "this", "some", "from", "have", "what", "will", "make",
           "your", "mine", "about", "again", "just", "want", "need", "them", "then", "there", "thanks"}


class Exchange(BaseModel):
    """A person's message and how the assistant answered it."""

    author: str
    channel: str
    text: str
    ts: float
    reply_kind: str | None = None
    thumbs_down: bool = False

    @property
    def ran(self) -> bool:
        """A skill ran and nobody rated the result 👎."""
        return self.reply_kind == "command" and not self.thumbs_down

    @property
    def asked(self) -> bool:
        """The reply was a question: a follow-up, a confirmation or "Did you mean"."""
        return self.reply_kind == "question"


class Chain(BaseModel):
    """Failed requests, the request that reached a skill, and the action(s) the person ran."""

    author: str
    channel: str
    failed: list[str] = Field(default_factory=list)
    reached: str
    action: Action
    then: list[Action] = Field(default_factory=list, description="Actions that directly followed on a shared argument.")
    follows: bool = Field(False, description="This chain's action directly followed an earlier one.")
    ts: float

    @property
    def actions(self) -> list[Action]:
        """Everything the person ran from this chain on."""
        return [self.action, *self.then]


class Traffic(BaseModel):
    """The mined log: chains that ended in a skill, and requests answered by chat that nobody rephrased."""

    chains: list[Chain] = Field(default_factory=list)
    chat: list[str] = Field(default_factory=list)

    def items(self) -> list[ReplayItem]:
        """Every request to replay, with what it should reach."""
        items = [ReplayItem(text=t, actions=c.actions) for c in self.chains for t in (*c.failed, c.reached)]
        return items + [ReplayItem(text=t) for t in self.chat]

    def sequences(self) -> Counter[tuple[str, ...]]:
        """How often each multi-step sequence of skills was run, counted from where it started."""
        return Counter(tuple(a.skill for a in c.actions) for c in self.chains if c.then and not c.follows)


def open_log(db_path: Path | None) -> sqlite3.Connection | None:
    """selftune.db read-only, or None when there is none yet."""
    if db_path is None or not db_path.is_file():
        return None
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def read_exchanges(conn: sqlite3.Connection, days: float) -> list[Exchange]:
    """Exchanges of the last `days` in consented channels, oldest first."""
    since = datetime.now(UTC) - timedelta(days=days)
    try:
        down = {r[0] for r in conn.execute("SELECT message_id FROM feedback WHERE rating = -1")}
        channels = consented_list(conn)
    except sqlite3.OperationalError:  # a log without these tables holds no consented traffic
        return []
    found: list[Exchange] = []
    for channel in channels:
        messages = [m for m in iter_messages(conn, channel=channel) if _aware(m.created_at) >= since]
        replies: dict[str, tuple[str | None, str]] = {}
        for m in messages:
            if m.role == "assistant" and m.reply_to and m.kind != "progress" and m.reply_to not in replies:
                replies[m.reply_to] = (m.kind, m.id)
        for m in messages:
            if m.role == "user":
                kind, reply_id = replies.get(m.id, (None, ""))
                found.append(Exchange(author=m.author, channel=channel, text=m.text, ts=m.ts, reply_kind=kind,
                                      thumbs_down=reply_id in down))
    return sorted(found, key=lambda e: e.ts)


def load_traffic(db_path: Path | None, days: float, window_s: float, resolve: Resolve) -> Traffic:
    """The last `days` of consented traffic, mined with `resolve` (empty when there is no log yet)."""
    conn = open_log(db_path)
    if conn is None:
        return Traffic()
    try:
        exchanges = read_exchanges(conn, days)
    finally:
        conn.close()
    return mine(exchanges, resolve, window_s)


def replay_items(db_path: Path | None, days: float, window_s: float, resolve: Resolve) -> list[ReplayItem]:
    """The logged requests to replay, each with what the person ended up running (resolved with `resolve`)."""
    return load_traffic(db_path, days, window_s, resolve).items()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def mine(exchanges: list[Exchange], resolve: Resolve, window_s: float) -> Traffic:
    """Chains per person and channel, linked into sequences; unrephrased chat requests kept apart."""
    traffic = Traffic()
    by_person: dict[tuple[str, str], list[Exchange]] = {}
    for ex in exchanges:
        by_person.setdefault((ex.channel, ex.author), []).append(ex)
    for run in by_person.values():
        chains = _chains(run, resolve, window_s, traffic.chat)
        _link(chains)
        traffic.chains.extend(chains)
    return traffic


def _chains(run: list[Exchange], resolve: Resolve, window_s: float, chat: list[str]) -> list[Chain]:
    chains: list[Chain] = []
    current: list[Exchange] = []
    for ex in run:
        if current and ex.ts - current[-1].ts > window_s:
            chat.extend(_unanswered_chat(current))
            current = []
        current.append(ex)
        if ex.ran:
            chain = _close(current, resolve)
            if chain is not None:
                chains.append(chain)
            current = []
    chat.extend(_unanswered_chat(current))
    return chains


def _is_answer(chain: list[Exchange], i: int) -> bool:
    return (i > 0 and chain[i - 1].asked) or chain[i].text.strip().lower().rstrip("!.") in ANSWERS


def _unanswered_chat(chain: list[Exchange]) -> list[str]:
    return [ex.text for i, ex in enumerate(chain) if ex.reply_kind == "chat" and not _is_answer(chain, i)]


def _close(chain: list[Exchange], resolve: Resolve) -> Chain | None:
    """The chain's action: its last request resolved, a follow-up filled from the answer that came next."""
    requests = [i for i in range(len(chain)) if not _is_answer(chain, i)]
    if not requests:
        return None
    reached = chain[requests[-1]]
    resolution = resolve(reached.text)
    if resolution.skill is None:  # reached some other way (e.g. the model's tool call): nothing to learn here
        return None
    args = dict(resolution.args)
    answers = [ex.text for ex in chain[requests[-1] + 1:] if ex.text.strip().lower() not in ANSWERS]
    if resolution.asks and answers:
        args[resolution.asks] = answers[0].strip()
    action = Action(skill=resolution.skill, args=args)
    failed = [chain[i].text for i in requests[:-1] if _related(chain[i].text, reached.text, action)]
    return Chain(author=reached.author, channel=reached.channel, failed=failed, reached=reached.text, action=action,
                 ts=chain[-1].ts)


def _related(failed: str, reached: str, action: Action) -> bool:
    """A failed request counts as a phrasing of the action only if it names one of its values or shares a word
    with the request that worked: two unrelated questions asked in a row are not a rephrase."""
    low = failed.lower()
    if any(str(v).lower() in low for v in action.args.values() if isinstance(v, str) and len(v) > 1):
        return True
    return bool((set(_WORD.findall(low)) & set(_WORD.findall(reached.lower()))) - _COMMON)


def _link(chains: list[Chain]) -> None:
    """Give each chain the actions that directly followed it: no failed request between, soon, a shared value,
    a skill not in the sequence yet (running the first one again starts the next repetition). Greedy from the
    oldest: an action that continues a sequence does not start one of its own."""
    for i, chain in enumerate(chains):
        if chain.follows:
            continue
        last = chain
        for nxt in chains[i + 1:i + 3]:
            if (nxt.failed or nxt.ts - last.ts > SEQUENCE_GAP_S or not _shares_value(last.action, nxt.action)
                    or nxt.action.skill in {a.skill for a in chain.actions}):
                break
            chain.then.append(nxt.action)
            nxt.follows, last = True, nxt


def _shares_value(a: Action, b: Action) -> bool:
    values = {str(v) for k, v in a.args.items() if v not in (None, "") and k != "channel"}
    return any(str(v) in values for k, v in b.args.items() if v not in (None, "") and k != "channel")
