"""After a promotion the retrain refreshes the Ollama model when a server answers; failures are recorded."""

from __future__ import annotations

from config.settings import Settings
from skills.retrain import RetrainOutcome, _update_serving
from tests.eval.fake_ollama import FakeOllama


def test_no_ollama_means_local_serving(settings: Settings) -> None:
    settings.ollama.host = "http://127.0.0.1:9"  # discard port: nothing answers
    outcome = RetrainOutcome(persona="pirate")
    _update_serving(settings, "pirate", "pirate-lora/v1", outcome)
    assert outcome.steps[-1].ok and "local serving follows the served pointer" in outcome.steps[-1].detail


def test_failed_ollama_update_is_recorded_and_promotion_stands(settings: Settings) -> None:
    with FakeOllama() as server:
        settings.ollama.host = server.host
        outcome = RetrainOutcome(persona="pirate")
        _update_serving(settings, "pirate", "no-such-adapter/v1", outcome)
        assert ("GET", "/api/version", None) in server.calls
    step = outcome.steps[-1]
    assert step.step == "serve" and not step.ok and step.detail.startswith("Ollama model not updated: ")
