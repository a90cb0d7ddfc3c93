"""Who may do what: permission from the sender's identity and config `auth`, plus per-user rate limits.

This is the one permission rule for every transport (router, CLI, console, Discord); it is never decided
by a model. Only the local terminal user without `--user` gets `auth.local_user_permission`; anyone named
with `--user` gets exactly what config grants that identity.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable

from config.messages import IncomingMessage
from config.settings import Permission, Settings
from skills.context import PERMISSION_RANK, Requester

LOCAL_TRANSPORTS = {"console", "cli"}
LOCAL_USER = "local"  # the user of the terminal itself (no --user given)


def is_local_user(requester: Requester) -> bool:
    """The user at the terminal, typing for themselves: the only requester whose paths are not confined."""
    return requester.transport in LOCAL_TRANSPORTS and requester.user == LOCAL_USER


def identities(transport: str, user: str | int, roles: Iterable[str] = ()) -> set[str]:
    """The names config can give a sender: 'discord:123' (also as a bare '--user discord:123'), 'role:trainers'."""
    names = {f"{transport}:{user}", *(f"role:{role}" for role in roles)}
    if not str(user).startswith("role:"):  # a role comes from the transport, never from a claimed user name
        names.add(str(user))
    return names


def permission_for(settings: Settings, transport: str, user: str | int, roles: Iterable[str] = ()) -> Permission:
    """The highest permission config grants this sender; only the local terminal user gets local_user_permission."""
    auth = settings.auth
    if transport in LOCAL_TRANSPORTS and str(user) == LOCAL_USER:
        return auth.local_user_permission
    names = identities(transport, user, roles)
    if names & set(auth.admins):
        return "admin"
    if names & set(auth.trainers):
        return "train"
    return auth.default_permission


def requester_for(settings: Settings, message: IncomingMessage) -> Requester:
    """The Requester a skill sees for this message (permission decided here, never by the model)."""
    transport = message.transport if message.transport in ("console", "cli", "discord", "mcp") else "cli"
    permission = permission_for(settings, message.transport, message.user, message.roles)
    return Requester(user=message.user, transport=transport, channel=message.channel,  # type: ignore[arg-type]
                     permission=permission, roles=list(message.roles))


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
