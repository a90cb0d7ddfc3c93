"""Decoding that does not loop: each provider's repetition control, and the last guard on what it wrote.

`Decoding` (from Settings.llm) carries the penalties every provider sends its model and the stop sequences;
the guard (config.repetition) catches what still loops, whatever the provider: the answer is cut at its first
repeat and marked degenerate, and a streamed answer stops there too (the generation or the HTTP stream ends).
Providers built without a Decoding (evaluation, judges) generate greedily and unpenalised, with no guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config.repetition import RepetitionLimit, repetition_cut, stop_cut, trim
from skills.providers.base import ChatResult, TokenSink


@dataclass(frozen=True)
class Decoding:
    """Repetition control for chat answers (from Settings.llm); providers built without one decode greedily and
    unpenalised, as evaluation does."""

    repetition_penalty: float = 1.0  # local `repetition_penalty`, Ollama's and llama.cpp's `repeat_penalty`
    no_repeat_ngram_size: int = 0  # local only: no token n-gram of this size twice
    repeat_last_n: int = 64  # Ollama/llama.cpp: how many recent tokens the penalty looks at
    frequency_penalty: float = 0.0  # OpenAI-compatible servers
    presence_penalty: float = 0.0
    stop: tuple[str, ...] = ()
    limit: RepetitionLimit = field(default_factory=RepetitionLimit)

    def trim(self, text: str) -> tuple[str, bool]:
        """The answer ended at a stop sequence and cut at its first repeat; True when it looped."""
        return trim(text, self.limit, self.stop)

    def guard(self, sink: TokenSink | None) -> GuardedStream:
        """A streaming sink that stops when the answer loops or reaches a stop sequence."""
        return GuardedStream(sink, self.limit, self.stop)


def decoding_of(cfg: Any) -> Decoding:
    """The chat answers' Decoding from Settings.llm."""
    return Decoding(repetition_penalty=cfg.repetition_penalty, no_repeat_ngram_size=cfg.no_repeat_ngram_size,
                    repeat_last_n=cfg.repeat_last_n, frequency_penalty=cfg.frequency_penalty,
                    presence_penalty=cfg.presence_penalty, stop=tuple(cfg.stop),
                    limit=RepetitionLimit(repeats=cfg.loop_repeats, ngram=cfg.loop_ngram))


class GuardedStream:
    """An `on_token` sink that forwards pieces until the answer loops or reaches a stop sequence, then stops.

    Providers check `stopped` after each piece to end the generation (or close the stream). Pieces are shown as
    they come (servers apply the stop sequences themselves); what was shown beyond the cut is corrected by the
    final text (agent.streaming.StreamedText.rest).
    """

    def __init__(self, sink: TokenSink | None, limit: RepetitionLimit, stops: Iterable[str] = ()) -> None:
        self.sink, self.limit, self.stops = sink, limit, tuple(stops)
        self.text = ""
        self.stopped = False

    def __call__(self, piece: str) -> None:
        """Take one more piece; forward it unless the answer ends here."""
        if self.stopped:
            return
        self.text += piece
        if stop_cut(self.text, self.stops) is not None or repetition_cut(self.text, self.limit) is not None:
            self.stopped = True
        elif self.sink is not None:
            self.sink(piece)


def trimmed(result: ChatResult, decoding: Decoding | None) -> ChatResult:
    """A provider's answer cut at a loop or stop sequence when it guards against them."""
    if decoding is None:
        return result
    text, looped = decoding.trim(result.text)
    return result.model_copy(update={"text": text.strip(), "degenerate": looped})
