"""A persona's bad habits are never learned: "talk like the pirate", then questions through the real Router and
memory hooks (the model is the scripted server); the switch sentence never reaches a persona turn's context, and
`selftune dataset build --from channel:ID` keeps each good persona answer once, counting the rest by reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from agent.cli.main import app
from agent.memory_hooks import router_with_memory
from config.settings import Settings
from memory.log import LoggedMessage
from memory.store import Memory
from skills.retrain import run_retrain
from tests.agent.conftest import ScriptedLLM, scripted_llm  # noqa: F401 - the scripted chat server fixture
from tests.memory.test_harvest_kinds import CHANNEL, _say, pirate_channel  # noqa: F401 - fixture

runner = CliRunner()
GOOD = "Arr, the storm be fierce, but a tight ship rides it out, matey."
LOOP = "Hoist the sails! " + "The wind be strong and the waves be tall tonight, matey. " * 5


def _talk(settings: Settings, llm: ScriptedLLM) -> list[str]:
    """The switch, then four questions; returns every reply's text."""
    router, hooks = router_with_memory(settings)
    try:
        switch = _say(router, "talk like the pirate").text
        llm.enqueue(text=GOOD)
        llm.enqueue(text=f"{switch} Ahoy!")  # a small model copying the command reply it once saw
        llm.enqueue(text=LOOP)
        llm.enqueue(text=GOOD)  # the same answer again
        answers = [_say(router, q).text for q in ("how are storms at sea?", "who are you?", "what's the weather?",
                                                   "and storms at sea again?")]
    finally:
        hooks.close()
    return [switch, *answers]


def test_switch_replies_stay_out_of_persona_turns_and_harvest(pirate_channel: Settings,  # noqa: F811
                                                              scripted_llm: ScriptedLLM) -> None:  # noqa: F811
    switch, *answers = _talk(pirate_channel, scripted_llm)
    assert switch.startswith("Arr, pirate it is for this channel")
    for request in scripted_llm.requests:  # what each persona answer was generated from
        context = " ".join(str(m.get("content")) for m in request["messages"])
        assert switch not in context and "talk like the pirate" not in context
        assert "frequency_penalty" in request  # chat answers decode with repetition control
    assert answers[1] == "Ahoy!"  # the copied switch sentence is taken out of the answer
    assert answers[2].count("The wind be strong") == 1  # the loop was cut at its first repeat

    built = runner.invoke(app, ["dataset", "build", "--from", f"channel:{CHANNEL}", "--json"])
    assert built.exit_code == 0, built.output
    doc = json.loads(built.output)
    rows = [json.loads(line) for line in open(doc["path"])]
    targets = [r["messages"][-1]["content"] for r in rows]
    assert targets == [GOOD, "Ahoy!"]  # only the persona's own answers, each once
    skipped = doc["skipped"]
    assert skipped["command"] == 1 and skipped["degenerate"] == 1 and skipped["near_duplicate"] == 1
    manifest = json.loads(open(doc["manifest"]).read())
    assert manifest["skipped"] == skipped


def test_nightly_retrain_reports_what_its_harvest_left_out(pirate_channel: Settings,  # noqa: F811
                                                           scripted_llm: ScriptedLLM) -> None:  # noqa: F811
    _talk(pirate_channel, scripted_llm)
    outcome = run_retrain(pirate_channel, "pirate")
    assert outcome.status == "skipped"  # one new conversation is too few to train on
    assert outcome.skipped["degenerate"] == 1 and outcome.skipped["near_duplicate"] == 1
    step = next(s for s in outcome.steps if s.step == "harvest skipped")
    assert step.detail == "left out: command 1, degenerate 1, near_duplicate 1"


def test_harvest_refuses_copies_of_command_replies_and_bare_tool_calls(settings: Settings) -> None:
    """Rows logged by a version without the chat guards: the copies and loops are still never learned."""
    memory = Memory(settings)
    try:
        memory.set_consent("c9", True, changed_by="cli:local")
        switch = "Arr, pirate it is for this channel — answering with the base model."
        start = datetime.now(UTC)
        turns = [("user", "talk like the pirate", None), ("assistant", switch, "command"),
                 ("user", "hi", None), ("assistant", f"{switch} Ahoy there!", "chat"),
                 ("user", "export it", None), ("assistant", '<tool_call>{"name": "export__run"}</tool_call>', "chat"),
                 ("user", "sing", None), ("assistant", "Yo ho ho and a bottle of rum. " * 3, "chat"),
                 ("user", "tell me a tale", None), ("assistant", "Once a ship <tool_call>{}</tool_call>sailed.", "chat")]
        memory.log_many([LoggedMessage(text=text, role=role, kind=kind, channel="c9", author="local",
                                       transport="cli", created_at=start + timedelta(seconds=i))
                         for i, (role, text, kind) in enumerate(turns)])
        batch = memory.harvest_rows("c9")
    finally:
        memory.close()
    assert [r["messages"][-1]["content"] for r in batch.rows] == ["Once a ship sailed."]  # tool syntax stripped
    assert {k: v for k, v in batch.skipped.items() if v} == {"command": 1, "copied_command": 1, "tool_call": 1,
                                                              "loop": 1}
