"""The benchmark table: one row per figure with baseline, ratio, target, ✓/✗ and note; raw JSON fields only in JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_run_all_table", REPO / "bench" / "run_all.py")
run_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all)

TRAIN_OUT = """model smollm2, device cpu, lora, 8 steps, batch 4, max_length 512, OMP_NUM_THREADS=1
sft ckpt=off tokens/s: baseline 100.0 | ours 150.0 | ratio 1.50 (target >= 1.3)
sft ckpt=off peak RSS MiB: baseline 2000 | ours 2100 | ratio 1.05 (target <= 1.0)
"""


def test_table_marks_targets_and_keeps_raw_fields_out(tmp_path: Path) -> None:
    benches, out = tmp_path / "bench", tmp_path / "results"
    benches.mkdir()
    (benches / "train.py").write_text(
        "import argparse, json, pathlib\np = argparse.ArgumentParser()\n"
        'p.add_argument("--json", type=pathlib.Path)\na = p.parse_args()\n'
        'a.json.write_text(json.dumps({"results": [{"ours": {"rss": 123456789}}]}))\n'
        f"print({TRAIN_OUT!r})\n", encoding="utf-8")
    assert run_all.main(["--dir", str(benches), "--out", str(out), "--timeout", "60"]) == 0
    table = (out / "summary.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| train | sft")]
    assert len(rows) == 2
    assert "| sft ckpt=off tokens/s | 150 | 100 | 1.5 | tokens/s | ratio >= 1.3 | ✓ |" in rows[0]
    assert "| sft ckpt=off peak RSS | 2,100 | 2,000 | 1.05 | MiB | ratio <= 1.0 | ✗ |" in rows[1]
    assert "SFTTrainer" in rows[0] and "rss" not in table
    doc = json.loads((out / "summary.json").read_text())
    raw = [f for f in doc["figures"] if f["raw"]]
    assert [f["figure"] for f in raw] == ["results[0].ours.rss"]


def test_targets_of_every_kind() -> None:
    assert run_all.meets("ratio >= 10", 50.0, 4.0) is True
    assert run_all.meets("ratio <= 1.5", 16.0, 10.0) is False
    assert run_all.meets("overhead < 20 ms", 30.0, 15.0) is True
    assert run_all.meets("overhead < 10 %", 12.0, 10.0) is False
    assert run_all.meets("< 50 ms", 51.0, None) is False
    assert run_all.meets("—", 1.0, None) is None and run_all.meets("ratio >= 1.3", 1.0, None) is None


AGENT_OUT = """SmolLM2 plain chat, model loaded, in-process: all 30 tools offered 47.32 s | first token 0.77 s (target < 2 s)
SmolLM2 plain chat, model loaded, in-process: 60-token answer 8.40 s (60 tokens, median of 3; target < 8 s)
"""


def test_streamed_chat_rows(tmp_path: Path) -> None:
    benches, out = tmp_path / "bench", tmp_path / "results"
    benches.mkdir()
    (benches / "agent.py").write_text(f"print({AGENT_OUT!r})\n", encoding="utf-8")
    assert run_all.main(["--dir", str(benches), "--out", str(out), "--timeout", "60"]) == 0
    table = (out / "summary.md").read_text()
    first = next(line for line in table.splitlines() if "SmolLM2 first token" in line)
    answer = next(line for line in table.splitlines() if "SmolLM2 60-token answer" in line)
    assert "| 0.77 | 47.3 |" in first and "| < 2 s | ✓ |" in first and "model loaded" in first
    assert "| 8.4 |" in answer and "| < 8 s | ✗ |" in answer


VOICE_OUT = """held-out voices: 47 speakers (en-gb-scotland, en-gb-x-gbclan, en-029, en-us-nyc x 30 variants), 48 clips
tiny.en: 48 held-out clips  intent accuracy 63% (35 commands)  did-you-mean rate 4% (right suggestion 6%)  wrong-action rate 0% (0)  chat kept 13/13  WER 0.66  median RTF 0.212 (CPU time 0.444)
    by condition: clean 4/5, white noise 3/5
