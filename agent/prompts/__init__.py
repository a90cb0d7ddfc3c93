"""Prompt files: system prompts, help text and follow-up questions live here, not in code."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).parent


@functools.cache
def prompt(name: str) -> str:
    """The text of agent/prompts/<name>."""
    return (PROMPTS_DIR / name).read_text(encoding="utf-8").strip()


@functools.cache
def followups() -> dict[str, str]:
    """Follow-up question templates by argument name."""
    return yaml.safe_load(prompt("followups.yaml"))
