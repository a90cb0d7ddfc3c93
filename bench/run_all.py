"""Run every bench/*.py script with a per-script timeout and write one table of figures vs their baselines.

    python bench/run_all.py [--only agent voice] [--timeout 900] [--out bench/results]

Every script's printed lines are read with the small patterns below, which pull "ours vs baseline" pairs out of
each script's side-by-side output: one table row per figure with its baseline, ratio, target, ✓/✗ and a note
where the baseline does different work. Scripts that accept `--json OUT` are asked for it; their raw fields go
to summary.json only. Output: bench/results/summary.md + summary.json (+ each script's log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

HERE = Path(__file__).resolve().parent
V = r"(?P<value>[0-9][0-9,]*\.?[0-9]*)"  # our figure
B = r"(?P<baseline>[0-9][0-9,]*\.?[0-9]*)"  # the baseline measured beside it in the same run
# script -> (figure, regex with named groups value [and baseline], unit, target, note). ratio = value / baseline.
# A target reads "ratio >= 1.3", "ratio <= 1.0", "overhead < 20 ms" (value - baseline), "overhead < 10 %" or
# "< 50 ms" (the value itself); the note says where the baseline does different work than ours.
SAME_WORK = "same rows, max length, LoRA and checkpointing setting on both sides"
LOSS = "mean training loss over the same rows, batched in a different order"
TRAINER = {"sft": "SFTTrainer", "dpo": "DPOTrainer", "kto": "KTOTrainer"}
# The bench's case names carry the precision: none = each side's default, else both sides in it.
PRECISION = {
    "": "defaults: ours bf16 for SFT where the device has it natively (DPO/KTO fp32 on CPU), TRL fp32 on CPU",
    "bf16": "both bf16 (TRL bf16=True: autocast over fp32 weights; ours bf16 weights)",
    "fp32": "both fp32 (ours with bf16 = false)",
}
PATTERNS: dict[str, list[tuple[str, str, str, str, str]]] = {
    "agent": [
        ("command intent via router", rf"skill direct {B} ms \| via router {V} ms", "ms", "overhead < 20 ms",
         "baseline calls the skill directly"),
        ("LLM turn via router", rf"raw provider {B} ms \| via router {V} ms", "ms", "overhead < 10 %",
         "baseline calls the provider directly"),
        ("SmolLM2 first token, plain chat", rf"all \d+ tools offered {B} s \| first token {V} s", "s", "< 2 s",
         "model loaded, in-process, streamed, 1 torch thread on 2 shared cores; baseline puts every tool schema in the prompt"),
        ("SmolLM2 60-token answer", rf"60-token answer {V} s", "s", "< 8 s",
         "model loaded, in-process, greedy, recall off, 1 torch thread on 2 shared cores"),
    ],
    "datasets": [
        ("validate rows/s vs load_dataset", rf"selftune validate_file\s+[0-9.]+ s\s+{V} rows/s(?s:.*)"
                                            rf"load_dataset\('json'\)\s+[0-9.]+ s\s+{B} rows/s", "rows/s", "ratio >= 1.0",
         "baseline converts to Arrow without validating; ours validates every row"),
    ],
    "eval": [
        ("batched torch generation vs one-at-a-time", rf"naive loop:\s+{B} prompts/s(?s:.*)batched:\s+{V} prompts/s",
         "prompts/s", "ratio >= 10", "same prompts, greedy, each answer stops at its end token; naive is plain fp32, "
                                     "batched runs a bf16 copy of the model where the CPU has bf16 (answers can differ slightly)"),
        ("batched torch tokens/s vs one-at-a-time", rf"naive loop:\s+[0-9.]+ prompts/s\s+{B} tokens/s(?s:.*)"
         rf"batched:\s+[0-9.]+ prompts/s\s+{V} tokens/s", "tokens/s", "ratio >= 10",
         "generated tokens counted on both sides up to each end token"),
        ("llama.cpp server generation vs one-at-a-time torch", rf"naive loop:\s+{B} prompts/s(?s:.*)"
         rf"llama\.cpp:\s+{V} prompts/s", "prompts/s", "ratio >= 10",
         "llama.cpp runs the packaged Q4_1 GGUF of the same model in C++ (greedy answers can differ)"),
    ],
    "train": [
        (f"{m} ckpt={c}{' ' + p if p else ''} {what}", rf"^{m} ckpt={c}{' ' + p if p else ''} {re.escape(key)}: "
         rf"baseline {B} \| ours {V}", unit, target if what != "train loss" else "—",
         f"{PRECISION[p]}; {SAME_WORK if what != 'train loss' else LOSS}; baseline plain trl.{TRAINER[m]}")
        for m in ("sft", "dpo", "kto") for c in ("off", "on") for p in ("", "bf16", "fp32")
        for what, key, unit, target in (("tokens/s", "tokens/s", "tokens/s", "ratio >= 1.3"),
                                        ("peak RSS", "peak RSS MiB", "MiB", "ratio <= 1.0"),
                                        ("train loss", "train loss", "", "—"))
        if what != "train loss" or not p  # one loss row per case of defaults: does ours' precision cost quality?
    ],
    "jobs": [
        ("local submit→running", rf"local submit->running\s+median {V} s", "s", "—", ""),
        ("event-loop lag p99 while following", rf"loop lag while following\s+p50 [0-9.]+ ms\s+p99 {V} ms", "ms",
         "< 50 ms", ""),
    ],
    "memory": [
        ("recall p95 vs raw Chroma, 100k", rf"\[ *100000 msgs\] recall k=5, no filter\s*: ours p50 +[0-9.]+ ms p95 +{V} ms"
                                           rf".*?raw collection\.query p50 +[0-9.]+ p95 +{B}", "ms", "ratio <= 1.5",
         "baseline is the Chroma query alone with a precomputed vector; ours embeds the query too"),
        ("recall R@5, 100k", rf"\[ *100000 msgs\] recall k=5, no filter.*R@5 {V}", "", ">= 0.9",
         "10k messages logged through Memory, 90k generated ones embedded by the same embedder and "
         "added in bulk"),
        *[(f"query embedding p50, {name}", rf"query embedding {re.escape(name)} *: p50 +{V} ms", "ms", "<= 3",
           "one query at a time in a warm process" + ("; Chroma pads every text to 256 tokens" if name == "chroma-onnx"
                                                      else ""))
          for name in ("model2vec", "onnx-int8", "onnx", "sentence-transformers", "torch", "chroma-onnx")],
        *[(f"query embedding R@5, {name}", rf"query embedding {re.escape(name)} *: .*R@5 {V}", "", ">= 0.9",
           "exact search over the same 2,000-message recall set")
          for name in ("model2vec", "onnx-int8", "sentence-transformers", "chroma-onnx")],
    ],
    "voice": [
        *[(f"spoken command → intent, held-out voices ({m})", rf"^{re.escape(m)}: \d+ held-out clips\s+intent accuracy "
           rf"{V}%", "%", ">= 90 %", "espeak-ng accents and variants never tuned on, 3 speeds, 3 pitches, noise, "
           "babble, reverb, telephone band, Opus 16 kbit/s, 8 kHz (--quick: 48 clips)") for m in ("tiny.en", "base")],
        ("spoken command → intent, second decode vs one (tiny.en)", rf"^tiny\.en: \d+ held-out clips\s+intent "
         rf"accuracy {V}%(?s:.*)^tiny\.en \(one decode\): \d+ held-out clips\s+intent accuracy {B}%", "%",
         "ratio >= 1.0", "baseline hears each clip once (no second decode with the command vocabulary)"),
        *[(f"{what} ({m})", rf"^{re.escape(m)}: \d+ held-out clips.*{key} {V}", unit, target, note)
          for m in ("tiny.en", "base")
          for what, key, unit, target, note in (
              ("\"Did you mean\" rate, held-out voices", "did-you-mean rate", "%", "—", ""),
              ("wrong-action rate, held-out voices", "wrong-action rate", "%", "<= 0 %",
               "a clip that ran a skill other than the one said, or one when chat was said"),
              ("spoken command WER, held-out voices", "WER", "", "—", ""),
              ("spoken command RTF, held-out voices", "median RTF", "×realtime", "<= 0.3",
               "model loaded, 2 CTranslate2 threads, wall time on shared cores; up to 3 decodes per unclear clip"))],
        ("transcribe RTF, 10 s clip", rf"10s: audio .* RTF {V}", "×realtime", "< 0.2", ""),
    ],
    "loop": [
        ("hidden-holdout 👍 rate, last night vs night 0", rf"thumbs_up_rate: night 0 {B} \| night \d+ {V}", "",
         "ratio >= 1.0", "simulated users' hidden rule on fresh prompts; --tiny checks the loop, not quality"),
        ("hidden-holdout style adherence, last night vs night 0", rf"adherence: night 0 {B} \| night \d+ {V}", "",
         "ratio >= 1.0", "persona card's style markers on the hidden holdout"),
        ("judge win rate vs night 0, last night", rf"judge_win_rate: night 0 {B} \| night \d+ {V}", "",
         "ratio >= 1.0", "position-swapped; night 0 vs itself is 0.5 by construction"),
        ("simulated nights, wall time", rf"wall time {V} s", "s", "—", "measured on shared cores"),
    ],
    "two_machines": [
        ("bot host peak RSS, one nightly retrain, Ray vs all-local",
         rf"host peak RSS: all-local {B} MiB \| ray {V} MiB", "MiB", "< 600",
         "the run-now process alone; tiny model; all-local, training runs in a separate worker process (not "
         "counted) and the gate's evaluation in run-now; with Ray the host cannot import torch"),
        ("bot host CPU time, one nightly retrain, Ray vs all-local", rf"host CPU time: all-local {B} s \| ray {V} s",
         "s", "—", "user + system seconds of the run-now process"),
        ("bot host wall time, one nightly retrain, Ray vs all-local", rf"host wall time: all-local {B} s \| ray {V} s",
         "s", "—", "Ray's includes job submission and fetching back; a Ray head on the same 2 shared cores"),
    ],
    "firstrun": [
        ("make install, one-time setup", rf"^make install \(venv present.*?: {V} s", "s", "—",
         "venv already installed by make bench; converts SmolLM2 and distils the recall embedder into an empty "
         "machine cache; wall time on shared cores (load average printed in the log)"),
        ("first `selftune chat \"hi\"` reply, fresh state dir", rf"^first reply, fresh state dir after make install: "
         rf"{V} s", "s", "< 15 s", "from process start to the reply's first byte, SmolLM2 on CPU, recall on; after "
         "make install"),
        ("first reply without the machine cache (before)", rf"without the machine cache {V} s", "s", "—",
         "bench/firstrun.py --baseline: a new state dir prepares the models itself"),
    ],
    "replay": [
        ("forgetting accuracy, persona LoRA with general replay vs without",
         rf"replay share [0-9.]+ vs 0: forgetting accuracy {V} vs {B}", "", "ratio >= 1.0",
         "SmolLM2 pirate LoRA, same rows, split and steps; a quarter of the training rows are the base's own "
         "answers to general prompts; forgetting check under the persona's prompt (32 items)"),
        ("persona held-out loss with general replay vs without", rf"persona held-out loss {V} vs {B}", "", "—",
         "same held-out pirate rows; lower is better (replay spends some steps off-persona)"),
    ],
    "export": [
        ("merged q8_0 llama.cpp tok/s vs PEFT fp32", rf"PEFT fp32 {B} tok/s \| llama.cpp q8_0 {V} tok/s", "tok/s",
         "ratio >= 3", "same prompts; llama.cpp runs the merged q8_0 GGUF, PEFT the fp32 adapter"),
        ("GGUF q8_0 export time", rf"export q8_0\s+{V} s", "s", "—", ""),
        ("GGUF q8_0 size", rf"export q8_0 .*?\s{V} MiB", "MiB", "—", ""),
        ("GGUF q4_k_m export time", rf"export q4_k_m\s+{V} s", "s", "—", "f16 conversion + libgguf requantization"),
        ("GGUF q4_k_m size", rf"export q4_k_m .*?\s{V} MiB", "MiB", "—", ""),
    ],
}
BOUNDED_ARGS = {"voice": ["--quick"]}  # what keeps a script's run within make bench's time
TARGET = re.compile(r"^(?P<kind>ratio|overhead)?\s*(?P<op><=|>=|<|>)\s*(?P<limit>[0-9.]+)\s*(?P<unit>%)?")


def meets(target: str, value: float | None, baseline: float | None) -> bool | None:
    """Whether a figure meets its target; None when the target is not a check or a number is missing."""
    match = TARGET.match(target.strip())
    if match is None or value is None:
        return None
    kind, limit = match["kind"], float(match["limit"])
    if kind in ("ratio", "overhead") and not baseline:
        return None
    if kind == "ratio":
        measured = value / baseline
    elif kind == "overhead":
        measured = (value / baseline - 1) * 100 if match["unit"] == "%" else value - baseline
    else:
        measured = value
    return {"<=": measured <= limit, ">=": measured >= limit, "<": measured < limit, ">": measured > limit}[match["op"]]


class Figure(BaseModel):
    """One measured number, its baseline (if the script measured one) and the ratio between them."""

    model_config = ConfigDict(extra="forbid")
    script: str
    figure: str
    value: float | None
    baseline: float | None = None
    ratio: float | None = None
    unit: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""
    raw: bool = False  # a field of the script's JSON: kept in summary.json, not shown in the table


class ScriptRun(BaseModel):
    """How one script ran."""

    model_config = ConfigDict(extra="forbid")
    script: str
    status: str  # ok | failed | timeout
    seconds: float
    log: str
    note: str = ""


def accepts_json(script: Path) -> bool:
    """Whether the script has a --json option (read from its source: --help would import heavy libraries)."""
    return '"--json"' in script.read_text(encoding="utf-8")


def run_script(script: Path, out_dir: Path, timeout_s: float) -> tuple[ScriptRun, str, dict | None]:
    """Run one script; returns how it went, its stdout and its JSON document (when it wrote one)."""
    json_path = out_dir / f"{script.stem}.json"
    json_path.unlink(missing_ok=True)
    argv = [sys.executable, str(script), *BOUNDED_ARGS.get(script.stem, [])]
    argv += ["--json", str(json_path)] if accepts_json(script) else []
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False", "MPLBACKEND": "Agg"}
    log_path = out_dir / f"{script.stem}.log"
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=HERE.parent)
        status, stdout, stderr = ("ok" if proc.returncode == 0 else "failed"), proc.stdout, proc.stderr
        note = "" if proc.returncode == 0 else (stderr.strip().splitlines() or ["?"])[-1][:200]
    except subprocess.TimeoutExpired as exc:
        status, note = "timeout", f"killed after {timeout_s:.0f} s"
        stdout, stderr = _text(exc.stdout), _text(exc.stderr)
    log_path.write_text(stdout + "\n--- stderr ---\n" + stderr, encoding="utf-8")
    doc = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else None
    run = ScriptRun(script=script.stem, status=status, seconds=round(time.monotonic() - started, 1),
                    log=str(log_path), note=note)
    return run, stdout, doc


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _number(text: str | None) -> float | None:
    return float(text.replace(",", "")) if text else None


def parse_text(script: str, stdout: str) -> list[Figure]:
    """Figures from the script's printed side-by-side lines."""
    figures = []
    for name, pattern, unit, target, note in PATTERNS.get(script, []):
        match = re.search(pattern, stdout, re.M)
        if match is not None:
            found = match.groupdict()
            value, baseline = _number(found.get("value")), _number(found.get("baseline"))
            figures.append(_figure(script, name, value, baseline, unit, target, note))
    return figures


