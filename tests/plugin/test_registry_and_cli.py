"""Skills as a plugin surface: discovery, refusal of malformed skills, `selftune skills ...`."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pluggy
import pytest
import yaml
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import PermissionDenied
from config.settings import Settings
from skills import hookspecs
from skills.context import Requester, SkillContext
from skills.registry import load_registry

runner = CliRunner()


def make_skill(folder: Path, front: dict, code: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\n" + yaml.safe_dump(front) + "---\nusage notes\n")
    (folder / "skill.py").write_text(code)
    return folder


def registry_with(*folders: Path):
    """A registry fed by one in-test plugin (tests inject their own PluginManager)."""
    pm = pluggy.PluginManager("selftune")
    pm.add_hookspecs(hookspecs)
    plugin = types.ModuleType("test_plugin")

    @hookspecs.hookimpl
    def register_skills(register):  # noqa: ANN001, ANN202
        for folder in folders:
            register(folder)

    plugin.register_skills = register_skills
    pm.register(plugin, name="thirdparty:test")
    return load_registry(pm)


def test_malformed_skills_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    good = make_skill(tmp_path / "good", {"name": "x.good", "description": "Adds.", "permission": "read"},
                      "def add(a: int, b: int = 1) -> int:\n    return a + b\n")
    untyped = make_skill(tmp_path / "untyped", {"name": "x.untyped", "description": "No hints."},
                         "def f(a) -> int:\n    return 1\n")
    nodesc = make_skill(tmp_path / "nodesc", {"name": "x.nodesc"}, "def f(a: int) -> int:\n    return a\n")
    noreturn = make_skill(tmp_path / "noreturn", {"name": "x.noreturn", "description": "d"}, "def f(a: int):\n    return a\n")
    registry = registry_with(good, untyped, nodesc, noreturn)
    assert [s.name for s in registry.all()] == ["x.good"]
    assert registry.get("x.good").parameters["required"] == ["a"]
    assert registry.get("x.good").origin == "entrypoint:thirdparty"
    joined = " | ".join(registry.errors)
    assert "'x.untyped' parameter 'a' has no type hint" in joined
    assert "'x.nodesc' has no description" in joined
    assert "'x.noreturn' must annotate its return type" in joined


def test_permission_checked_at_dispatch(tmp_path: Path, settings: Settings) -> None:
    admin = make_skill(tmp_path / "admin", {"name": "x.admin", "description": "Danger.", "permission": "admin"},
                       "def f() -> str:\n    return 'done'\n")
    registry = registry_with(admin)
    reader = SkillContext(settings=settings, requester=Requester(user="discord:1", permission="read"))
    with pytest.raises(PermissionDenied, match="needs the 'admin' permission"):
        registry.call("x.admin", {}, reader)
    assert registry.call("x.admin", {}, SkillContext(settings=settings)) == "done"


def test_example_package_is_installed_and_listed(settings: Settings) -> None:
    """The example third-party package under examples/ is pip-installed by `make install`."""
    result = runner.invoke(app, ["skills", "list", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    by_name = {s["name"]: s for s in doc["skills"]}
    assert by_name["text.word_count"]["origin"] == "entrypoint:selftune-hello-skill"
    assert by_name["voice.transcribe"]["origin"] == "builtin"


def test_skills_call_and_show(settings: Settings) -> None:
    result = runner.invoke(app, ["skills", "call", "text.word_count", "--args", '{"text": "arr matey ahoy"}', "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"words": 3, "characters": 14}
    bad = runner.invoke(app, ["skills", "call", "text.word_count", "--args", "{nope"])
    assert bad.exit_code == 2 and "not valid JSON" in bad.output
    missing = runner.invoke(app, ["skills", "call", "text.word_count", "--args", "{}"])
    assert missing.exit_code == 2 and "'text'" in missing.output
    shown = runner.invoke(app, ["skills", "show", "text.word_count", "--json"])
    assert json.loads(shown.stdout)["parameters"]["properties"]["text"]["type"] == "string"


def test_export_writes_installable_skill_folders(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    result = runner.invoke(app, ["skills", "export", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "voice-transcribe" / "SKILL.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front["name"] == "voice-transcribe" and "Transcribe" in front["description"]
    assert "selftune skills call voice.transcribe --args '{\"path\": \"<string>\"}' --json" in text


def test_doctor_lists_skill_origins(settings: Settings) -> None:
    doc = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    skills = next(c for c in doc["checks"] if c["name"] == "skills")
    assert "text.word_count from selftune-hello-skill" in skills["detail"]

