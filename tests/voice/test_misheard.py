"""Misheard spoken commands: voices and speeds the other voice tests don't use, the "Did you mean" question,
and typed chat left alone. Clips are spoken by espeak-ng and transcribed by the packaged tiny.en."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app
from agent.fuzzy_intents import guess as guess_with
from agent.grammar import default_grammar
from agent.router import Router
from config.messages import Attachment, IncomingMessage
from config.settings import Settings
from skills.personas import personas_dir
from skills.providers.openai_compat import OpenAIProvider
from tests.agent.conftest import scripted_llm  # noqa: F401 - the scripted chat server fixture
from tests.agent.fake_skills import CALLS, fake_registry
from tests.agent.test_intents import NON_COMMANDS, PERSONAS
from tests.helpers import run_console
from tests.voice.audio import HAVE_ESPEAK, needs_sox, resample, speak

needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed (apt-get install espeak-ng)")
runner = CliRunner()


def voice_note(path: Path, text: str = "") -> IncomingMessage:
    return IncomingMessage(transport="console", channel="voice-test", text=text,
                           attachments=[Attachment(filename=path.name, path=path)])



def guess(text: str, personas: list[str]):  # noqa: ANN201
    """The matcher with the installed skills' declared voice verbs."""
    return guess_with(text, personas, default_grammar())

