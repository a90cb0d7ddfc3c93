"""The terminal transport: a rich REPL over the same Router as Discord."""

from __future__ import annotations

from rich.console import Console
from rich.prompt import Prompt

from agent.messages import IncomingMessage
from agent.router import Router

EXIT_WORDS = {"exit", "quit", ":q", "/exit", "/quit"}


def run_console(router: Router, console: Console | None = None, channel: str = "console") -> None:
    """Read lines until EOF or 'exit', answer each through the router."""
    console = console or Console()
    console.print("[bold]selftune[/] — type a message, 'help' for what I can do, 'exit' to leave.")
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
        reply = router.handle(IncomingMessage(transport="console", channel=channel, text=text))
        console.print(f"[green]selftune[/] {reply.text}", highlight=False)
