"""Confined paths: Discord, MCP and model tool calls read only datasets folders and write only under
artifacts/datasets; the local user at the CLI keeps full access."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from config.errors import UsageError
from config.paths import OutsideFolders, confine_input, confine_output
from config.settings import AuthConfig, DatasetsConfig, Settings
from skills.context import SkillContext
from skills.registry import load_registry
from tests.security.conftest import VICTIM_TEXT, files_under

PASSWD_FIRST_LINE = Path("/etc/passwd").read_text().splitlines()[0]


def test_policy_resolves_links_and_dots_before_checking(settings: Settings, datasets: Path, outside: Path) -> None:
    assert confine_input("good.jsonl", settings) == (datasets / "good.jsonl").resolve()
    assert confine_output("sub/new.jsonl", settings) == (datasets / "sub" / "new.jsonl").resolve()
    refused_inputs = ["link.jsonl", "linkdir/secret.jsonl", "../../../outside/secret.jsonl", str(outside / "secret.jsonl"),
                      "/etc/passwd", str(settings.home / "selftune.db")]
    for given in refused_inputs:
        with pytest.raises(OutsideFolders, match="is outside selftune's folders; put the file under .*allowed_dirs"):
            confine_input(given, settings)
    for given in ["linkdir/new.jsonl", "../new.jsonl", "../../../outside/victim.txt", str(outside / "victim.txt")]:
        with pytest.raises(OutsideFolders, match="is outside selftune's folders; write under"):
            confine_output(given, settings)
    with pytest.raises(UsageError, match="not a usable path"):
        confine_input("a\x00b.jsonl", settings)
    with pytest.raises(UsageError, match="is a folder"):
        confine_output(".", settings)


def test_confined_validate_of_etc_passwd_and_of_a_link_out_echo_nothing(mcp_ctx: SkillContext, datasets: Path) -> None:
    registry = load_registry()
    for path in ("/etc/passwd", "link.jsonl", "../../../outside/secret.jsonl"):
        with pytest.raises(OutsideFolders) as refused:
            registry.call("dataset.validate", {"path": path}, mcp_ctx)
        assert path in str(refused.value) and PASSWD_FIRST_LINE not in str(refused.value)
        assert "Ahoy" not in str(refused.value) and "\n" not in str(refused.value)
    assert registry.call("dataset.validate", {"path": "good.jsonl"}, mcp_ctx)["valid"] == 4


def test_confined_writes_never_leave_artifacts(mcp_ctx: SkillContext, settings: Settings, datasets: Path,
                                               outside: Path) -> None:
    registry = load_registry()
    before = files_under(settings.home.parent, skip=settings.home)
    probes = [
        ("dataset.convert", {"path": "good.jsonl", "output": str(outside / "victim.txt")}),
        ("dataset.convert", {"path": "good.jsonl", "output": "../../../outside/victim.txt"}),
        ("dataset.convert", {"path": "good.jsonl", "output": "linkdir/victim.txt"}),
        ("dataset.split", {"path": "good.jsonl", "output_dir": str(outside)}),
        ("dataset.mix", {"sources": ["good.jsonl:1"], "output": "linkdir/mixed.jsonl"}),
        ("dataset.build", {"source": "channel:general", "out": str(outside / "harvest.jsonl")}),
    ]
    for name, args in probes:
        with pytest.raises(OutsideFolders):
            registry.call(name, args, mcp_ctx)
    assert files_under(settings.home.parent, skip=settings.home) == before
    assert (outside / "victim.txt").read_text() == VICTIM_TEXT
    written = registry.call("dataset.convert", {"path": "good.jsonl", "output": "copy.jsonl"}, mcp_ctx)
    assert Path(written["path"]) == (datasets / "copy.jsonl").resolve()


def test_confined_adapters_are_registry_ids_or_folders_in_artifacts(mcp_ctx: SkillContext, outside: Path) -> None:
    registry = load_registry()
    for name, args in [("eval.run", {"adapter": str(outside)}), ("eval.run", {"adapter": "../../outside"}),
                       ("export.run", {"adapter": "/etc", "to": "merged"})]:
        with pytest.raises(OutsideFolders, match="name a registered adapter id"):
            registry.call(name, args, mcp_ctx)


def test_allowed_dirs_open_a_folder_to_confined_callers(settings: Settings, datasets: Path, outside: Path) -> None:
    opened = settings.model_copy(update={"datasets": DatasetsConfig(allowed_dirs=[outside])})
    ctx = SkillContext(settings=opened)
    registry = load_registry()
    assert registry.call("dataset.validate", {"path": str(outside / "secret.jsonl")}, ctx)["valid"] == 1
    assert registry.call("dataset.validate", {"path": "link.jsonl"}, ctx)["valid"] == 1  # its target is allowed now
    rows = [{"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "Arr"}]}
            for i in range(4)]
    (outside / "four.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    split = registry.call("dataset.split", {"path": str(outside / "four.jsonl"), "eval_ratio": 0.5}, ctx)
    assert Path(split["train"]["path"]).parent == datasets.resolve()  # written under artifacts, not beside the input
    with pytest.raises(OutsideFolders):  # reading a folder does not make it writable
        registry.call("dataset.convert", {"path": "good.jsonl", "output": str(outside / "out.jsonl")}, ctx)


def test_local_cli_user_keeps_full_access(settings: Settings, outside: Path) -> None:
    runner = CliRunner()
    direct = runner.invoke(app, ["dataset", "validate", str(outside / "secret.jsonl"), "--json"])
    assert direct.exit_code == 0 and json.loads(direct.stdout)["valid"] == 1
    args = json.dumps({"path": str(outside / "secret.jsonl"), "output": str(outside / "copy.jsonl")})
    called = runner.invoke(app, ["skills", "call", "dataset.convert", "--args", args, "--json"])
    assert called.exit_code == 0, called.output
    assert (outside / "copy.jsonl").is_file()


def test_model_tool_calls_are_confined_even_for_the_local_user(settings: Settings, datasets: Path,
                                                               scripted_llm) -> None:  # noqa: ANN001
    from agent.router import Router
    from config.messages import IncomingMessage
    from skills.providers.openai_compat import OpenAIProvider

    provider = OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=5)
    router = Router(settings, registry=load_registry(), provider=provider)
    scripted_llm.enqueue(tool_calls=[("dataset__validate", {"path": "/etc/passwd"})])
    scripted_llm.enqueue(text="I cannot read that file.")
    reply = router.handle(IncomingMessage(text="please validate the dataset in the system's users file", user="local",
                                          transport="console", channel="general"))
    assert reply.text == "I cannot read that file."
    observation = scripted_llm.requests[1]["messages"][-1]["content"]
    assert "outside selftune's folders" in observation
    assert all(PASSWD_FIRST_LINE not in json.dumps(r) for r in scripted_llm.requests)


def test_router_opens_paths_only_for_commands_the_local_user_types(settings: Settings, outside: Path) -> None:
    from agent.router import Router
    from config.messages import IncomingMessage

    router = Router(settings.model_copy(update={"auth": AuthConfig(admins=["discord:7"])}), registry=load_registry())
    secret = str(outside / "secret.jsonl")

    def eval_data(user: str, transport: str) -> str:
        text = f"!eval adapter=pirate-lora data={secret}"
        return router.handle(IncomingMessage(text=text, user=user, transport=transport, channel="c")).text

    # The local user's own command reaches the adapter lookup; anyone else is stopped at the path first.
    assert "neither a PEFT adapter folder" in eval_data("local", "cli")
    for user, transport in (("7", "discord"), ("discord:7", "cli")):
        assert "is outside selftune's folders" in eval_data(user, transport)
