"""Memory as users reach it: `selftune memory ...`, `selftune dataset build`, and the memory/dataset skills."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import PermissionDenied
from memory.store import Memory
from skills.context import Requester, SkillContext
from skills.registry import load_registry

runner = CliRunner()


@pytest.fixture
def seeded(memory: Memory, say) -> Memory:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    memory.log_many([
        say("The staging server lives at rack 12", channel="ops", author="carol", created_at=hour_ago),
        say("Rack 12 it is, noted.", role="assistant", channel="ops", created_at=hour_ago + timedelta(seconds=1)),
        say("I love sourdough bread", channel="food", author="dave", created_at=hour_ago + timedelta(seconds=2)),
    ])
    return memory


def test_cli_search_json_and_table(seeded: Memory) -> None:
    result = runner.invoke(app, ["memory", "search", "where is the staging server", "--channel", "ops", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["hits"][0]["text"] == "The staging server lives at rack 12"
    assert {h["channel"] for h in doc["hits"]} == {"ops"}
    table = runner.invoke(app, ["memory", "search", "bread"])
    assert table.exit_code == 0 and "sourdough" in table.stdout


def test_cli_forget_user_then_search_finds_nothing(seeded: Memory) -> None:
    result = runner.invoke(app, ["memory", "forget", "--user", "carol", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["messages"] == 1
    after = json.loads(runner.invoke(app, ["memory", "search", "staging server rack", "--json", "-k", "5"]).stdout)
    assert all("staging server" not in h["text"] for h in after["hits"])


def test_cli_forget_needs_a_condition_and_a_valid_date(seeded: Memory) -> None:
    nothing = runner.invoke(app, ["memory", "forget"])
    assert nothing.exit_code == 2 and "Say what to forget" in nothing.output
    bad = runner.invoke(app, ["memory", "forget", "--before", "last tuesday"])
    assert bad.exit_code == 2 and "not a date" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(app, ["memory", "forget", "--before", "2000-01-01"]).exit_code == 0


def test_cli_reindex(seeded: Memory) -> None:
    result = runner.invoke(app, ["memory", "reindex", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"indexed": 3}


def test_cli_collect_and_dataset_build(seeded: Memory, say, tmp_path) -> None:
    refused = runner.invoke(app, ["dataset", "build", "--from", "channel:ops"])
    assert refused.exit_code == 1 and "never opted in" in refused.output
    assert "on for ops" in runner.invoke(app, ["memory", "collect", "ops", "--on"]).stdout
    seeded.log_many([say("Which rack is staging in?", channel="ops", author="carol"),
                     say("Staging is in rack 12.", role="assistant", channel="ops")])
    out = tmp_path / "ops.jsonl"
    built = runner.invoke(app, ["dataset", "build", "--from", "channel:ops", "--out", str(out), "--json"])
    assert built.exit_code == 0, built.output
    doc = json.loads(built.stdout)
    assert doc["rows"] == 1 and doc["path"] == str(out)
    assert json.loads(out.read_text())["messages"][-1]["content"] == "Staging is in rack 12."
    again = runner.invoke(app, ["dataset", "build", "--from", "channel:ops"])
    assert again.exit_code == 0 and "Nothing new" in again.stdout
    assert runner.invoke(app, ["dataset", "build", "--from", "ops"]).exit_code == 2


def _ctx(settings, user: str = "carol", channel: str = "ops", permission: str = "read") -> SkillContext:
    return SkillContext(settings=settings, requester=Requester(user=user, transport="discord", channel=channel,
                                                               permission=permission))


def test_skills_search_forget_collect_build(seeded: Memory, settings) -> None:
    registry = load_registry()
    hits = registry.call("memory.search", {"query": "staging server"}, _ctx(settings))["hits"]
    assert hits and {h["channel"] for h in hits} == {"ops"}  # a reader sees only the channel they are in
    with pytest.raises(PermissionDenied):
        registry.call("memory.search", {"query": "bread", "channel": "food"}, _ctx(settings))
    with pytest.raises(PermissionDenied):
        registry.call("memory.forget", {"scope": "channel", "channel": "ops"}, _ctx(settings))
    with pytest.raises(PermissionDenied):
        registry.call("memory.collect", {"enabled": True}, _ctx(settings))
    with pytest.raises(PermissionDenied, match="needs the 'train' permission"):  # forgetting erases: not 'read'
        registry.call("memory.forget", {"channel": "ops"}, _ctx(settings))
    done = registry.call("memory.forget", {"channel": "ops"}, _ctx(settings, permission="train"))  # scope "me": only carol's
    assert done["forgotten"] == 1 and done["user"] == "carol"
    admin = _ctx(settings, user="root", permission="admin")
    assert registry.call("memory.collect", {"enabled": True, "channel": "food"}, admin)["enabled"] is True
    assert seeded.consented("food")
    with pytest.raises(PermissionDenied):
        registry.call("dataset.build", {"source": "channel:food"}, _ctx(settings))
    assert registry.call("dataset.build", {"source": "channel:food"}, _ctx(settings, permission="train"))["rows"] == 0


def test_forget_about_a_topic_only_removes_close_messages(memory: Memory, settings, say) -> None:
    memory.log_many([say("My home address is 12 Elm Street", author="carol", channel="ops"),
                     say("I like turtles", author="carol", channel="ops")])
    result = load_registry().call("memory.forget", {"query": "where I live, my address"},
                                  _ctx(settings, permission="train"))
    assert result["forgotten"] == 1
    assert [r[0] for r in memory.conn.execute("SELECT text FROM messages")] == ["I like turtles"]


def test_cli_forget_expired_uses_the_retention_policy(settings, memory: Memory, say) -> None:
    assert runner.invoke(app, ["memory", "forget", "--expired"]).exit_code == 2  # no policy configured
    memory.log_many([say("stale", created_at=datetime.now(UTC) - timedelta(days=90)), say("fresh")])
    (settings.home / "selftune.toml").write_text("[memory]\nretention_days = 30\n")
    result = runner.invoke(app, ["memory", "forget", "--expired", "--json"])
    assert result.exit_code == 0, result.output
    assert "messages" in json.loads(result.stdout)  # memory also applies the policy whenever it opens
    assert [r[0] for r in memory.conn.execute("SELECT text FROM messages")] == ["fresh"]
