"""`selftune memory ...` (search, forget, reindex, collect) and `selftune dataset build` (harvest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from agent.cli.common import console, emit_json, err_console, new_typer, settings_of
from config.errors import UsageError

memory_app = new_typer(
    "The assistant's conversation memory: search it, forget from it (log and index alike), rebuild its index, "
    "and choose which channels may become training data."
)
JSON_HELP = "Print one JSON document on stdout."


def register(app: typer.Typer) -> None:
    """Add the `memory` group and `dataset build`."""
    app.add_typer(memory_app, name="memory")
    from agent.cli.dataset_cmd import dataset_app

    dataset_app.command("build")(build_cmd)
    app.command("feedback")(feedback_cmd)


def feedback_cmd(
    ctx: typer.Context,
    rating: str = typer.Argument(..., help="up or down (also 👍/👎, +1/-1)."),
    message_id: Optional[str] = typer.Argument(None, help="The answer's message id; default: the last answer in --channel."),  # noqa: UP045
    channel: str = typer.Option("cli", "--channel", help="Channel whose last answer is rated when no id is given."),
    user: str = typer.Option("local", "--user", help="Who gives the feedback."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rate an answer 👍/👎, as a Discord reaction does: the nightly retrain learns from it (DPO/KTO)."""
    from config.errors import NotFound
    from memory.store import open_memory

    with open_memory(settings_of(ctx)) as memory:
        answer = memory.get_message(message_id) if message_id else memory.last_answer(channel)
        if answer is None:
            where = f"message {message_id}" if message_id else f"an answer in channel {channel}"
            raise NotFound(f"There is no {where} in memory; pass the id of an assistant answer.")
        memory.feedback(answer.id, user, rating)
    up = rating.strip().lower() in ("up", "+1", "1", "👍")
    if as_json:
        emit_json({"message_id": answer.id, "channel": answer.channel, "rating": 1 if up else -1})
        return
    console.print(f"Recorded {'👍' if up else '👎'} on {answer.id}: \"{answer.text[:60]}\"", highlight=False, markup=False)



