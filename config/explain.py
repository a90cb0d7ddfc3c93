"""The effective settings, one row per field: value, where it came from, what it means.

Sources follow `load_settings`' precedence: a `SELFTUNE_*` variable beats the TOML file, which beats the
built-in default. Secrets are never shown, only whether they are set.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic.fields import FieldInfo

from config.scrub import redact_secrets
from config.settings import SECRET_FIELDS, Settings

MASK = "***"
GENERAL = "general"
SECRETS = "secrets"
_SECRET_SECTION = {*SECRET_FIELDS, *(f"{name}_file" for name in SECRET_FIELDS)}


class SettingRow(BaseModel):
    """One effective setting as `selftune config show` reports it."""

    model_config = ConfigDict(extra="forbid")
    key: str
    section: str
    value: Any
    source: str
    env: str
    description: str
    secret: bool = False


def explain_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> list[SettingRow]:
    """Every field of these settings (nested sections flattened to `section.key`), grouped by section."""
    env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
    file_data = _file_data(settings.config_file)
    rows: list[SettingRow] = []
    for name, info in Settings.model_fields.items():
        if info.exclude:
            continue  # config_file is reported on its own, not as a setting
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            for sub, sub_info in type(value).model_fields.items():
                rows.append(_row((name, sub), getattr(value, sub), sub_info, name, env, file_data, settings))
        else:
            section = SECRETS if name in _SECRET_SECTION else GENERAL
            rows.append(_row((name,), value, info, section, env, file_data, settings))
    order = {GENERAL: 0, SECRETS: 2}
    return sorted(rows, key=lambda r: order.get(r.section, 1))  # stable: sections keep field order


def _row(path: tuple[str, ...], value: Any, info: FieldInfo, section: str, env: Mapping[str, str],
         file_data: dict[str, Any], settings: Settings) -> SettingRow:
    env_name = "SELFTUNE_" + "__".join(path).upper()
    secret = isinstance(value, SecretStr) or path[-1] in SECRET_FIELDS
    return SettingRow(key=".".join(path), section=section, env=env_name, secret=secret,
                      value=(MASK if value is not None else None) if secret else _shown(value),
                      source=_source(path, env, file_data, settings.config_file),
                      description=info.description or "")


def _source(path: tuple[str, ...], env: Mapping[str, str], file_data: dict[str, Any], file: Path | None) -> str:
    """Which layer set this value: the env variable's name, the TOML file's path, or 'default'."""
    leaf = "SELFTUNE_" + "__".join(path).upper()
    if leaf in env:
        return leaf
    section = "SELFTUNE_" + path[0].upper()
    if len(path) > 1 and section in env and path[1] in _json_object(env[section]):
        return section  # a whole section given as JSON, e.g. SELFTUNE_LLM='{"model": "x"}'
    node: Any = file_data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return "default"
        node = node[part]
    return str(file)


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _file_data(path: Path | None) -> dict[str, Any]:
    """The TOML file load_settings read (already validated there, so it parses)."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # changed since it was loaded: sources fall back to 'default' rather than fail


def _shown(value: Any) -> Any:
    """A JSON-friendly value with anything secret-shaped masked (URLs may carry passwords)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return redact_secrets(_mask_url_password(value), MASK)
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _mask_url_password(text: str) -> str:
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.password:
        return text
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))
