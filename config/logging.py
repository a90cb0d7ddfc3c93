"""Logging setup with a filter that redacts every configured secret from every record."""

from __future__ import annotations

import logging
import os
import sys

from config.scrub import redact_secrets, remember_secrets
from config.settings import Settings, secret_values

REDACTED = "***"


class RedactingFilter(logging.Filter):
    """Replace known secret values (and secret-shaped strings) in log messages and arguments."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Return text with every secret replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return redact_secrets(text, REDACTED)  # shapes of secrets from elsewhere, e.g. a pasted token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install_redaction(settings: Settings) -> RedactingFilter:
    """Attach a redacting filter to every handler of the root logger (and future ones via root)."""
    secrets = secret_values(settings)
    remember_secrets(secrets)  # what is logged is also what is stored: scrub them there too
    redactor = RedactingFilter(secrets)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(redactor)
    root.addFilter(redactor)
    return redactor


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (CLI test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


class _OneLineFormatter(logging.Formatter):
    """Terminal warnings stay one line (the exception named, not its traceback, which goes to the log file)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:  # the traceback's last line, already redacted by RedactingFilter
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
            text += f" ({record.exc_text.strip().splitlines()[-1]})"
        return text


OWN_PACKAGES = {"agent", "skills", "improver", "memory", "config", "selftune", "__main__"}
# Read by tqdm, huggingface_hub and transformers when they are imported: no loader bars, no advisory warnings.
QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


class _OwnRecordsOnly(logging.Filter):
    """On the terminal, only selftune's own warnings; libraries' (bitsandbytes' "kernels", ...) go to the log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in OWN_PACKAGES


def quiet_libraries(verbose: bool = False) -> None:
    """Keep library progress bars and warnings off stderr unless -v; call before the engine imports them."""
    logging.captureWarnings(True)  # warnings.warn → the py.warnings logger → the log file (stderr only with -v)
    if verbose:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)  # a value the user exported wins


def setup_logging(settings: Settings, log_file: bool = True, verbose: bool = False) -> RedactingFilter:
    """Log warnings to stderr and everything at log_level to <home>/logs/selftune.log, secrets redacted.

    Without `verbose` the terminal gets only selftune's own warnings; with it, libraries' too, and our info.
    Calling it again (a new Settings) replaces the handlers it installed before.
    """
    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    for old in [h for h in root.handlers if getattr(h, "_selftune", False)]:
        root.removeHandler(old)
        old.close()
    for f in [f for f in root.filters if isinstance(f, RedactingFilter)]:
        root.removeFilter(f)
    stderr = _CurrentStderrHandler()
    stderr.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        stderr.addFilter(_OwnRecordsOnly())
    stderr.setFormatter(_OneLineFormatter())
    handlers: list[logging.Handler] = [stderr]
    if log_file:
        (settings.home / "logs").mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(settings.home / "logs" / "selftune.log", encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(fh)
    for handler in handlers:
        handler._selftune = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return install_redaction(settings)
