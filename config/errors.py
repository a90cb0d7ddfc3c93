"""Error types whose messages are safe to show to users (one sentence: what, where, what to do)."""

import logging
import uuid


class SelftuneError(Exception):
    """An expected failure; its message is shown to the user as is, never with a traceback."""

    exit_code = 1


class ConfigError(SelftuneError):
    """The configuration file or environment holds an invalid value."""


class UsageError(SelftuneError):
    """The user asked for something in a way that cannot work (CLI exit code 2)."""

    exit_code = 2


class PermissionDenied(SelftuneError):
    """The requester's identity does not grant the permission a skill needs."""


class NotFound(SelftuneError):
    """A named thing (job, adapter, persona, skill, file) does not exist."""


def report_internal_error(log: logging.Logger, exc: BaseException, where: str) -> str:
    """Log our own bug's traceback under a fresh error id; return the one sentence users see instead."""
    error_id = uuid.uuid4().hex[:8]
    log.error("internal error %s %s", error_id, where, exc_info=exc)
    return f"Something went wrong on my side {where} (error id {error_id}); the details are in selftune's log."


def user_error_text(exc: BaseException, log: logging.Logger, where: str) -> str:
    """One sentence for any failure: a SelftuneError's message as it is, anything else as an error id."""
    return str(exc) if isinstance(exc, SelftuneError) else report_internal_error(log, exc, where)
