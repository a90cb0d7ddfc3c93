"""The headline flow in Discord (dpytest), real Router, real jobs, the tiny model:
tune → follow-up answered → preview → Confirm → job thread with progress → report PNG → promote → export → talk like the pirate
(answered with the new adapter) → roll it back (the previous one is served again)."""

from __future__ import annotations

from pathlib import Path

import discord.ext.test as dpytest
import pytest

from agent.discord_bot.views import PromoteButton
from agent.router import Router
from config.settings import Settings
from skills.train.adapters import served_map
from tests.discord.conftest import FakeInteraction, chat_model, make_harness  # noqa: F401 - the dpytest harness fixtures
from tests.discord.test_buttons_and_permissions import confirm_preview, wait_for
from tests.eval.conftest import pirate_rows, write_jsonl

TINY_RECIPE = """description = "tiny persona LoRA for the end-to-end test"
method = "lora"
[hyper]
rank = 8
alpha = 16
target_modules = "all-linear"
learning_rate = 1e-2
max_steps = 12
batch_size = 2
max_length = 256
warmup_ratio = 0.0
eval_steps = 12
save_steps = 12
logging_steps = 2
"""


@pytest.fixture
def flow_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The tiny model answers chats; the workspace's persona-lora recipe is a few steps long."""
    from config.workspace import open_workspace

    monkeypatch.setenv("SELFTUNE_LLM__MODEL", "tiny")
    open_workspace(settings)  # personas and recipes, as `selftune run` creates them
    settings.llm.model, settings.llm.max_new_tokens, settings.llm.fallback = "tiny", 12, []
    (settings.workspace_dir / "recipes").mkdir(exist_ok=True)
    (settings.workspace_dir / "recipes" / "persona-lora.toml").write_text(TINY_RECIPE)
    settings.discord.progress_edit_interval_s = 1.0
    return settings


async def say(h, text: str, member=None) -> list:
    """Send a message as the trainer-admin and return what the bot posted."""
    await dpytest.message(f"{h.mention()} {text}", channel=h.channel, member=member or h.members[0])
    return h.sent()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_pirate_flow_in_discord(make_harness, flow_settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    settings = flow_settings
    settings.eval.min_rows = 2  # the gate decides on this flow's small eval split (the default asks for 16 rows)
    router = Router(settings)
    h = await make_harness(router=router, trainer=False)  # the real training worker on the tiny model
    settings.auth.admins.append(f"discord:{h.members[0].id}")
    uploads = settings.artifacts_dir / "datasets"  # Discord users name files only where uploads are stored
    uploads.mkdir(parents=True, exist_ok=True)
    data = write_jsonl(uploads / "pirate.jsonl", pirate_rows(16, 3))

    [question] = await say(h, "tune a pirate persona adapter")
    assert question.content.lower().count("dataset") >= 1 and "?" in question.content
    await dpytest.message(f"{h.mention()} use {data}", channel=h.channel, member=h.members[0])
    preview, started = await confirm_preview(h)  # rows, held-out rows, the estimate; nothing runs before Confirm
    assert "Training data for pirate-lora (the file pirate.jsonl)" in preview and "job" in started.lower()
    await wait_for(lambda: h.bot.job_tasks)
    await h.settle_jobs(timeout=180)
    in_thread = h.sent()
    [thread] = h.guild.threads
    assert thread.name.startswith("pirate")
    assert any("step" in (t or "") for _, t in h.edits) or any("step" in m.content for m in in_thread)
    final = in_thread[-1]
    assert final.channel.id == thread.id and "✅" in final.content
    assert [a.filename for a in final.attachments][0].endswith(".png")

    [adapter_id] = _registered(settings)
    click = FakeInteraction(h.members[0], h.channel, client=h.bot)
    assert "now serves" in await PromoteButton("pirate", adapter_id).press(click, h.bot.services)
    assert served_map(settings)["pirate"] == adapter_id

    # "it" is the pirate persona's served adapter. Ollama needs a base GGUF, which only the packaged SmolLM2
    # has (tests/eval covers Ollama creation against a fake server); on the tiny model the answer is one
    # clear sentence saying what to do instead.
    [export] = await say(h, "export it to ollama")
    # the GGUF is made (the tiny base is converted once); no Ollama runs here, which the reply says in one sentence
    assert export.content == "Cannot reach Ollama at http://127.0.0.1:11434; start it (`ollama serve`) or set ollama.host."

    [switched] = await say(h, "talk like the pirate")
    assert adapter_id in switched.content
    [answer] = await say(h, "what should I pack for a voyage?")
    assert answer.content and "error" not in answer.content.lower()
    assert router.sessions[str(h.channel.id)].persona == "pirate"
    reply = router.handle(_incoming(h, "and where do we sail?"))
    assert reply.args.get("adapter") == adapter_id  # the new adapter answered

    [question] = await say(h, "roll it back")  # destructive: it says what will happen and waits for a yes
    assert "pirate" in question.content and served_map(settings)["pirate"] == adapter_id
    [rolled] = await say(h, "yes")
    assert "pirate" in rolled.content or "none" in rolled.content.lower()
    assert "pirate" not in served_map(settings)
    assert router.handle(_incoming(h, "still a pirate?")).args.get("adapter") is None  # back to the base


def _registered(settings: Settings) -> list[str]:
    from skills.train.adapters import list_adapters

    return [a.id for a in list_adapters(settings)]


def _incoming(h, text: str):
    from config.messages import IncomingMessage

    return IncomingMessage(transport="discord", channel=str(h.channel.id), user=str(h.members[0].id), text=text)
