"""Error types whose messages are safe to show to users (one sentence: what, where, what to do)."""


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