@memory_app.command("search")
def search_cmd(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for, in plain words (matched by meaning)."),
    channel: Optional[str] = typer.Option(None, "--channel", "-c", help="Only this channel."),  # noqa: UP045
    user: Optional[str] = typer.Option(None, "--user", "-u", help="Only this author."),  # noqa: UP045
    k: int = typer.Option(4, "--k", "-k", min=1, max=50, help="How many messages to return."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Find past messages closest in meaning to QUERY, shown verbatim with who said them, where and when."""
    from memory.store import open_memory

    with err_console.status("Searching memory"), open_memory(settings_of(ctx)) as memory:
        hits = memory.recall(query, channel=channel, k=k, user=user)
    if as_json:
        emit_json({"query": query, "channel": channel, "hits": [h.model_dump(mode="json") for h in hits]})
        return
    if not hits:
        console.print("Nothing in memory matches that.")
        return
    table = Table("when", "channel", "who", "message", "distance")
    for h in hits:
        table.add_row(h.created_at.strftime("%Y-%m-%d %H:%M"), h.channel, h.author, h.text, f"{h.distance:.2f}")
    console.print(table)


@memory_app.command("forget")
def forget_cmd(
    ctx: typer.Context,
    user: Optional[str] = typer.Option(None, "--user", "-u", help="Forget everything this author said."),  # noqa: UP045
    channel: Optional[str] = typer.Option(None, "--channel", "-c", help="Forget a whole channel."),  # noqa: UP045
    before: Optional[str] = typer.Option(None, "--before", help="Forget messages older than this date (ISO)."),  # noqa: UP045
    expired: bool = typer.Option(False, "--expired", help="Apply the retention policy (memory.retention_days)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Erase messages from the log AND the recall index for good. Options combine (user AND channel AND date)."""
    from memory.forget import parse_before
    from memory.store import open_memory
    from skills.dataset.provenance import clean_forgotten

    settings = settings_of(ctx)
    if expired and settings.memory.retention_days is None:
        raise UsageError("No retention policy is set; add memory.retention_days to selftune.toml first.")
    with open_memory(settings) as memory:
        if expired:
            result = memory.forget(before=datetime.now(UTC) - timedelta(days=settings.memory.retention_days or 0))
        else:
            result = memory.forget(user=user, channel=channel, before=parse_before(before))
    derived = clean_forgotten(settings)  # the rows built from them (and earlier forgets), and who trained on them
    if as_json:
        emit_json({**result.model_dump(mode="json"), "datasets": derived.model_dump(mode="json")})
    else:
        console.print(f"Forgot {result.messages} message(s) and {result.feedback} feedback vote(s). They no longer "
                      "appear anywhere; run `selftune memory reindex` to also purge Chroma's internal log on disk. "
                      f"{derived.sentence()}".strip(), soft_wrap=True)


@memory_app.command("reindex")
def reindex_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Rebuild the recall index (Chroma) from the conversation log, e.g. after it was lost or damaged."""
    from rich.progress import Progress

    from memory.store import open_memory

    with Progress(console=err_console, transient=True) as progress, open_memory(settings_of(ctx)) as memory:
        task = progress.add_task("Re-embedding messages", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, advance=done, total=total)

        count = memory.reindex(progress=advance)
    if as_json:
        emit_json({"indexed": count})
    else:
        console.print(f"Rebuilt the recall index from the log: {count} message(s).")


@memory_app.command("collect")
def collect_cmd(
    ctx: typer.Context,
    channel: str = typer.Argument(..., help="Channel id (as the transport names it)."),
    on: Optional[bool] = typer.Option(None, "--on/--off", help="Allow or stop harvesting; omit to show the state."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show or change whether CHANNEL's conversations may become training data (who and when are recorded)."""
    from memory.consent import consent_history
    from memory.store import open_memory

    with open_memory(settings_of(ctx)) as memory:
        if on is not None:
            memory.set_consent(channel, on, "cli:local")
        history = consent_history(memory.conn, channel)
    enabled = bool(history and history[-1].enabled)
    if as_json:
        emit_json({"channel": channel, "enabled": enabled, "history": [h.model_dump(mode="json") for h in history]})
        return
    last = f" (set by {history[-1].changed_by} at {history[-1].changed_at:%Y-%m-%d %H:%M} UTC)" if history else ""
    console.print(f"Collection is {'on' if enabled else 'off'} for {channel}{last}.")


def build_cmd(
    ctx: typer.Context,
    source: str = typer.Option(..., "--from", help="What to harvest: channel:ID."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output JSONL (default: artifacts/datasets/)."),  # noqa: UP045
    persona: Optional[str] = typer.Option(None, "--persona", "-p", help="Put this persona's system prompt in every row."),  # noqa: UP045
    full: bool = typer.Option(False, "--full", help="Use the whole history, not only what is new since the last build."),
    min_score: Optional[float] = typer.Option(  # noqa: UP045
        None, "--min-score", help="Score the rows with the configured judge and keep those scoring at least this (1-5)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Harvest a consented channel into a messages dataset (scrubbed, deduplicated, message ids in the manifest)."""
    from memory.store import open_memory
    from skills.dataset.harvest import harvest_channel
    from skills.dataset.score import score_gate

    kind, _, channel = source.partition(":")
    if kind != "channel" or not channel:
        raise UsageError(f"--from must look like channel:ID, not '{source}'.")
    settings = settings_of(ctx)
    with err_console.status(f"Harvesting {source}"), open_memory(settings) as memory:
        result = harvest_channel(memory, channel, out=out, persona=persona, incremental=not full,
                                 gate=score_gate(settings, min_score, persona))
    left_out = ", ".join(f"{n} {reason}" for reason, n in result.skipped.items() if n) or "none"
    if as_json:
        emit_json(result.model_dump(mode="json"))
    elif result.path is None:
        console.print(f"Nothing new to harvest from {source} since the last build "
                      f"(answers left out: {left_out}).", soft_wrap=True)
    else:
        console.print(f"Wrote {result.rows} persona answer(s) to {result.path}; answers left out: {left_out}; "
                      f"manifest {result.manifest}.", soft_wrap=True)
