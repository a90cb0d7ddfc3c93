"""Settings precedence, secrets, redaction, state dir, config errors."""

from __future__ import annotations

import json
import logging
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import ConfigError
from config.logging import RedactingFilter, setup_logging
from config.settings import Settings, load_settings
from config.state import SUBDIRS, connect, ensure_state_dir

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789ab"


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_then_file_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFTUNE_HOME", str(tmp_path / "h"))
    assert load_settings().llm.timeout_s == 60.0  # built-in default
    write_toml(tmp_path / "selftune.toml", '[llm]\ntimeout_s = 5\nmodel = "from-file"\n')
    s = load_settings()
    assert (s.llm.timeout_s, s.llm.model) == (5.0, "from-file")
    assert s.config_file == tmp_path / "selftune.toml"
    monkeypatch.setenv("SELFTUNE_LLM__TIMEOUT_S", "7")
    s = load_settings()
    assert (s.llm.timeout_s, s.llm.model) == (7.0, "from-file")  # env beats file, file beats default


def test_config_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "h"
    home.mkdir()
    monkeypatch.setenv("SELFTUNE_HOME", str(home))
    write_toml(home / "selftune.toml", 'base_model = "state-dir"\n')
    assert load_settings().base_model == "state-dir"
    write_toml(tmp_path / "selftune.toml", 'base_model = "cwd"\n')
    assert load_settings().base_model == "cwd"
    explicit = write_toml(tmp_path / "other.toml", 'base_model = "explicit-env"\n')
    monkeypatch.setenv("SELFTUNE_CONFIG", str(explicit))
    assert load_settings().base_model == "explicit-env"
    flag = write_toml(tmp_path / "flag.toml", 'base_model = "flag"\n')
    assert load_settings(flag).base_model == "flag"


def test_bad_config_names_file_key_and_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = write_toml(tmp_path / "selftune.toml", "[llm]\ntimeout_s = \"soon\"\n")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert str(bad) in message and "llm.timeout_s" in message and "number" in message
    write_toml(bad, "[llm\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
    write_toml(bad, "[llm]\ntemperature_typo = 1\n")
    with pytest.raises(ConfigError, match="llm.temperature_typo"):
        load_settings()


def test_secret_in_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "selftune.toml", f'discord_token = "{TOKEN}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert TOKEN not in str(err.value) and "SELFTUNE_DISCORD_TOKEN" in str(err.value)


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFTUNE_DISCORD_TOKEN", TOKEN)
    s = load_settings()
    assert s.secret("discord_token") == TOKEN and TOKEN not in repr(s) and TOKEN not in s.model_dump_json()
    monkeypatch.delenv("SELFTUNE_DISCORD_TOKEN")
    (tmp_path / "key").write_text("sk-test-file-secret-0123456789abcdef\n")
    monkeypatch.setenv("SELFTUNE_OPENAI_API_KEY_FILE", str(tmp_path / "key"))
    assert load_settings().secret("openai_api_key") == "sk-test-file-secret-0123456789abcdef"


def test_token_never_in_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFTUNE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("SELFTUNE_DISCORD_TOKEN", "plain-secret-value-42")
    settings = load_settings()
    ensure_state_dir(settings)
    redactor = setup_logging(settings)
    caplog.handler.addFilter(redactor)
    log = logging.getLogger("selftune.test")
    log.warning("connecting with %s", "plain-secret-value-42")
    log.warning("pasted a discord token %s here", TOKEN)
    try:
        raise RuntimeError("auth failed for plain-secret-value-42")
    except RuntimeError:
        log.exception("login error")
    for handler in logging.getLogger().handlers:
        handler.flush()
    file_text = (tmp_path / "h" / "logs" / "selftune.log").read_text()
    assert "connecting with ***" in file_text
    for text in (file_text, caplog.text):
        assert "plain-secret-value-42" not in text and TOKEN not in text
    logging.getLogger().handlers = [h for h in logging.getLogger().handlers if not getattr(h, "_selftune", False)]


def test_redacting_filter_unit() -> None:
    f = RedactingFilter(["abcd1234"])
    assert f.redact("x abcd1234 y sk-0123456789abcdefghijklmn") == "x *** y ***"


def test_state_dir_layout_and_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFTUNE_HOME", str(tmp_path / "state"))
    settings = load_settings()
    ensure_state_dir(settings)
    for name in SUBDIRS:
        assert (tmp_path / "state" / name).is_dir()
    conn = connect(settings)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (through Optional, unions and lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _undescribed(model: type[BaseModel], prefix: str = "") -> tuple[int, list[str]]:
    seen, missing = 0, []
    for name, info in model.model_fields.items():
        seen += 1
        if not (info.description or "").strip():
            missing.append(prefix + name)
        for sub in _models_in(info.annotation):
            n, m = _undescribed(sub, f"{prefix}{name}.")
            seen, missing = seen + n, missing + m
    return seen, missing


def test_every_setting_has_a_description() -> None:
    seen, missing = _undescribed(Settings)
    assert seen > 50  # the walk reached the nested sections
    assert missing == []


def _show(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFTUNE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["config", "show", *args])
    return result.exit_code, result.output


def test_config_show_names_each_source_and_hides_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = write_toml(tmp_path / "selftune.toml",
                      '[llm]\nmodel = "from-file"\nbase_url = "https://bob:hunter2-pass@example.com/v1"\n')
    monkeypatch.setenv("SELFTUNE_LLM__TIMEOUT_S", "7")
    monkeypatch.setenv("SELFTUNE_DISCORD_TOKEN", TOKEN)
    code, out = _show(monkeypatch, tmp_path, "--json")
    assert code == 0, out
    doc = json.loads(out)
    rows = {r["key"]: r for r in doc["settings"]}
    assert doc["ok"] and doc["config_file"] == str(toml)
    assert (rows["llm.model"]["value"], rows["llm.model"]["source"]) == ("from-file", str(toml))
    assert (rows["llm.timeout_s"]["value"], rows["llm.timeout_s"]["source"]) == (7.0, "SELFTUNE_LLM__TIMEOUT_S")
    assert (rows["llm.max_new_tokens"]["source"], rows["home"]["source"]) == ("default", "SELFTUNE_HOME")
    assert rows["discord_token"]["value"] == "***" and rows["openai_api_key"]["value"] is None
    assert all(r["description"] for r in rows.values())
    assert {r["section"] for r in rows.values()} >= {"general", "llm", "auth", "secrets"}
    code, table = _show(monkeypatch, tmp_path)
    assert code == 0, table
    for text in (out, table):
        assert TOKEN not in text and "hunter2-pass" not in text
    assert "SELFTUNE_LLM__TIMEOUT_S" in table and "selftune.toml" in table and "*** (set)" in table
    assert "Chat provider." in table and "Generation length cap." in table  # descriptions are shown
    assert max(len(line) for line in table.splitlines()) <= 80


def test_config_show_json_reports_a_bad_file_as_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path / "selftune.toml", '[llm]\ntimeout_s = "soon"\n')
    code, out = _show(monkeypatch, tmp_path, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["exit_code"] == 1
    assert "llm.timeout_s" in doc["error"] and "Traceback" not in out