@pytest.fixture
def personas(settings: Settings) -> Settings:
    """The pirate and butler persona cards in the workspace (they prime Whisper and name the commands' objects)."""
    folder = personas_dir(settings.workspace_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name in PERSONAS:
        (folder / f"{name}.toml").write_text(f'name = "{name}"\nsystem_prompt = "Talk like a {name}."\n')
    return settings


@pytest.fixture
def router(personas: Settings, scripted_llm) -> Router:  # noqa: F811
    settings = personas
    return Router(settings, registry=fake_registry(),
                  provider=OpenAIProvider("scripted", base_url=scripted_llm.url + "/v1", timeout_s=5))


@needs_espeak
def test_spoken_commands_in_other_voices_reach_their_intent(router: Router, scripted_llm, tmp_path: Path) -> None:  # noqa: F811
    """A British female voice fast, an American voice fast: tiny.en mishears both, the commands still run."""
    status = speak("what's the status of the pirate job", tmp_path / "status.wav", 185, "en-gb-x-rp+f3")
    export = speak("export the pirate adapter to ollama", tmp_path / "export.wav", 185, "en-us")
    replies = [router.handle(voice_note(status)), router.handle(voice_note(export))]
    assert [r.intent for r in replies] == ["status", "export"], [r.transcript for r in replies]
    assert [name for name, _ in CALLS] == ["jobs.status", "export.run"]
    assert CALLS[1][1]["adapter"] == "pirate"
    assert scripted_llm.requests == []  # no made-up chat answer


@needs_espeak
def test_unclear_spoken_command_asks_did_you_mean_and_yes_runs_it(router: Router, scripted_llm, tmp_path: Path) -> None:  # noqa: F811
    clip = speak("evaluate the pirate adapter", tmp_path / "eval.wav", 185, "en-us")  # heard as "The emulator …"
    asked = router.handle(voice_note(clip))
    assert "Did you mean: \u201cevaluate the pirate adapter\u201d?" in asked.text, asked.text
    assert asked.confirm and asked.kind == "question" and not CALLS and scripted_llm.requests == []
    done = router.handle(IncomingMessage(transport="console", channel="voice-test", text="yes"))
    assert done.intent == "eval" and "Did you mean" not in done.text
    assert scripted_llm.requests == []


@needs_espeak
@needs_sox
def test_did_you_mean_no_does_nothing_and_buttons_settle_it(router: Router, scripted_llm, tmp_path: Path) -> None:  # noqa: F811
    # Misheard by construction (a recogniser that hears well must not turn this into a pass or a failure):
    # the clip says what tiny.en once heard for "evaluate the pirate adapter", at 44.1 kHz stereo.
    clip = resample(speak("email us at the pirate adapter", tmp_path / "eval.wav", 150, "en-us"), tmp_path / "eval-44k.wav")
    asked = router.handle(voice_note(clip))
    assert asked.confirm and "Did you mean: \u201cevaluate the pirate " in asked.text, asked.text
    assert router.handle(IncomingMessage(transport="console", channel="voice-test", text="no")).text == "OK, I did nothing."
    again = router.handle(voice_note(clip))
    pressed = router.press(IncomingMessage(transport="console", channel="voice-test"), again.confirm, True)
    assert pressed.intent == "eval" and [name for name, _ in CALLS] == ["eval.run"], pressed.text
    assert CALLS[0][1]["adapter"] == "pirate"
    assert scripted_llm.requests == []


@needs_espeak
def test_unsure_read_only_command_just_runs(router: Router, scripted_llm, tmp_path: Path) -> None:  # noqa: F811
    """Showing a status costs less than asking about it: an unsure status guess runs."""
    clip = speak("what's the status of the pirate job", tmp_path / "status.wav", 185, "en-us")  # "Let's stand up on …"
    reply = router.handle(voice_note(clip))
    assert reply.intent == "status" and reply.confirm is None and CALLS == [("jobs.status", {"job_id": "pirate"})]
    assert scripted_llm.requests == []


@needs_espeak
def test_did_you_mean_across_cli_calls(personas: Settings, tmp_path: Path) -> None:
    """`selftune chat --audio` asks; a later `selftune chat yes` (a new Router, the session from selftune.db) runs it."""
    clip = speak("evaluate the pirate adapter", tmp_path / "eval.wav", 185, "en-us")
    first = json.loads(runner.invoke(app, ["chat", "--audio", str(clip), "--json", "--no-memory"]).stdout)
    assert "Did you mean: \u201cevaluate the pirate adapter\u201d?" in first["reply"], first
    assert first["confirm"] and first["args"].get("suggested")
    second = json.loads(runner.invoke(app, ["chat", "yes", "--json", "--no-memory"]).stdout)
    assert second["intent"] == "eval" and "Did you mean" not in second["reply"], second
    assert "confirm" not in second


def test_typed_text_keeps_the_exact_grammar(router: Router, scripted_llm) -> None:  # noqa: F811
    """What Whisper misheard, typed, is chat: the tolerant matcher is for transcripts only."""
    reply = router.handle(IncomingMessage(transport="console", channel="typed", text="Let's stand up on the pirate job."))
    assert reply.intent == "chat" and reply.confirm is None and CALLS == []
    assert len(scripted_llm.requests) == 1


@pytest.mark.parametrize("text", NON_COMMANDS)
def test_chat_phrasings_stay_chat_even_when_spoken(text: str) -> None:
    found = guess(text, PERSONAS)
    assert found is None or found.confidence < Settings().voice.fuzzy_ask_at, found


@pytest.mark.parametrize(
    ("heard", "intent", "args"),
    [
        ("Can't solve the pirate job.", "cancel", {"job": "pirate"}),
        ("Can salt the pirate job.", "cancel", {"job": "pirate"}),
        ("And export the pirate adapter to alarm it.", "export", {"adapter": "pirate"}),
        ("export the pirate or napp to a llama.", "export", {"adapter": "pirate", "to": "ollama"}),
        ("Watch the status of the pirate genre.", "status", {"job": "pirate"}),
        ("The emulator the pirate adapter.", "eval", {"adapter": "pirate"}),
    ],
)
def test_mishearings_seen_from_tiny_en_map_back(heard: str, intent: str, args: dict) -> None:
    found = guess(heard, PERSONAS)
    assert found is not None and found.intent.name == intent and found.intent.args == args
    assert found.confidence >= Settings().voice.fuzzy_ask_at


def test_never_guesses_what_only_erases() -> None:
    """A loose match never reaches forget or delete (their confirmations are for clear requests)."""
    for heard in ("forgot the pirate adapter", "the lead the pirate adapter", "delayed the pirate adapter"):
        found = guess(heard, PERSONAS)
        assert found is None or found.intent.name not in ("forget", "delete"), found


@needs_espeak
def test_the_terminal_asks_did_you_mean_y_n(settings: Settings, tmp_path: Path) -> None:
    """`selftune run --console`, '/voice FILE': the question, then y runs the command (Enter alone would not)."""
    clip = speak("can't solve the pirate job", tmp_path / "cancel.wav", 150, "en-us")  # misheard by construction
    def console(lines: str) -> str:
        return run_console(settings.home, lines)

    out = console(f"/voice {clip}\n\nexit\n")
    assert "Did you mean: \u201ccancel the pirate job\u201d?" in out and "go ahead?" in out, out
    assert "OK, I did nothing." in out
    out = console(f"/voice {clip}\ny\nexit\n")
    assert "go ahead?" in out and "OK, I did nothing." not in out
    assert "There is no job 'pirate'" in out, out  # jobs.cancel ran on the pirate job (there is none here)
