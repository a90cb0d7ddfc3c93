"""`selftune dataset ...`: validate, inspect, convert, split, mix, scrub and synthesize training data.

`dataset_app` is module-level so other areas can add commands to the same group (e.g. `dataset build`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from agent.cli.common import console, emit_json, err_console, new_typer, settings_of

dataset_app = new_typer(
    "Validate, inspect, convert, split, mix and synthesize datasets. Reads alpaca, ShareGPT, OpenAI messages, "
    "DPO and KTO rows, as JSONL or a JSON array; writes canonical JSONL with a <file>.manifest.json sidecar."
)
FORMAT_HELP = "Input format: auto (detect), messages, sharegpt, alpaca, dpo or kto."
JSON_HELP = "Print one JSON document on stdout."
MIN_SCORE_HELP = "Score the rows with the configured judge and keep those scoring at least this (1-5)."


def register(app: typer.Typer) -> None:
    """Add the `dataset` group."""
    app.add_typer(dataset_app, name="dataset")


@dataset_app.command("validate")
def validate_cmd(
    path: Path = typer.Argument(..., help="Dataset file (.jsonl or .json array)."),
    fmt: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) on warnings too: contradictions, length "
                                "outliers, mixed formatting, empty or boilerplate answers."),
    checks: bool = typer.Option(True, "--checks/--no-checks", help="Run the cross-row checks (--no-checks: rows "
                                "only, faster on files of hundreds of thousands of rows)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check every row and what the guides warn about across rows. Exit 1 if a row is invalid (--strict: or any
    warning)."""
    from skills.dataset.validate import validate_file

    with err_console.status(f"Validating {path}"):
        report = validate_file(path, fmt, checks=checks)
    if as_json:
        emit_json({**report.model_dump(), "strict": strict, "passed": report.passes(strict)})
    else:
        _print_report(report, strict)
    raise typer.Exit(0 if report.passes(strict) else 1)


