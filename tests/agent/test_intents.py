"""Table-driven: natural phrasings of the core intents (typos, casing, politeness) and non-commands."""

from __future__ import annotations

import pytest

from agent.grammar import default_grammar, resolve
from agent.intents import normalize

parse_command = default_grammar().parse_command

PERSONAS = ["pirate", "butler"]

PHRASINGS = [
    ("tune a pirate persona adapter", "tune", {"persona": "pirate"}),
    ("@selftune tune a pirate persona adapter", "tune", {"persona": "pirate"}),
    ("Train the pirate model please", "tune", {"persona": "pirate"}),
    ("TRAIN A PIRATE ADAPTER", "tune", {"persona": "pirate"}),
    ("can you fine-tune the butler persona on #butler-chat?", "tune", {"persona": "butler", "dataset": "#butler-chat"}),
    ("trian a pirate adapter", "tune", {"persona": "pirate"}),
    ("please finetune pirate with qlora", "tune", {"persona": "pirate", "method": "qlora"}),
    ("hey, could you train a new sarcastic persona using synthetic data", "tune", {"persona": "sarcastic", "dataset": "synthetic"}),
    ("start a new training for the pirate", "tune", {"persona": "pirate"}),
    ("tune pirate on data/pirate.jsonl", "tune", {"persona": "pirate", "dataset": "data/pirate.jsonl"}),
    ("bitte trainiere... no wait, train the butler adapter bitte", "chat", {}),
    ("Bitte train the butler adapter", "tune", {"persona": "butler"}),
    ("por favor tune the pirate persona", "tune", {"persona": "pirate"}),
    ("s'il te plaît, train a pirate adapter, merci", "tune", {"persona": "pirate"}),
    ("I'd like to train a pirate lora", "tune", {"persona": "pirate", "method": "lora"}),
    ("how's the pirate job?", "status", {"job": "pirate"}),
    ("what's the status of the pirate job?", "status", {"job": "pirate"}),
    ("status", "status", {}),
    ("STATUS?", "status", {}),
    ("stauts of job 12", "status", {"job": "12"}),
    ("how is the training going", "status", {}),
    ("is the butler training done yet?", "status", {"job": "butler"}),
    ("show me the progress", "status", {}),
    ("any news on the pirate job", "status", {"job": "pirate"}),
    ("progress pls", "status", {}),
    ("stop that training", "cancel", {}),
    ("cancel job 7", "cancel", {"job": "7"}),
    ("please cancel the pirate job", "cancel", {"job": "pirate"}),
    ("cancle it", "cancel", {}),
    ("abort!", "cancel", {}),
    ("kill the pirate training", "cancel", {"job": "pirate"}),
    ("Stop the job, thanks", "cancel", {}),
    ("evaluate the pirate adapter", "eval", {"adapter": "pirate"}),
    ("evalute pirate", "eval", {"adapter": "pirate"}),
    ("how good is the butler adapter?", "eval", {"adapter": "butler"}),
    ("run an eval on the pirate model", "eval", {"adapter": "pirate"}),
    ("test the pirate adapter please", "eval", {"adapter": "pirate"}),
    ("export the pirate adapter to ollama", "export", {"adapter": "pirate", "to": "ollama"}),
    ("exprot pirate to gguf", "export", {"adapter": "pirate", "to": "gguf"}),
    ("push the butler model to ollama", "export", {"adapter": "butler", "to": "ollama"}),
    ("Export pirate", "export", {"adapter": "pirate"}),
    ("merge the pirate adapter", "export", {"adapter": "pirate", "to": "merged"}),
    ("schedule a nightly retrain of pirate", "schedule", {"action": "add", "persona": "pirate"}),
    ("schedule a nightly retrain of pirate at 2am", "schedule", {"action": "add", "persona": "pirate", "at": "2am"}),
    ("retrain the pirate every night", "schedule", {"action": "add"}),
    ("retrain the pirate every hour", "schedule", {"action": "add", "every_minutes": 60}),
    ("list schedules", "schedule", {"action": "list"}),
    ("what's scheduled?", "schedule", {"action": "list"}),
    ("pause the pirate retrain", "schedule", {"action": "pause", "persona": "pirate"}),
    ("resume the pirate retrain", "schedule", {"action": "resume", "persona": "pirate"}),
    ("shedule pirate daily", "schedule", {"persona": "pirate"}),
    ("what did you improve this week?", "improve", {}),
    ("remove the schedule for pirate", "schedule", {"action": "remove"}),
    ("roll back the pirate adapter", "rollback", {"adapter": "pirate"}),
    ("rollback pirate", "rollback", {"adapter": "pirate"}),
    ("undo the last butler promotion", "rollback", {"adapter": "butler"}),
    ("start collecting this channel", "collect", {"enabled": True}),
    ("stop collecting", "collect", {"enabled": False}),
    ("collect off", "collect", {"enabled": False}),
    ("please record conversations in this channel", "collect", {"enabled": True}),
    ("don't record messages here", "collect", {"enabled": False}),
    ("forget everything I said", "forget", {"scope": "me"}),
    ("please delete my messages", "forget", {"scope": "me"}),
    ("forget what I said about my address", "forget", {"query": "my address"}),
    ("wipe this channel's history", "forget", {"scope": "channel"}),
    ("help", "help", {}),
    ("HELP!", "help", {}),
    ("hlep", "help", {}),
    ("what can you do?", "help", {}),
    ("ayuda por favor", "help", {}),
    ("hilfe bitte", "help", {}),
    ("!tune pirate", "tune", {"persona": "pirate"}),
    ("/status 12", "status", {"job": "12"}),
    ("!cancel", "cancel", {}),
    ("/export pirate to=ollama", "export", {"adapter": "pirate", "to": "ollama"}),
    ("!help", "help", {}),
]

