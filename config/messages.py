"""Transport-neutral message and reply models: what every transport hands to the Router and gets back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field


class Attachment(BaseModel):
    """A file that came with a message (dataset upload, voice message)."""

    filename: str
    path: Path
    content_type: str | None = None
    size: int = 0


class Request(BaseModel):
    """What a slash command or button asks for, already understood: an intent and its arguments (the router
    picks the skill by the intent's declarations, exactly as for typed text, with nothing re-parsed)."""

    intent: str
    args: dict[str, Any] = Field(default_factory=dict)


class IncomingMessage(BaseModel):
    """One message from a person, whatever the transport."""

    transport: str = "console"  # console | cli | discord | voice | mcp
    channel: str = "console"
    user: str = "local"
    text: str = ""
    roles: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    message_id: str | None = None
    reply_to: str | None = None
    confirmed: bool = False  # the sender already said yes to any action with lasting effects (`selftune chat --yes`)
    spoken: bool = False  # text is a transcript of the sender's voice note (Whisper may have misheard a command)
    request: Request | None = None  # set by slash commands and buttons; `text` then only shows what was asked
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


ReplyKind = Literal["chat", "command", "question", "error", "help", "progress", "degenerate"]
"""What an assistant message is, for the conversation log: only `chat` (a persona's answer) is ever learned from;
`degenerate` is a chat answer the loop guard cut (shown, never learned)."""


class Reply(BaseModel):
    """What the assistant answers: text plus what it understood and anything it started."""

    text: str
    intent: str = "chat"
    args: dict[str, Any] = Field(default_factory=dict)
    attachments: list[Path] = Field(default_factory=list)
    job_id: str | None = None  # set when the reply started long work the transport should follow
    transcript: str | None = None  # what was heard, for voice messages
    confirm: str | None = None  # token of an action waiting for the sender's yes (transports offer buttons for it)
    ok: bool = True  # False when the request failed (the text says why); intent still says what was understood
    # chat: the model's own answer to a chat turn; question: a follow-up asking for a missing value.
    # None: derived from intent and ok by reply_kind() (never chat, so unlabelled text is never learned).
    kind: ReplyKind | None = None


def reply_kind(reply: Reply) -> ReplyKind:
    """The kind a reply is logged as: its own label, else error/help/command from its intent and ok."""
    if reply.kind is not None:
        return reply.kind
    if not reply.ok or reply.intent in ("error", "rate_limited") or reply.args.get("offline"):
        return "error"
    return "help" if reply.intent == "help" else "command"
