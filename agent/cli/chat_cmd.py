"""`selftune chat "TEXT"`: one message through the same Router as Discord (for scripts and tests)."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import console, emit_json, settings_of
from agent.streaming import StreamedText
from config.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the `chat` command."""

    @app.command()
    def chat(
        ctx: typer.Context,
        text: str = typer.Argument("", help="The message, e.g. \"tune a pirate persona adapter\"."),
        audio: Path | None = typer.Option(None, "--audio", help="Send a voice message instead (Ogg Opus, WAV, MP3, ...)."),
        channel: str = typer.Option("cli", "--channel", help="Channel name (selects persona and session)."),
        user: str = typer.Option("local", "--user", help="Speak as this identity (e.g. discord:123) with the permission config grants it; "
                                "without --user you are the local user (auth.local_user_permission)."),
        as_json: bool = typer.Option(False, "--json", help="Print the reply, intent, args and job id as one JSON document."),
        memory: bool = typer.Option(True, "--memory/--no-memory", help="Log the exchange and recall earlier messages."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Confirm in advance: actions with lasting effects (forget, "
                                 "rollback, deletion, long jobs) run without asking; without it they ask, and a later "
                                 "`selftune chat yes` confirms."),
    ) -> None:
        """Send one message to the assistant and print its reply."""
        from agent.memory_hooks import router_with_memory
        from agent.router import Router
        from config.messages import Attachment, IncomingMessage
        from config.state import check_database

        if not text and audio is None:
            raise UsageError("Give the message TEXT or a voice message with --audio PATH.")
        attachments = [Attachment(filename=audio.name, path=audio)] if audio else []
        settings = settings_of(ctx)
        check_database(settings)  # memory hooks would only log a damaged database and answer anyway
        router, hooks = router_with_memory(settings) if memory else (Router(settings), None)
        streamed = None if as_json else StreamedText(_write)  # one JSON document: nothing printed before it
        try:
            reply = router.handle(IncomingMessage(transport="cli", channel=channel, user=user, text=text,
                                                  attachments=attachments, confirmed=yes), on_token=streamed)
        finally:
            if hooks is not None:
                hooks.close()
        if streamed is not None and streamed.started:
            _finish(streamed, reply.text)
        elif as_json:
            doc = {"reply": reply.text, "intent": reply.intent, "args": reply.args, "job_id": reply.job_id,
                   "transcript": reply.transcript, "ok": reply.ok}
            emit_json({**doc, "confirm": reply.confirm} if reply.confirm else doc)  # only while a yes is awaited
        else:
            console.print(reply.text, highlight=False, markup=False)
        raise typer.Exit(0 if reply.ok else 1)


def _write(piece: str) -> None:
    """Print a piece of a streamed answer at once (rich would wait for the whole line)."""
    console.file.write(piece)
    console.file.flush()


def _finish(streamed: StreamedText, final: str) -> None:
    """End a streamed answer: what the full reply adds to it, or the full reply when it differs."""
    rest = streamed.rest(final)
    _write((rest if rest is not None else "\n" + final) + "\n")