NON_COMMANDS = [
    "what is a schedule in python?",
    "what's the weather like on the ship?",
    "what is the capital of France?",
    "tell me a joke about pirates",
    "I love training my dog",
    "the train was late today",
    "can you help me write a poem?",
    "stop",
    "I forgot my keys",
    "forget it",
    "my brain hurts",
    "how are you?",
    "what's the weather like",
    "export controls are complicated",
    "the test went fine",
    "Schedules are hard to keep",
    "explain LoRA in one sentence",
    "who are you",
    "status quo bias is interesting",
    "thanks!",
]


def _matches(text: str, intent: str, args: dict) -> bool:
    got = resolve(text, PERSONAS)
    return got.name == intent and all(got.args.get(k) == v for k, v in args.items())


def test_at_least_95_percent_of_phrasings_resolve():
    assert len(PHRASINGS) >= 60
    misses = [(t, resolve(t, PERSONAS)) for t, i, a in PHRASINGS if not _matches(t, i, a)]
    rate = 1 - len(misses) / len(PHRASINGS)
    assert rate >= 0.95, f"{rate:.0%} resolved; misses: {misses}"


@pytest.mark.parametrize("text", NON_COMMANDS)
def test_non_commands_are_chat(text):
    assert resolve(text, PERSONAS).name == "chat"


def test_normalize_strips_politeness_and_typos():
    assert normalize("Hey, please trian the pirate adapter, thanks!") == "train the pirate adapter"


def test_command_keyword_args_override_guesses():
    intent = parse_command("!tune pirate dataset=#chat method=dpo", PERSONAS)
    assert intent.args == {"persona": "pirate", "dataset": "#chat", "method": "dpo"}
    assert parse_command("!nonsense", PERSONAS) is None


def test_phrasings_the_grammar_misses_go_to_the_llm_never_to_another_command():
    """A miss may fall through to chat (the LLM then picks the tool); it must never run a different command."""
    wrong = [(text, intent, resolve(text, PERSONAS).name) for text, intent, args in PHRASINGS
             if not _matches(text, intent, args) and resolve(text, PERSONAS).name not in ("chat", intent)]
    assert wrong == []
