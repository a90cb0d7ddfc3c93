"""The terminal transport: a rich REPL over the same Router as Discord."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.prompt import Confirm, Prompt

from agent.router import Router
from agent.streaming import StreamedText
from config.messages import Attachment, IncomingMessage, Reply
from config.settings import Settings

EXIT_WORDS = {"exit", "quit", ":q", "/exit", "/quit"}
WATCH_POLL_S = 1.0


class JobWatcher:
    """Waits in the background for the jobs started in this terminal and prints how each ended."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings, self.console = settings, console
        self.threads: list[threading.Thread] = []

    def watch(self, job_id: str) -> None:
        """Print one line when `job_id` ends (the REPL keeps taking messages meanwhile)."""
        thread = threading.Thread(target=self._wait, args=(job_id,), name=f"watch-{job_id}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _wait(self, job_id: str) -> None:
        from skills.jobs import JobManager
        from skills.jobs.format import ended_text

        manager = JobManager(self.settings)
        try:
            job = manager.get(job_id)  # get() also notices a supervisor that died, so a lost job ends too
            while not job.done:
                time.sleep(WATCH_POLL_S)
                job = manager.get(job_id)
        finally:
            manager.close()
        style = "green" if job.state == "succeeded" else "red" if job.state == "failed" else "yellow"
        self.console.print("\n" + ended_text(job), style=style, markup=False, highlight=False)


def run_console(router: Router, console: Console | None = None, channel: str = "console", user: str = "local") -> None:
    """Read lines until EOF or 'exit', answer each through the router."""
    console = console or Console()
    watcher = JobWatcher(router.settings, console)
    console.print("[bold]selftune[/] — type a message, 'help' for what I can do, '/voice FILE' to send a "
                  "voice message, 'exit' to leave.")
    while True:
        try:
            text = Prompt.ask("[cyan]you[/]", console=console)
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if text.strip().lower() in EXIT_WORDS:
            return
        if not text.strip():
            continue
        reply = _answer(console, router, _message(text, channel, user))
        if reply.confirm:  # an action with lasting effects waits: y/N, no by default
            yes = _ask_yes(console)
            reply = router.press(_message("yes" if yes else "no", channel, user), reply.confirm, yes)
            _show(console, reply)
        if reply.job_id:
            console.print(f"[dim]job {reply.job_id} started — ask 'how is my job doing?' to follow it; "
                          "I say here when it ends.[/]")
            watcher.watch(str(reply.job_id))


def _answer(console: Console, router: Router, message: IncomingMessage) -> Reply:
    """Ask the router under a spinner; a plain chat answer is printed word by word as the model writes it."""
    status = console.status("thinking…", spinner="dots")

    def show(piece: str) -> None:
        if not streamed.started:  # the first words end the spinner
            status.stop()
            console.print("[green]selftune[/]", end=" ")
        console.file.write(piece)
        console.file.flush()

    streamed = StreamedText(show)
    status.start()
    try:
        reply = router.handle(message, on_token=streamed)
    finally:
        status.stop()
    if not streamed.started:
        _show(console, reply)
        return reply
    rest = streamed.rest(reply.text)
    console.print(rest if rest is not None else "\n" + reply.text, highlight=False, markup=False)
    return reply


def _show(console: Console, reply: Reply) -> None:
    console.print("[green]selftune[/]", end=" ")
    console.print(Markdown(reply.text) if reply.intent == "help" else reply.text, highlight=False, markup=False)


def _ask_yes(console: Console) -> bool:
    """The terminal's y/N; end of input counts as no."""
    try:
        return Confirm.ask("[yellow]go ahead?[/] [dim](y/N)[/]", console=console, default=False, show_default=False,
                           show_choices=False)
    except (EOFError, KeyboardInterrupt):
        return False


def _message(line: str, channel: str, user: str) -> IncomingMessage:
    """A typed line, or '/voice FILE' as a voice message the router transcribes."""
    if line.startswith("/voice "):
        path = Path(line.removeprefix("/voice ").strip()).expanduser()
        return IncomingMessage(transport="console", channel=channel, user=user,
                               attachments=[Attachment(filename=path.name, path=path)])
    return IncomingMessage(transport="console", channel=channel, user=user, text=line)
