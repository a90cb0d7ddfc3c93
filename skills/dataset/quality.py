"""What the fine-tuning guides warn about in a dataset, found across rows: contradictions, length outliers,
inconsistent formatting, and empty or boilerplate answers. Each check is one `Finding` with the lines it hit.

Checks read canonical rows (see skills.dataset.formats) with their 1-based line; they never raise on a valid
row, and never decide alone: `dataset validate` shows them as warnings, `--strict` turns them into a failure.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skills.dataset.dedup import duplicate_groups, normalise, row_text

LINES_SHOWN = 12  # a finding names its first lines; the JSON report keeps them all
OUTLIER_Z = 3.5  # Iglewicz & Hoaglin's cut for the modified z-score
MIN_ROWS_FOR_OUTLIERS = 8  # a median and a MAD of fewer rows say little
NEAR_PROMPT_ROWS = 20_000  # MinHash costs ~0.5 ms a row; bigger files compare prompts after normalising only
DIFFERENT_ANSWERS = 0.3  # word-set Jaccard below this: the answers say clearly different things
BOILERPLATE = re.compile(
    r"\bas an? (?:ai|artificial intelligence|large language model|language model|llm)\b"
    r"|\bi(?:'m| am) (?:just |only )?an? (?:ai|language model)\b"
    r"|\bi(?:'m| am) sorry,? but i (?:can ?not|can't|am unable to|'m unable to)\b"
    r"|\bi (?:can ?not|can't|am unable to) (?:help|assist) (?:you )?with (?:that|this)\b"
    r"|\bmy knowledge cutoff\b", re.I)
TOKEN = re.compile(r"\w+|[^\w\s]")
BULLET = re.compile(r"^[ \t]*([-*•+]|\d+[.)])[ \t]+\S", re.M)


class Finding(BaseModel):
    """One kind of problem across the file: which rows (by line) and what it means."""

    model_config = ConfigDict(extra="forbid")
    check: str = Field(description="contradiction, length_outlier, trailing_whitespace, line_endings, quote_style, "
                                   "list_style, empty_answer or boilerplate.")
    count: int = Field(description="Rows it concerns.")
    lines: list[int] = Field(description="1-based lines of those rows (array items: the line they start on).")
    message: str = Field(description="One sentence naming the first lines and what to do.")


Lined = tuple[int, dict[str, Any]]  # (line, canonical row)


def answers(row: dict[str, Any]) -> list[str]:
    """The assistant texts a row teaches: its assistant turns, or a DPO row's chosen side."""
    turns = row.get("chosen") if "chosen" in row else row.get("messages")
    return [str(m.get("content") or "") for m in turns or [] if m.get("role") == "assistant"]


def count_tokens(text: str) -> int:
    """A tokenizer-free token count (words and punctuation marks), close to a BPE count for English chat."""
    return len(TOKEN.findall(text))


def row_tokens(row: dict[str, Any]) -> int:
    """Tokens of a row's non-system turns (a shared system prompt would hide the spread)."""
    turns = [*(row.get("prompt") or []), *(row.get("messages") or []), *(row.get("chosen") or [])]
    return sum(count_tokens(str(m.get("content") or "")) for m in turns if m.get("role") != "system")


def shown_lines(lines: list[int]) -> str:
    """'lines 3, 7 and 9' (the first LINES_SHOWN, then '… and N more')."""
    head = [str(n) for n in lines[:LINES_SHOWN]]
    if len(lines) > LINES_SHOWN:
        return f"lines {', '.join(head)} and {len(lines) - LINES_SHOWN} more"
    if len(head) == 1:
        return f"line {head[0]}"
    return f"lines {', '.join(head[:-1])} and {head[-1]}"


def contradictions(rows: list[Lined]) -> Finding | None:
    """Rows with the same or nearly the same prompt whose answers share few words (above NEAR_PROMPT_ROWS rows,
    the same prompt up to case and punctuation)."""
    taught = [(line, row) for line, row in rows if row.get("label", True) is not False and answers(row)]
    near = len(taught) <= NEAR_PROMPT_ROWS
    owners = duplicate_groups([row_text(row, prompt_only=True) for _, row in taught], near=near)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, owner in enumerate(owners):
        groups[owner].append(i)
    clashes: list[list[int]] = []
    for members in groups.values():
        first = _words(answers(taught[members[0]][1])[-1])
        odd = [i for i in members[1:] if _jaccard(first, _words(answers(taught[i][1])[-1])) < DIFFERENT_ANSWERS]
        if odd:
            clashes.append([taught[i][0] for i in (members[0], *odd)])
    if not clashes:
        return None
    pairs = "; ".join(" and ".join(str(n) for n in group) for group in clashes[:LINES_SHOWN])
    lines = sorted(n for group in clashes for n in group)
    return Finding(check="contradiction", count=len(lines), lines=lines, message=(
        f"{_count(clashes, 'prompt', 'was', 'were')} asked again with a clearly different answer (lines {pairs}); "
        "keep one answer per prompt, or the model learns to say either."))


