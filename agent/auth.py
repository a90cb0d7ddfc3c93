"""Who may do what: permission from the sender's identity and config `auth`, plus per-user rate limits."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from config.messages import IncomingMessage
from config.settings import Permission, Settings
from skills.context import PERMISSION_RANK, Requester

LOCAL_TRANSPORTS = {"console", "cli"}


def identities(message: IncomingMessage) -> list[str]:
    """The identities a message's sender can be named by in config: 'discord:123', 'role:trainers'."""
    return [f"{message.transport}:{message.user}", message.user] + [f"role:{role}" for role in message.roles]


def permission_for(settings: Settings, message: IncomingMessage) -> Permission:
    """The highest permission config grants the sender; the local terminal user gets local_user_permission."""
    auth = settings.auth
    if message.transport in LOCAL_TRANSPORTS:
        return auth.local_user_permission
    names = set(identities(message))
    if names & set(auth.admins):
        return "admin"
    if names & set(auth.trainers):
        return "train"
    return auth.default_permission


def requester_for(settings: Settings, message: IncomingMessage) -> Requester:
    """The Requester a skill sees for this message (permission decided here, never by the model)."""
    transport = message.transport if message.transport in ("console", "cli", "discord", "mcp") else "cli"
    return Requester(user=message.user, transport=transport, channel=message.channel,  # type: ignore[arg-type]
                     permission=permission_for(settings, message), roles=list(message.roles))


def allows(permission: Permission, needed: Permission) -> bool:
    """True when `permission` is at least `needed`."""
    return PERMISSION_RANK[permission] >= PERMISSION_RANK[needed]


class RateLimiter:
    """At most `per_minute` messages per user in any sliding 60-second window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, user: str) -> float:
        """Record one message; return 0 when allowed, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            seen = self._seen[user]
            while seen and now - seen[0] >= 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return 60 - (now - seen[0])
            seen.append(now)
            return 0.0