base: 48 held-out clips  intent accuracy 71% (35 commands)  did-you-mean rate 6% (right suggestion 6%)  wrong-action rate 2% (1)  chat kept 12/13  WER 0.52  median RTF 0.514 (CPU time 1.02)
tiny.en (one decode): 48 held-out clips  intent accuracy 60% (35 commands)  did-you-mean rate 6% (right suggestion 9%)  wrong-action rate 0% (0)  chat kept 13/13  WER 0.66  median RTF 0.171 (CPU time 0.365)
small.en: unavailable (not packaged on PyPI)
"""


def test_voice_rows_are_the_held_out_figures_per_model(tmp_path: Path) -> None:
    benches, out = tmp_path / "bench", tmp_path / "results"
    benches.mkdir()
    (benches / "voice.py").write_text("import sys\nassert '--quick' in sys.argv\n"
                                      f"print({VOICE_OUT!r})\n", encoding="utf-8")
    assert run_all.main(["--dir", str(benches), "--out", str(out), "--timeout", "60"]) == 0
    rows = {line.split(" | ")[1]: line for line in (out / "summary.md").read_text().splitlines() if " | " in line}
    assert "| 63 |" in rows["spoken command → intent, held-out voices (tiny.en)"] and "| >= 90 % | ✗ |" in \
        rows["spoken command → intent, held-out voices (tiny.en)"]
    assert "| 63 | 60 | 1.05 |" in rows["spoken command → intent, second decode vs one (tiny.en)"]
    assert "| <= 0 % | ✓ |" in rows["wrong-action rate, held-out voices (tiny.en)"]
    assert "| <= 0 % | ✗ |" in rows["wrong-action rate, held-out voices (base)"]
    assert "| 0.212 |" in rows["spoken command RTF, held-out voices (tiny.en)"] and "| <= 0.3 | ✓ |" in \
        rows["spoken command RTF, held-out voices (tiny.en)"]
    assert "| 0.52 |" in rows["spoken command WER, held-out voices (base)"]
    assert "| 6 |" in rows['"Did you mean" rate, held-out voices (base)']


PRECISION_OUT = """sft ckpt=off precision: baseline fp32 | ours bf16
sft ckpt=off tokens/s: baseline 60.0 | ours 120.0 | ratio 2.00 (target >= 1.3)
sft ckpt=off train loss: baseline 7.100 | ours 7.200 (mean over the same rows, batched in a different order)
sft ckpt=off bf16 tokens/s: baseline 100.0 | ours 110.0 | ratio 1.10 (target >= 1.3)
kto ckpt=on bf16 peak RSS MiB: baseline 2000 | ours 1500 | ratio 0.75 (target <= 1.0)
"""


def test_train_rows_say_which_precision_each_side_ran() -> None:
    rows = {f.figure: f for f in run_all.parse_text("train", PRECISION_OUT)}
    assert set(rows) == {"sft ckpt=off tokens/s", "sft ckpt=off train loss", "sft ckpt=off bf16 tokens/s",
                         "kto ckpt=on bf16 peak RSS"}
    assert rows["sft ckpt=off tokens/s"].met is True and "TRL fp32" in rows["sft ckpt=off tokens/s"].note
    assert rows["sft ckpt=off bf16 tokens/s"].met is False and "both bf16" in rows["sft ckpt=off bf16 tokens/s"].note
    assert rows["sft ckpt=off train loss"].met is None and rows["sft ckpt=off train loss"].baseline == 7.1
    assert rows["kto ckpt=on bf16 peak RSS"].met is True and "KTOTrainer" in rows["kto ckpt=on bf16 peak RSS"].note


MEMORY_OUT = """[  10000 msgs] recall k=5, no filter     : ours p50    2.0 ms p95   10.5 ms | ours w/ precomputed vector p50   1.3 p95   5.5 | raw collection.query p50   1.3 p95   8.2 | overhead p95 ours/raw 1.28x, wrapper-only 0.68x | R@5 0.895 (200 q)
query embedding model2vec            : p50  0.046 ms p95  0.063 ms | R@5 0.990 over 2000 messages (target p50 <= 3 ms, R@5 >= 0.9)
query embedding sentence-transformers: p50 18.157 ms p95 23.752 ms | R@5 1.000 over 2000 messages (target p50 <= 3 ms, R@5 >= 0.9)
[ 100000 msgs] recall k=5, no filter     : ours p50    1.5 ms p95    6.1 ms | ours w/ precomputed vector p50   1.0 p95   5.8 | raw collection.query p50   1.0 p95   5.3 | overhead p95 ours/raw 1.16x, wrapper-only 1.09x | R@5 0.955 (200 q)
"""
EVAL_OUT = """naive loop:     0.30 prompts/s      9.6 tokens/s (512 tokens generated in 53.3 s)
   batched:     3.60 prompts/s    115.2 tokens/s (512 tokens generated in 4.4 s)
 llama.cpp:     1.27 prompts/s     40.6 tokens/s (512 tokens generated in 12.6 s)