def length_outliers(rows: list[Lined]) -> Finding | None:
    """Rows whose token count has a robust (median/MAD) z-score beyond OUTLIER_Z."""
    if len(rows) < MIN_ROWS_FOR_OUTLIERS:
        return None
    tokens = [row_tokens(row) for _, row in rows]
    median = statistics.median(tokens)
    spread = statistics.median(abs(t - median) for t in tokens) / 0.6745  # MAD scaled to a standard deviation
    if spread == 0:  # over half the rows have the same length: fall back to the mean absolute deviation
        spread = 1.253314 * statistics.fmean(abs(t - median) for t in tokens)
    if spread == 0:
        return None
    lines = [line for (line, _), t in zip(rows, tokens, strict=True) if abs(t - median) / spread > OUTLIER_Z]
    if not lines:
        return None
    return Finding(check="length_outlier", count=len(lines), lines=lines, message=(
        f"{_count(lines, 'row', 'lie')} far from the usual length of about {median:g} tokens ({shown_lines(lines)}); "
        "check them for pasted logs, cut-off answers or one-word replies."))


def trailing_whitespace(rows: list[Lined]) -> Finding | None:
    """Answers ending in spaces, tabs or newlines: the model learns to emit them."""
    lines = [line for line, row in rows if any(a != a.rstrip() for a in answers(row))]
    return _finding("trailing_whitespace", lines, f"{_count(lines, 'row', 'end')} an answer with whitespace "
                    f"({shown_lines(lines)}); strip it so every answer ends the same way.") if lines else None


def mixed_styles(rows: list[Lined], check: str, style: Callable[[str], set[str]], what: str) -> Finding | None:
    """Rows whose answers use a style other than the file's most common one, when the file mixes styles."""
    per_row = [(line, set().union(*(style(a) for a in answers(row)))) for line, row in rows]
    counts = Counter(s for _, styles in per_row for s in styles)
    if len(counts) < 2:
        return None
    usual = counts.most_common(1)[0][0]
    lines = [line for line, styles in per_row if styles - {usual}]
    others = ", ".join(sorted(set(counts) - {usual}))
    return _finding(check, lines, f"{_count(lines, 'row', 'use')} {f'{what} {others}'.strip()} while most use {usual} "
                    f"({shown_lines(lines)}); pick one style for the whole file.")


def line_endings(text: str) -> set[str]:
    """CRLF and/or LF line endings inside a text."""
    found = {"CRLF"} if "\r\n" in text else set()
    return found | ({"LF"} if re.search(r"(?<!\r)\n", text) else set())


def quote_styles(text: str) -> set[str]:
    """Curly and/or straight double quotes in a text."""
    return ({"curly quotes"} if re.search("[\u201c\u201d]", text) else set()) | \
        ({"straight quotes"} if '"' in text else set())


def list_styles(text: str) -> set[str]:
    """The list markers a text uses: '-', '*', '•', '+', '1.' or '1)'."""
    return {re.sub(r"\d+", "1", marker) + " lists" for marker in BULLET.findall(text)}


def file_line_endings(raw: bytes) -> Finding | None:
    """A JSONL file whose lines end partly in CRLF and partly in LF (the minority's lines are listed)."""
    lines = raw.split(b"\n")[:-1] if raw.endswith(b"\n") else raw.split(b"\n")
    crlf = [i for i, line in enumerate(lines, 1) if line.endswith(b"\r")]
    if not crlf or len(crlf) == len(lines):
        return None
    minority = crlf if len(crlf) <= len(lines) / 2 else [i for i in range(1, len(lines) + 1) if i not in set(crlf)]
    name = "CRLF" if minority is crlf else "LF"
    return _finding("line_endings", minority, f"the file mixes line endings: {_count(minority, 'line', 'end')} "
                    f"in {name} ({shown_lines(minority)}); save it with one kind.")


def empty_or_boilerplate(rows: list[Lined]) -> list[Finding]:
    """Answers without a single word, and answers with assistant boilerplate ("As an AI ...")."""
    empty = [line for line, row in rows if any(not re.search(r"\w", a) for a in answers(row))]
    canned = [line for line, row in rows if any(BOILERPLATE.search(a.replace("\u2019", "'")) for a in answers(row))]
    found = [_finding("empty_answer", empty, f"{_count(empty, 'row', 'answer')} without a single word "
                      f"({shown_lines(empty)}); write a real answer or drop the row.") if empty else None,
             _finding("boilerplate", canned, f"{_count(canned, 'row', 'answer')} with assistant boilerplate such "
                      f"as 'As an AI' ({shown_lines(canned)}); rewrite or drop them, or the model learns to "
                      "refuse.") if canned else None]
    return [f for f in found if f is not None]


def find_problems(rows: list[Lined], raw: bytes | None = None) -> list[Finding]:
    """Every check over the rows (and over the raw JSONL bytes for line endings), in a stable order."""
    found = [contradictions(rows), length_outliers(rows), trailing_whitespace(rows),
             file_line_endings(raw) if raw is not None else None,
             mixed_styles(rows, "line_endings", line_endings, "line endings"),
             mixed_styles(rows, "quote_style", quote_styles, ""),
             mixed_styles(rows, "list_style", list_styles, ""),
             *empty_or_boilerplate(rows)]
    return [f for f in found if f is not None]


def _finding(check: str, lines: list[int], message: str) -> Finding:
    return Finding(check=check, count=len(lines), lines=lines, message=message)


def _words(text: str) -> set[str]:
    return set(normalise(text).split())


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _count(items: list, noun: str, verb: str, plural_verb: str | None = None) -> str:
    """'1 row ends' / '3 rows end' ('1 prompt was' / '2 prompts were' with an explicit plural verb)."""
    if len(items) == 1:
        return f"1 {noun} {verb if plural_verb else verb + 's'}"
    return f"{len(items)} {noun}s {plural_verb or verb}"
