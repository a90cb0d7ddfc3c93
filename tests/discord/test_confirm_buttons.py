"""In Discord a destructive request is answered with what will happen and Confirm/Cancel buttons
(persistent DynamicItems); only the asker can confirm, by button or by typing "yes"."""

from __future__ import annotations

import discord.ext.test as dpytest
from discord.webhook.async_ import async_context

from config.workspace import open_workspace
from skills.train import adapters
from tests.agent.test_confirm import fake_adapter
from tests.discord.conftest import SENT_COMPONENTS
from tests.discord.test_buttons_and_permissions import InteractionCallbacks, button_press, wait_for


def adapter_ids(settings) -> list[str]:  # noqa: ANN001
    return [a.id for a in adapters.list_adapters(settings)]


async def ask_to_delete(h, settings):  # noqa: ANN001, ANN201
    """Alice (an admin) asks to delete every adapter; returns the bot's answer and its two buttons."""
    open_workspace(settings)
    fake_adapter(settings, "pirate-lora", "v1")
    fake_adapter(settings, "pirate-lora", "v2")
    settings.auth.admins.append(f"discord:{h.members[0].id}")
    await dpytest.message(f"{h.mention()} delete all my adapters", channel=h.channel, member=h.members[0])
    [answer] = await wait_for(lambda: h.sent())
    [[confirm, cancel]] = [row["components"] for row in SENT_COMPONENTS[answer.id]]
    return answer, confirm, cancel


async def test_confirm_button_deletes_only_for_the_asker(harness, settings):
    h = harness
    answer, confirm, cancel = await ask_to_delete(h, settings)
    assert answer.content.startswith("This will delete 2 adapters for good: pirate-lora/v1, pirate-lora/v2.")
    assert (confirm["label"], cancel["label"]) == ("Confirm", "Cancel")
    assert confirm["custom_id"].startswith("selftune:confirm:") and confirm["custom_id"].endswith(":yes")
    assert len(adapter_ids(settings)) == 2

    discord_side = InteractionCallbacks()
    async_context.set(discord_side)
    bob, alice = h.members[1], h.members[0]
    h.bot._connection.parse_interaction_create(button_press(h.bot, bob, h.channel, answer.id, confirm["custom_id"]))
    [refused] = await wait_for(lambda: discord_side.answers)
    assert "not yours" in refused["data"]["content"] and len(adapter_ids(settings)) == 2

    h.bot._connection.parse_interaction_create(button_press(h.bot, alice, h.channel, answer.id, confirm["custom_id"]))
    await wait_for(lambda: len(discord_side.answers) == 2)
    assert discord_side.answers[1]["data"]["content"].startswith("Deleted pirate-lora/v1, pirate-lora/v2")
    assert discord_side.answers[1]["data"]["flags"] == 64 and adapter_ids(settings) == []


async def test_a_typed_yes_confirms_without_a_mention(harness, settings):
    h = harness
    await ask_to_delete(h, settings)

    await dpytest.message("yes", channel=h.channel, member=h.members[0])

    [done] = await wait_for(lambda: h.sent())
    assert done.content.startswith("Deleted pirate-lora/v1, pirate-lora/v2") and adapter_ids(settings) == []