def _print_report(report, strict: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Warnings, one line per bad row (path:line: message) and a summary; no wrapping, so lines stay greppable."""
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for finding in report.findings:
        console.print(f"[yellow]warning ({finding.check}, {finding.count}):[/] {escape(finding.message)}",
                      highlight=False, soft_wrap=True)
    for err in report.errors[:50]:
        console.print(f"[red]error:[/] {err.message}" if err.line == 0 else f"[red]{report.path}:{err.line}:[/] {err.message}",
                      highlight=False, soft_wrap=True)
    if report.errors and report.errors[0].line == 0:
        return  # the file itself could not be read; that one sentence says it all
    if len(report.errors) > 50:
        console.print(f"... and {report.invalid - 50} more (use --json for the full list).")
    detected = f"format {report.format}" if report.format else "format unknown"
    colour = "green" if report.passes(strict) else "red"
    warned = f", {len(report.findings)} kinds of warning" if report.findings else ""
    failed = " (failed: --strict and warnings)" if report.ok and not report.passes(strict) else ""
    console.print(f"[{colour}]{report.path}: {report.rows} rows, {report.valid} valid, {report.invalid} invalid"
                  f"{warned}{failed}[/] ({detected}, {report.layout or '?'})", highlight=False, soft_wrap=True)


@dataset_app.command("convert")
def convert_cmd(
    src: Path = typer.Argument(..., help="Input dataset."),
    dst: Path = typer.Argument(..., help="Output .jsonl (written atomically, with a manifest)."),
    to: str = typer.Option(..., "--to", help="Target format: messages, sharegpt or alpaca."),
    fmt: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
    allow_lossy: bool = typer.Option(False, "--allow-lossy", help="Convert even when rows lose information."),
    scrub: bool = typer.Option(False, "--scrub", help="Replace emails, phone numbers, API keys, Discord tokens."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Convert a dataset to another format; refuses lossy conversions unless --allow-lossy."""
    from skills.dataset.convert import convert_file

    with err_console.status(f"Converting {src} to {to}"):
        result = convert_file(src, dst, to, fmt=fmt, allow_lossy=allow_lossy, scrub=scrub)
    _done(result, as_json, f"Wrote {result['rows']} rows to {dst} ({to})"
          + (f", skipped {result['skipped']} lossy rows" if result["skipped"] else "")
          + (f", scrubbed {result['scrubbed']}" if result["scrubbed"] else ""))


@dataset_app.command("stats")
def stats_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Dataset file."),
    fmt: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
    tokenizer: Optional[str] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
        None, "--tokenizer", help="Base model whose chat template counts tokens (default: settings.base_model)."),
    tokens: bool = typer.Option(True, "--tokens/--no-tokens", help="Count tokens (slower on big files)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rows, turns, role counts, token lengths (through the chat template) and duplicates."""
    from skills.dataset.stats import dataset_stats, load_tokenizer

    tok = None
    if tokens:
        settings = settings_of(ctx)
        base = tokenizer or settings.base_model
        with err_console.status(f"Loading the {base} tokenizer"):
            tok = load_tokenizer(base, settings.models_dir)
    with err_console.status(f"Reading {path}"):
        result = dataset_stats(path, fmt=fmt, tokenizer=tok)
    if as_json:
        emit_json(result)
        return
    table = Table("measure", "min", "mean", "p50", "p95", "max", title=f"{path} ({result['format']}, {result['rows']} rows)")
    for name in ("turns", "chars", "tokens"):
        if result[name]:
            table.add_row(name, *(str(result[name][k]) for k in ("min", "mean", "p50", "p95", "max")))
    console.print(table)
    roles = ", ".join(f"{role} {count}" for role, count in result["roles"].items())
    dup = result["duplicates"]
    console.print(f"roles: {roles}; duplicates: {dup['exact']} exact, {dup['near']} near", highlight=False,
                  markup=False)


@dataset_app.command("split")
def split_cmd(
    path: Path = typer.Argument(..., help="Dataset file."),
    eval_ratio: float = typer.Option(0.1, "--eval-ratio", help="Share of rows for evaluation."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same split."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Where to write (default: next to the input)."),  # noqa: UP045
    fmt: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deterministic train/eval split; rows with the same or nearly the same prompt stay on one side."""
    from skills.dataset.split import split_file

    result = split_file(path, out_dir, eval_ratio=eval_ratio, seed=seed, fmt=fmt)
    _done(result, as_json, f"train: {result['train']['rows']} rows -> {result['train']['path']}\n"
                           f"eval: {result['eval']['rows']} rows -> {result['eval']['path']}")


@dataset_app.command("mix")
def mix_cmd(
    sources: list[str] = typer.Argument(..., help="Datasets with weights: a.jsonl:0.7 b.jsonl:0.3 (default 1)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .jsonl."),
    rows: Optional[int] = typer.Option(None, "--rows", help="Output size (default: largest mix without repeats)."),  # noqa: UP045
    seed: int = typer.Option(0, "--seed", help="Sampling and shuffle seed."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Mix several datasets by weight into one shuffled file (DataMix-style)."""
    from skills.dataset.mix import mix_files, parse_weighted

    result = mix_files([parse_weighted(s) for s in sources], out, rows=rows, seed=seed)
    shares = ", ".join(f"{s['path']}: {s['rows']}" for s in result["sources"])
    _done(result, as_json, f"Wrote {result['rows']} rows to {out} ({shares})"
          + (f"; upsampled {', '.join(result['upsampled'])}" if result["upsampled"] else ""))


@dataset_app.command("scrub")
def scrub_cmd(
    src: Path = typer.Argument(..., help="Input dataset."),
    dst: Path = typer.Argument(..., help="Output .jsonl (canonical messages)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Replace emails, phone numbers, API keys and Discord tokens with placeholders and report what was removed."""
    from skills.dataset.convert import convert_file

    result = convert_file(src, dst, "messages", scrub=True)
    _done(result, as_json, f"Wrote {result['rows']} rows to {dst}; removed {result['scrubbed'] or 'nothing'}")


@dataset_app.command("synth")
def synth_cmd(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="persona, dpo, topics, multiturn, reasoning, documents or qa."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .jsonl; re-running resumes an unfinished run."),
    persona: Optional[str] = typer.Option(None, "--persona", help="Persona card (needed by persona and dpo; others "  # noqa: UP045
                                          "answer in its voice when given)."),
    seeds: Optional[Path] = typer.Option(None, "--seeds", help="Questions, or for multiturn a dataset whose rows are "  # noqa: UP045
                                         "extended (default: packaged seed prompts)."),
    source: Optional[list[str]] = typer.Option(None, "--source", help="qa: a text file or an http(s) URL from "  # noqa: UP045
                                               "datasets.allowed_hosts (repeatable)."),
    document: Optional[list[Path]] = typer.Option(None, "--document", help="qa: a text file (repeatable; same as --source)."),  # noqa: UP045
    topic: Optional[list[str]] = typer.Option(None, "--topic", help="topics/documents: a topic, NAME:WEIGHT for "  # noqa: UP045
                                              "documents (repeatable)."),
    perspective: Optional[list[str]] = typer.Option(None, "--perspective", help="topics: who asks (repeatable; "  # noqa: UP045
                                                    "generated when not given)."),
    perspective_count: int = typer.Option(3, "--perspective-count", help="topics: how many perspectives to generate."),
    turns: int = typer.Option(2, "--turns", help="multiturn: user/assistant turns added to each row."),
    best_of: int = typer.Option(1, "--best-of", help="persona: answers per prompt, scored 1-5 by the judge; the best is kept."),
    pairs: bool = typer.Option(False, "--pairs", help="persona --best-of: keep the best and the worst as a DPO pair."),
    rows: int = typer.Option(50, "--rows", help="Stop after this many rows (documents: how many to write)."),
    max_seconds: float = typer.Option(600.0, "--max-seconds", help="Stop after this much time."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help=MIN_SCORE_HELP),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Generate synthetic data with the configured LLM; the manifest records the model, prompts and scores."""
    from rich.progress import Progress

    from skills.dataset.synth import Inputs, Options, run_synth

    settings = settings_of(ctx)
    inputs = Inputs(seeds=seeds, documents=document, sources=source, topics=topic, perspectives=perspective,
                    perspective_count=perspective_count)
    with Progress(console=err_console, transient=True) as bar:
        job = bar.add_task(f"synth {task}", total=rows)
        result = run_synth(settings, task, out, persona=persona, max_rows=rows, max_seconds=max_seconds,
                           options=Options(turns=turns, best_of=best_of, pairs=pairs), inputs=inputs,
                           progress=lambda e: bar.update(job, completed=e["rows"]), min_score=min_score)
    state = "done" if result["complete"] else "stopped by the budget; run again to continue"
    scored = f", {result['low_score']} below --min-score {min_score:g}" if min_score is not None else ""
    _done(result, as_json, f"Wrote {result['rows']} rows to {out} with {result['model']} ({state}; "
                           f"{result['resumed']} resumed, {result['skipped']} skipped, "
                           f"{result['duplicates_removed']} duplicates removed{scored})")


@dataset_app.command("score")
def score_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Dataset file."),
    persona: Optional[str] = typer.Option(None, "--persona", help="Also rate how well answers fit this persona."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Rate each row 1-5 (helpfulness, correctness, persona fit) with the configured judge plus heuristics;
    writes <file>.scores.json (for a file outside the datasets folder: under its scores/)."""
    from skills.dataset.score import score_file

    with err_console.status(f"Scoring {path} with the judge"):
        result = score_file(settings_of(ctx), path, persona=persona)
    spread = ", ".join(f"{n}: {c}" for n, c in result["histogram"].items())
    _done(result, as_json, f"Scored {result['rows']} rows of {path} with {result['judge']}: mean {result['mean']} "
                           f"({spread}); scores in {result['scores_path']}")


@dataset_app.command("filter")
def filter_cmd(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Dataset file (scored first when it has no up-to-date scores)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output .jsonl (default: <name>.filtered.jsonl)."),  # noqa: UP045
    keep_top: Optional[float] = typer.Option(None, "--keep-top", help="Keep this share of the best rows (0.25)."),  # noqa: UP045
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Keep rows scoring at least this (1-5)."),  # noqa: UP045
    persona: Optional[str] = typer.Option(None, "--persona", help="Persona to rate against when scoring."),  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Keep the best-scored rows (--keep-top SHARE or --min-score N); the manifest records scores and judge."""
    from skills.dataset.score import filter_file

    target = out or path.with_name(f"{path.stem}.filtered.jsonl")
    with err_console.status(f"Filtering {path}"):
        result = filter_file(settings_of(ctx), path, target, keep_top=keep_top, min_score=min_score, persona=persona)
    _done(result, as_json, f"Kept {result['rows']} of {result['of']} rows ({result['filter']}, judge "
                           f"{result['judge']}) in {result['path']}")


def _done(result: dict, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(result)
    else:
        console.print(text, highlight=False, soft_wrap=True)