def _figure(script: str, name: str, value: float | None, baseline: float | None, unit: str, target: str,
            note: str = "") -> Figure:
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    return Figure(script=script, figure=name, value=value, baseline=baseline, ratio=ratio, unit=unit, target=target,
                  met=meets(target, value, baseline), note=note)


def parse_json(script: str, doc: dict) -> list[Figure]:
    """Numeric leaves of a script's JSON document (lists of rows get their first label as a prefix)."""
    figures: list[Figure] = []
    _flatten(script, doc, "", figures)
    return figures


def _flatten(script: str, node: object, prefix: str, out: list[Figure]) -> None:
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        out.append(Figure(script=script, figure=prefix or "value", value=float(node), raw=True))
    elif isinstance(node, dict):
        for key, value in node.items():
            _flatten(script, value, f"{prefix}.{key}".strip("."), out)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _flatten(script, item, f"{prefix}[{i}]", out)


def markdown(runs: list[ScriptRun], figures: list[Figure]) -> str:
    """The summary table (figures) and a short table of how each script ran."""
    lines = ["# Benchmarks", "", f"Run {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} CPU(s), "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}.", "",
             "| script | figure | value | baseline | ratio | unit | target | met | note |",
             "|---|---|---:|---:|---:|---|---|:-:|---|"]
    for f in figures:
        if f.raw:
            continue
        mark = {True: "✓", False: "✗", None: "—"}[f.met]
        lines.append(f"| {f.script} | {f.figure} | {_fmt(f.value)} | {_fmt(f.baseline)} | {_fmt(f.ratio)} | "
                     f"{f.unit} | {f.target} | {mark} | {f.note} |")
    lines += ["", "| script | status | seconds | note | log |", "|---|---|---:|---|---|"]
    lines += [f"| {r.script} | {r.status} | {r.seconds} | {r.note} | {Path(r.log).name} |" for r in runs]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    """Run the scripts, write summary.md/summary.json; exit 1 when a script failed or timed out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="Script names to run (default: all).")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds per script before it is killed.")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="Folder for summary.md/.json and logs.")
    parser.add_argument("--dir", type=Path, default=HERE, help="Folder of the bench scripts.")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    scripts = [p for p in sorted(args.dir.glob("*.py"))
               if p.name != "run_all.py" and not p.name.startswith("_") and (not args.only or p.stem in args.only)]
    runs, figures = [], []
    for script in scripts:
        print(f"running {script.name} (timeout {args.timeout:.0f} s)...", flush=True)
        run, stdout, doc = run_script(script, args.out, args.timeout)
        found = parse_text(run.script, stdout) + (parse_json(run.script, doc) if doc else [])
        print(f"  {run.status} in {run.seconds} s, {len(found)} figure(s){': ' + run.note if run.note else ''}")
        runs.append(run)
        figures += found
    (args.out / "summary.md").write_text(markdown(runs, figures), encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps({"runs": [r.model_dump() for r in runs],
                                                       "figures": [f.model_dump() for f in figures]}, indent=2))
    print(f"wrote {args.out / 'summary.md'} and summary.json")
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
