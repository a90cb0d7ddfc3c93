"""Voice benchmark: spoken commands → intent, per Whisper model, on voices and speeds the tests don't use.

The command set is made at run time: espeak-ng speaks 6 commands in 2 voices x 2 speeds, plus a white-noise,
a Discord Ogg Opus and a 44.1 kHz stereo variant of each (42 clips). For every Whisper model it reports intent
accuracy (exact grammar alone, and with the tolerant matcher of agent/fuzzy_intents.py; a "Did you mean"
question whose suggestion is right counts apart), word error rate against the spoken text, voice→intent latency
and the real-time factor (transcription seconds / audio seconds, target <= 0.2; also on ~3, 10 and 30 s clips),
with the model loaded (as in the long-running bot). Commands are heard as the Router hears them: first in the
short voice.window_s window, again in Whisper's 30 s window when the transcript is not a clear command; the
same clips heard only in the 30 s window are measured beside it. CPU-time RTF is what a busy machine does not
inflate.
Usage: python bench/voice.py [--models tiny.en /path/to/ct2-folder] [--no-hotwords] [--json OUT] [-v]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.intents import resolve  # noqa: E402
from config.settings import Settings  # noqa: E402
from skills.voice import get_model, transcribe_file  # noqa: E402
from tests.voice.audio import add_noise, resample, speak, to_ogg_opus  # noqa: E402

COMMANDS = [  # (intent, what is said): short verbs are the ones tiny.en mishears
    ("tune", "tune the pirate persona adapter"),
    ("status", "what's the status of the pirate job"),
    ("cancel", "cancel the pirate job"),
    ("eval", "evaluate the pirate adapter"),
    ("rollback", "roll back the pirate adapter"),
    ("export", "export the pirate adapter to ollama"),
]
VOICES = ["en-us", "en-gb-x-rp+f3"]  # the tests speak with espeak's default voice at 150 wpm
SPEEDS = [130, 185]
PERSONAS = ["pirate", "butler"]
SENTENCE = "Train a pirate persona adapter. "  # the RTF clips
TARGETS = {"3s": 1, "10s": 5, "30s": 14}  # sentence repeats per clip (~2.2 s each)


def make_commands(folder: Path) -> list[dict[str, Any]]:
    """Speak every command in each voice and speed, then the noise, Opus and 44.1 kHz stereo variants."""
    clips = []
    for i, (intent, text) in enumerate(COMMANDS):
        for voice in VOICES:
            for wpm in SPEEDS:
                wav = speak(text, folder / f"{i}-{voice}-{wpm}.wav", wpm, voice)
                clips.append({"intent": intent, "text": text, "variant": f"{voice} {wpm}wpm", "path": wav})
        base = speak(text, folder / f"{i}-variant.wav", 160, "en-us+m3")
        clips.append({"intent": intent, "text": text, "variant": "white noise",
                      "path": add_noise(base, folder / f"{i}-noise.wav", volume=0.05)})
        clips.append({"intent": intent, "text": text, "variant": "ogg opus",
                      "path": to_ogg_opus(speak(text, folder / f"{i}-o.wav", 170, "en-gb-x-rp"), folder / f"{i}.ogg")})
        clips.append({"intent": intent, "text": text, "variant": "44.1k stereo",
                      "path": resample(base, folder / f"{i}-441.wav")})
    return clips


def words(text: str) -> list[str]:
    """Lowercase words without punctuation, for WER."""
    return [w.strip(".,?!\"'") for w in text.lower().replace("\u2019", "'").split() if w.strip(".,?!\"'")]


def wer(reference: str, heard: str) -> float:
    """Word error rate: word-level edit distance / reference length."""
    from rapidfuzz.distance import Levenshtein

    ref = words(reference)
    return Levenshtein.distance(ref, words(heard)) / max(1, len(ref))


def route(text: str, settings: Settings) -> tuple[str, str, str]:
    """(exact grammar's intent, intent after the tolerant matcher, how: exact|run|ask|chat) for a transcript."""
    from agent.fuzzy_intents import decide, guess
    from agent.intents import resolve

    exact = resolve(text, PERSONAS).name
    if exact != "chat":
        return exact, exact, "exact"
    found = guess(text, PERSONAS)
    action = decide(found, settings.voice)
    return exact, found.intent.name if found is not None and action != "chat" else "chat", action


def bench_model(model: str, clips: list[dict[str, Any]], settings: Settings, verbose: bool) -> dict[str, Any]:
    """Accuracy, WER and latency of one Whisper model on the command set."""
    settings = settings.model_copy(update={"voice": settings.voice.model_copy(update={"model": model})})
    get_model(settings)  # load once, outside the timings
    rows = []
    for clip in clips:
        start, cpu = time.perf_counter(), time.process_time()
        heard = transcribe_file(clip["path"], settings, PERSONAS,  # as the Router hears voice messages
                                accept=lambda text: resolve(text, PERSONAS).name != "chat")
        transcribe_s = time.perf_counter() - start
        exact, fuzzy, how = route(heard.text, settings)
        rows.append({"variant": clip["variant"], "expected": clip["intent"], "heard": heard.text, "exact": exact,
                     "intent": fuzzy, "how": how, "wer": wer(clip["text"], heard.text),
                     "rtf": transcribe_s / heard.duration_s, "cpu_rtf": (time.process_time() - cpu) / heard.duration_s,
                     "latency_s": time.perf_counter() - start})
        if verbose:
            print(f"  {clip['variant']:>14} {clip['intent']:>8} → {fuzzy:>8} ({how:5}) heard {heard.text!r}")
    n = len(rows)
    direct = sum(r["intent"] == r["expected"] and r["how"] in ("exact", "run") for r in rows)
    return {
        "model": model, "clips": n,
        "exact_grammar_accuracy": round(sum(r["exact"] == r["expected"] for r in rows) / n, 3),
        "intent_accuracy": round(direct / n, 3),
        "asked_right": round(sum(r["intent"] == r["expected"] and r["how"] == "ask" for r in rows) / n, 3),
        "wrong_run": sum(r["intent"] not in (r["expected"], "chat") and r["how"] != "ask" for r in rows),
        "wrong_ask": sum(r["intent"] not in (r["expected"], "chat") and r["how"] == "ask" for r in rows),
        "wer": round(statistics.mean(r["wer"] for r in rows), 3),
        "rtf_median": round(statistics.median(r["rtf"] for r in rows), 3),
        "rtf_mean": round(statistics.mean(r["rtf"] for r in rows), 3),
        "cpu_rtf_median": round(statistics.median(r["cpu_rtf"] for r in rows), 3),
        "voice_to_intent_s_median": round(statistics.median(r["latency_s"] for r in rows), 3),
        "by_variant": {v: round(sum(r["intent"] == r["expected"] and r["how"] in ("exact", "run")
                                    for r in rows if r["variant"] == v) / sum(r["variant"] == v for r in rows), 2)
                       for v in dict.fromkeys(r["variant"] for r in rows)},
        "misses": [(r["variant"], r["expected"], r["heard"], r["intent"], r["how"]) for r in rows
                   if not (r["intent"] == r["expected"] and r["how"] in ("exact", "run"))],
    }


def bench_rtf(folder: Path, settings: Settings) -> list[dict[str, Any]]:
    """Real-time factor of the configured model on ~3, 10 and 30 s Ogg Opus clips (median of 3)."""
    rows = []
    for name, n in TARGETS.items():
        clip = to_ogg_opus(speak(SENTENCE * n, folder / f"rtf-{name}.wav"), folder / f"rtf-{name}.ogg")
        times = []
        for _ in range(3):
            start = time.perf_counter()
            result = transcribe_file(clip, settings, PERSONAS)
            times.append(time.perf_counter() - start)
        rows.append({"clip": name, "audio_s": result.duration_s, "transcribe_s": round(statistics.median(times), 3),
                     "rtf": round(statistics.median(times) / result.duration_s, 3)})
    return rows


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en"], help="voice.model values to compare.")
    parser.add_argument("--no-hotwords", action="store_true", help="Measure without the hotwords bias.")
    parser.add_argument("--json", type=Path, help="Write results here as JSON.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Print every transcript.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", base_model="tiny")
        settings = settings.model_copy(update={"voice": settings.voice.model_copy(update={"hotwords": not args.no_hotwords})})
        clips = make_commands(Path(tmp))
        models = [bench_model(model, clips, settings, args.verbose) for model in args.models]
        full = settings.model_copy(update={"voice": settings.voice.model_copy(update={"window_s": 30.0})})
        before = bench_model(args.models[0], clips, full, args.verbose)  # every clip in Whisper's 30 s window
        before["model"] = f"{args.models[0]} (30 s window only)"
        models.append(before)
        rtf_rows = bench_rtf(Path(tmp), settings)
    for m in models:
        print(f"{m['model']}: {m['clips']} clips  intent accuracy {m['intent_accuracy']:.0%} (exact grammar alone "
              f"{m['exact_grammar_accuracy']:.0%}, asked 'Did you mean' with the right command {m['asked_right']:.0%}, "
              f"ran a wrong command {m['wrong_run']}, asked about one {m['wrong_ask']})  WER {m['wer']:.2f}  median RTF {m['rtf_median']:.3f} "
              f"(mean {m['rtf_mean']:.3f}, CPU time {m['cpu_rtf_median']:.3f})  "
              f"voice→intent {m['voice_to_intent_s_median']:.2f} s")
        print("    by variant: " + ", ".join(f"{v} {a:.0%}" for v, a in m["by_variant"].items()))
    for row in rtf_rows:
        print(f"{row['clip']:>4}: audio {row['audio_s']:5.1f} s  transcribe {row['transcribe_s']:.2f} s  RTF {row['rtf']:.3f}")
    report = {"benchmark": "voice", "hotwords": not args.no_hotwords, "target_intent_accuracy": 0.9,
              "target_rtf": 0.2, "models": models, "rtf": rtf_rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
