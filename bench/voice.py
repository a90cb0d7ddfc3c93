"""Voice benchmark: Whisper tiny.en int8 real-time factor on CPU and voice-message → intent latency.

Clips of ~3, 10 and 30 s are spoken by espeak-ng and encoded as Discord-style Ogg Opus.
RTF = transcription seconds / audio seconds (target <= 0.2). The end-to-end figure includes
decoding, transcription and the router's intent resolution of the transcript (not running the skill).
Usage: python bench/voice.py [--json OUT]
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

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import Settings  # noqa: E402
from skills.voice import get_model, transcribe_file  # noqa: E402
from tests.voice.audio import speak, to_ogg_opus  # noqa: E402

SENTENCE = "Train a pirate persona adapter. "  # a phrasing espeak-ng and tiny.en agree on
TARGETS = {"3s": 1, "10s": 5, "30s": 14}  # sentence repeats per clip (~2.2 s each)
REPEATS = 3


def make_clips(folder: Path) -> dict[str, Path]:
    """Speak each clip and encode it as Ogg Opus."""
    return {
        name: to_ogg_opus(speak(SENTENCE * n, folder / f"{name}.wav"), folder / f"{name}.ogg")
        for name, n in TARGETS.items()
    }


def route_intent(text: str) -> str:
    """The intent the router's resolver gives a transcript (what `Router.handle` dispatches on)."""
    from agent.intents import resolve

    return resolve(text, ["pirate"]).name


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="Write results here as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", base_model="tiny")
        get_model(settings.voice)  # load once, outside the timings
        rows = []
        for name, clip in make_clips(Path(tmp)).items():
            times, e2e = [], []
            for _ in range(REPEATS):
                start = time.perf_counter()
                result = transcribe_file(clip, settings, ["pirate"])
                times.append(time.perf_counter() - start)
                intent = route_intent(result.text)
                e2e.append(time.perf_counter() - start)
            transcribe_s = statistics.median(times)
            rows.append({
                "clip": name, "audio_s": result.duration_s, "transcribe_s": round(transcribe_s, 3),
                "rtf": round(transcribe_s / result.duration_s, 3), "voice_to_intent_s": round(statistics.median(e2e), 3),
                "intent": intent,
            })
    report = {"benchmark": "voice", "model": "tiny.en int8 cpu", "target_rtf": 0.2, "rows": rows}
    for row in rows:
        print(f"{row['clip']:>4}: audio {row['audio_s']:5.1f} s  transcribe {row['transcribe_s']:.2f} s  "
              f"RTF {row['rtf']:.3f}  voice→intent {row['voice_to_intent_s']:.2f} s  intent={row['intent']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
