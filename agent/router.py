"""The Router: one entry point for every transport. (Minimal echo until the agent core lands.)"""

from __future__ import annotations

from agent.messages import IncomingMessage, Reply
from config.settings import Settings


class Router:
    """Takes a message, returns a reply."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def handle(self, message: IncomingMessage) -> Reply:
        """Answer one message."""
        return Reply(text=f"You said: {message.text}", intent="chat")
