"""The recall index heals: with chroma/ deleted, `selftune memory search` rebuilds it from the log and finds the
message, or (while the bot rebuilds it in the background) says it is being rebuilt. Never an empty success.

Real SQLite log, real Chroma, the real CLI (CliRunner) and the bot's memory hooks with their background thread.
"""

from __future__ import annotations

import json
import shutil
import time

from typer.testing import CliRunner

from agent.cli.main import app
from agent.memory_hooks import MemoryHooks
from config.settings import Settings
from memory import heal
from memory.store import Memory

runner = CliRunner()
QUERY = "where does the staging server live"


def _logged_then_index_lost(settings: Settings, say) -> None:
    memory = Memory(settings)
    memory.log_many([say("The staging server lives at rack 12", channel="ops", author="carol"),
                     say("I love sourdough bread", channel="food", author="dave")])
    memory.close()
    shutil.rmtree(settings.chroma_dir)


def _search() -> tuple[int, str]:
    result = runner.invoke(app, ["memory", "search", QUERY, "--json"])
    return result.exit_code, result.output


def _wait(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_search_after_chroma_was_deleted_rebuilds_it_and_finds_the_message(settings: Settings, say) -> None:
    _logged_then_index_lost(settings, say)

    code, output = _search()

    assert code == 0, output
    hits = json.loads(output[output.index("{"):])["hits"]
    assert hits[0]["text"] == "The staging server lives at rack 12"
    assert not heal.marker_path(settings.home).exists()
    again = Memory(settings)
    assert again.index.count() == 2 and again.recall("sourdough", k=1)[0].author == "dave"
    again.close()


def test_while_the_bot_rebuilds_in_the_background_a_search_says_so_then_finds(settings: Settings, say) -> None:
    _logged_then_index_lost(settings, say)
    hooks = MemoryHooks(settings, background=True)  # as `selftune run` starts it
    try:
        _wait(lambda: heal.marker_path(settings.home).exists())

        code, output = _search()
        assert code != 0 and "recall index is being rebuilt from the conversation log" in output
        assert "search again in a minute" in output
        assert hooks.recall(QUERY, "ops") == []  # the chat goes on without memory meanwhile

        _wait(lambda: not heal.marker_path(settings.home).exists())
        code, output = _search()
        assert code == 0 and "rack 12" in json.loads(output[output.index("{"):])["hits"][0]["text"]
        assert hooks.recall(QUERY, "ops") == ["carol: The staging server lives at rack 12"]
    finally:
        hooks.close()


def test_a_rebuild_marker_left_by_a_dead_process_does_not_block_search(settings: Settings, say) -> None:
    _logged_then_index_lost(settings, say)
    heal.marker_path(settings.home).write_text(json.dumps({"pid": 2**22 + 12345, "started": 0}))

    code, output = _search()

    assert code == 0 and "rack 12" in output
