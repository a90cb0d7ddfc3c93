"""Feedback → preference data: 👍/👎 on assistant answers as DPO pairs (chosen/rejected) or KTO rows, per persona.

A DPO pair needs two answers to the same prompt (e.g. after "try again"), one liked and one disliked;
every rated answer also gives a KTO row (messages + label). Consent rules are the harvest's, and so is
what counts as an answer: only persona answers (kind `chat`); a 👎 on help text or an error is not style.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from config.scrub import scrub
from memory.harvest import allowed, consent_windows
from memory.log import LoggedMessage, get_messages


def _rated_answers(conn: sqlite3.Connection, persona: str | None) -> list[tuple[str, int]]:
    """(answer id, net score) for every rated assistant message (of one persona, if given)."""
    sql = ("SELECT m.id, SUM(f.rating) FROM feedback f JOIN messages m ON m.id = f.message_id"
           " WHERE m.role = 'assistant' AND m.kind = 'chat' AND m.reply_to IS NOT NULL" + (" AND m.persona = ?" if persona else "")
           + " GROUP BY m.id HAVING SUM(f.rating) != 0 ORDER BY m.seq")
    return [(r[0], r[1]) for r in conn.execute(sql, (persona,) if persona else ())]


def _consented(conn: sqlite3.Connection, messages: list[LoggedMessage], cache: dict[str, list]) -> bool:
    for msg in messages:
        windows = cache.setdefault(msg.channel, consent_windows(conn, msg.channel))
        if not allowed(msg, windows):
            return False
    return True


def preference_rows(conn: sqlite3.Connection, *, persona: str | None = None, kind: str = "dpo") -> list[dict[str, Any]]:
    """DPO rows {prompt, chosen, rejected, message_ids} or KTO rows {messages, label, message_ids}."""
    rated = _rated_answers(conn, persona)
    answers = get_messages(conn, [a for a, _ in rated])
    prompts = get_messages(conn, [m.reply_to for m in answers.values() if m.reply_to])
    by_prompt: dict[str, list[tuple[LoggedMessage, int]]] = {}
    cache: dict[str, list] = {}
    for answer_id, score in rated:
        answer = answers[answer_id]
        prompt = prompts.get(answer.reply_to or "")
        if prompt is not None and _consented(conn, [prompt, answer], cache):
            by_prompt.setdefault(prompt.id, []).append((answer, score))
    rows: list[dict[str, Any]] = []
    for prompt_id, scored in by_prompt.items():
        user = [{"role": "user", "content": scrub(prompts[prompt_id].text)}]
        if kind == "kto":
            rows += [{"messages": user + [_assistant(a)], "label": s > 0, "message_ids": [prompt_id, a.id]}
                     for a, s in scored]
            continue
        best, worst = max(scored, key=lambda p: p[1]), min(scored, key=lambda p: p[1])
        if best[1] > 0 > worst[1]:
            rows.append({"prompt": user, "chosen": [_assistant(best[0])], "rejected": [_assistant(worst[0])],
                         "message_ids": [prompt_id, best[0].id, worst[0].id]})
    return rows


def _assistant(msg: LoggedMessage) -> dict[str, str]:
    return {"role": "assistant", "content": scrub(msg.text)}


def rated_answers(conn: sqlite3.Connection, persona: str, since: float = 0.0,
                  until: float = float("inf")) -> list[tuple[str | None, bool]]:
    """(adapter that wrote it, liked) for each rated chat answer of `persona` logged in [since, until) (unix
    seconds), oldest first: liked when its 👍 outnumber its 👎 (net rating); a tie says nothing and is left out."""
    rows = conn.execute(
        "SELECT m.adapter, SUM(f.rating) FROM feedback f JOIN messages m ON m.id = f.message_id WHERE m.role = "
        "'assistant' AND m.kind = 'chat' AND m.persona = ? AND m.ts >= ? AND m.ts < ? GROUP BY m.id"
        " HAVING SUM(f.rating) != 0 ORDER BY m.seq", (persona, since, until))
    return [(adapter, net > 0) for adapter, net in rows]


def adapter_ratings(conn: sqlite3.Connection, persona: str, adapter: str) -> list[bool]:
    """Whether each rated answer `adapter` wrote for `persona` was liked or not, oldest first: the adapter's 👍
    record in real use."""
    return [liked for writer, liked in rated_answers(conn, persona) if writer == adapter]
