"""A misheard Discord voice note gets "Did you mean …?" with Confirm/Cancel buttons; the asker's Confirm runs it.

The transcript is wrong by construction: Whisper stands behind a recogniser that hears "Can't solve the pirate
job." (what an espeak clip of "cancel the pirate job" once gave), so the test does not depend on which words a
given Whisper and espeak-ng version happen to get wrong.
"""

from __future__ import annotations

import wave
from pathlib import Path

import discord.ext.test as dpytest
from discord.webhook.async_ import async_context

from skills.voice import Transcript
from tests.discord.conftest import SENT_COMPONENTS
from tests.discord.test_buttons_and_permissions import InteractionCallbacks, button_press, wait_for

MISHEARD = "Can't solve the pirate job."


def silent_clip(path: Path, seconds: float = 1.0) -> Path:
    """A short 16 kHz mono WAV: a voice note's attachment (its sound is never listened to here)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * int(16000 * seconds))
    return path


async def test_misheard_voice_note_asks_and_confirm_runs_it(make_harness, settings, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    from agent.discord_bot import services
    from agent.router import Router

    heard: list[Path] = []

    def mishear(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - transcribe_file's signature
        heard.append(Path(path))
        return Transcript(text=MISHEARD, language="en", duration_s=1.0, segments=[])

    monkeypatch.setattr(services, "transcribe_file", mishear)
    clip = silent_clip(tmp_path / "voice-message.wav")
    h = await make_harness(router=Router(settings))
    await dpytest.message("", channel=h.channel, member=h.members[0], attachments=[str(clip)])
    sent = await wait_for(lambda: h.sent())
    answer = sent[-1]
    assert heard and "Did you mean: \u201ccancel the pirate job\u201d?" in answer.content, [m.content for m in sent]
    [[confirm, _cancel]] = [row["components"] for row in SENT_COMPONENTS[answer.id]]

    discord_side = InteractionCallbacks()
    async_context.set(discord_side)
    h.bot._connection.parse_interaction_create(button_press(h.bot, h.members[0], h.channel, answer.id, confirm["custom_id"]))
    [done] = await wait_for(lambda: discord_side.answers)
    # The yes handled `cancel` like a typed command: with the asker's own permission (read, so refused here).
    assert "'cancel' needs the 'train' permission" in done["data"]["content"], done