"""


def test_memory_and_eval_rows_read_the_figures_their_targets_name() -> None:
    memory = {f.figure: f for f in run_all.parse_text("memory", MEMORY_OUT)}
    recall = memory["recall p95 vs raw Chroma, 100k"]
    assert (recall.value, recall.baseline, recall.met) == (6.1, 5.3, True)  # the 100k line, not the 10k one
    assert (memory["recall R@5, 100k"].value, memory["recall R@5, 100k"].met) == (0.955, True)
    assert memory["query embedding p50, model2vec"].met is True
    assert memory["query embedding p50, sentence-transformers"].met is False
    assert memory["query embedding R@5, model2vec"].value == 0.99
    assert "query embedding p50, chroma-onnx" not in memory  # not printed, not in the table
    evals = {f.figure: f for f in run_all.parse_text("eval", EVAL_OUT)}
    assert evals["batched torch generation vs one-at-a-time"].ratio == 12.0
    assert evals["batched torch generation vs one-at-a-time"].met is True
    assert evals["batched torch tokens/s vs one-at-a-time"].ratio == 12.0
    assert evals["llama.cpp server generation vs one-at-a-time torch"].met is False


FIRSTRUN_OUT = """2 CPU(s), load average 1.2 at the start
make install (venv present, empty machine cache; ran make install): 131.0 s, CPU 70.2 s
first reply, fresh state dir after make install: 9.8 s (exit 11.0 s, CPU 9.1 s) | without the machine cache 81.5 s (CPU 77.0 s)
"""


def test_firstrun_rows_time_install_and_the_first_reply(tmp_path: Path) -> None:
    benches, out = tmp_path / "bench", tmp_path / "results"
    benches.mkdir()
    (benches / "firstrun.py").write_text(f"print({FIRSTRUN_OUT!r})\n", encoding="utf-8")
    assert run_all.main(["--dir", str(benches), "--out", str(out), "--timeout", "60"]) == 0
    rows = (out / "summary.md").read_text().splitlines()
    install = next(line for line in rows if "make install, one-time setup" in line)
    first = next(line for line in rows if "fresh state dir" in line)
    before = next(line for line in rows if "without the machine cache" in line)
    assert "| 131 |" in install and "| 9.8 |" in first and "| < 15 s | ✓ |" in first and "| 81.5 |" in before


REPLAY_OUT = """model smollm2, 12 steps x batch 4, lr 0.001, 40 pirate rows; load average 6.1 before, 4.2 after, on 2 cores
replay share 0.25 vs 0: forgetting accuracy 0.344 vs 0.219 | persona held-out loss 2.989 vs 2.881 (total 382 s)
"""


def test_replay_rows_compare_with_the_tune_without_replay(tmp_path: Path) -> None:
    benches, out = tmp_path / "bench", tmp_path / "results"
    benches.mkdir()
    (benches / "replay.py").write_text(f"print({REPLAY_OUT!r})\n", encoding="utf-8")
    assert run_all.main(["--dir", str(benches), "--out", str(out), "--timeout", "60"]) == 0
    rows = (out / "summary.md").read_text().splitlines()
    accuracy = next(line for line in rows if "forgetting accuracy" in line)
    loss = next(line for line in rows if "persona held-out loss" in line)
    assert "| 0.344 | 0.219 |" in accuracy and "| ratio >= 1.0 | ✓ |" in accuracy
    assert "| 2.99 | 2.88 | 1.04 |" in loss
