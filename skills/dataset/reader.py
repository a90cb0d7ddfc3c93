"""Streaming readers for JSONL and JSON-array files that never load the whole file and never crash.

A reader yields raw records as (line, index, value, error): `line` is the 1-based line where the record
starts, `index` its 0-based position in a JSON array (None for JSONL), and exactly one of value/error set.
Problems with the file as a whole (CSV, binary, empty, UTF-16...) raise FileProblem with one sentence.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from config.errors import SelftuneError

RawRecord = tuple[int, int | None, Any, str | None]
UTF8_BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 65536
CHUNK_CHARS = 1 << 20
TOO_DEEP = "nests JSON too deeply to read (over a thousand levels); no conversation needs that, so flatten it"


class FileProblem(SelftuneError):
    """The file as a whole cannot be read as a dataset."""


def sniff(path: Path) -> tuple[str, int, list[str]]:
    """Decide the layout ("jsonl" | "array"), how many leading bytes to skip, and file-level warnings."""
    if not path.exists():
        raise FileProblem(f"{path} does not exist; check the path.")
    if path.is_dir():
        raise FileProblem(f"{path} is a folder; give the path of a .jsonl or .json file.")
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise FileProblem(f"{path} cannot be read ({exc.strerror}); check its permissions.") from None
    return _layout(path, head)


def _layout(path: Path, head: bytes) -> tuple[str, int, list[str]]:
    warnings, skip = [], 0
    _refuse_binary(path, head)
    if head.startswith(UTF8_BOM):
        warnings.append(f"{path.name} starts with a UTF-8 byte-order mark (BOM); it was skipped, "
                        "but some tools choke on it, so save the file as UTF-8 without BOM.")
        skip = len(UTF8_BOM)
    text = head[skip:].lstrip()
    if not text:
        raise FileProblem(f"{path} is empty; a dataset needs at least one row.")
    first_line = text.split(b"\n", 1)[0].strip()
    if text[:1] == b"[":
        if path.suffix.lower() == ".jsonl":
            warnings.append(f"{path.name} is a JSON array, not JSONL (one object per line) as its .jsonl "
                            "extension says; it was read as an array, rename it to .json.")
        return "array", skip, warnings
    if first_line == b"{":
        raise FileProblem(f"{path} is one JSON document spread over several lines, not JSONL; put one JSON "
                          "object per line (or save the rows as a JSON array).")
    if text[:1] == b"{":
        return "jsonl", skip, warnings
    raise FileProblem(_not_json_message(path, first_line))


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(f"{path} is UTF-16 encoded; save it as UTF-8 and try again.")
    if head.startswith(b"\x1f\x8b"):
        raise FileProblem(f"{path} is gzip-compressed; decompress it (gunzip) first.")
    if head.startswith(b"PK\x03\x04"):
        raise FileProblem(f"{path} is a zip archive; extract the .jsonl or .json file from it first.")
    if b"\x00" in head[:4096]:
        raise FileProblem(f"{path} is a binary file, not JSON text; give a .jsonl or .json dataset.")


def _not_json_message(path: Path, first_line: bytes) -> str:
    line = first_line.decode("utf-8", "replace")[:60]
    if path.suffix.lower() in (".csv", ".tsv") or (b"," in first_line or b"\t" in first_line):
        return (f"{path} looks like CSV/TSV (first line: {line!r}), not JSON; convert it to JSONL with one "
                "object per line, e.g. {\"instruction\": ..., \"output\": ...}.")
    if path.suffix.lower() == ".parquet" or first_line.startswith(b"PAR1"):
        return f"{path} is a Parquet file; export it to JSONL first."
    return (f"{path} does not start with a JSON object or array (first line: {line!r}); "
            "selftune reads JSONL (one object per line) or a JSON array.")


def iter_raw(path: Path, layout: str, skip: int) -> Iterator[RawRecord]:
    """Raw records of the file in the given layout."""
    with path.open("rb") as f:
        f.seek(skip)
        yield from (_iter_jsonl(f) if layout == "jsonl" else _iter_array(f))


def _iter_jsonl(f: BinaryIO) -> Iterator[RawRecord]:
    loads = orjson.loads
    for line_no, raw in enumerate(f, 1):
        try:
            yield line_no, None, loads(raw), None
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):  # orjson stops at 1024 levels; Python's json would recurse and crash
                yield line_no, None, None, TOO_DEEP
            elif raw.strip():
                yield line_no, None, None, _jsonl_error(raw)


def _jsonl_error(raw: bytes) -> str:
    """Explain why one JSONL line failed to parse."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); re-save the file as UTF-8"
    if not raw.endswith(b"\n"):
        return "is truncated: the file ends in the middle of a JSON object (was it cut off while being written?)"
    if text.lstrip().startswith(UTF8_BOM.decode("utf-8")):
        return "starts with a byte-order mark (BOM) in the middle of the file; remove it"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"is not valid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return TOO_DEEP
    return "is not valid JSON (numbers such as NaN or very large integers are not allowed)"


def _iter_array(f: BinaryIO) -> Iterator[RawRecord]:
    """Stream the items of one top-level JSON array; a syntax error ends the file with one error record."""
    cur = _TextCursor(f)
    try:
        yield from _array_items(cur)
    except _Broken as exc:
        yield cur.line, None, None, str(exc)


def _array_items(cur: _TextCursor) -> Iterator[RawRecord]:
    cur.peek()
    cur.take()  # the '[' that sniff() saw
    if cur.peek() == "]":
        cur.take()
    else:
        index = 0
        while True:
            cur.peek()
            line = cur.line
            try:
                value = cur.decode_value()
            except _TooDeep:
                cur.skip_value()  # report this item and go on with the next one
                yield line, index, None, TOO_DEEP
            else:
                yield line, index, value, None
            index, sep = index + 1, cur.peek()
            if sep == "]":
                cur.take()
                break
            if sep != ",":
                what = repr(sep) if sep else "the end of the file"
                raise _Broken(f"is truncated or broken: {what} where ',' or ']' was expected after array item {index - 1}")
            cur.take()
    if cur.peek():
        raise _Broken("has more data after the JSON array closes; a file holds one array (or use JSONL)")


class _Broken(Exception):
    """The JSON array cannot be read any further."""


class _TooDeep(Exception):
    """An array item nests deeper than Python's json can decode."""


class _TextCursor:
    """A UTF-8 text window over a binary file that tracks line numbers and keeps memory bounded."""

    def __init__(self, f: BinaryIO) -> None:
        self.reader = codecs.getreader("utf-8")(f)
        self.decoder = json.JSONDecoder()
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False

    def fill(self) -> bool:
        """Drop consumed text and append the next chunk; False at end of file."""
        try:
            chunk = self.reader.read(CHUNK_CHARS)
        except UnicodeDecodeError as exc:
            raise _Broken(f"is not valid UTF-8 ({exc.reason}); re-save the file as UTF-8") from None
        self.buf, self.pos = self.buf[self.pos:] + chunk, 0
        self.eof = not chunk
        return bool(chunk)

    def peek(self) -> str:
        """The next non-space character ('' at end of file)."""
        while True:
            n = len(self.buf)
            while self.pos < n and self.buf[self.pos] in " \t\r\n":
                self.line += self.buf[self.pos] == "\n"
                self.pos += 1
            if self.pos < n or not self.fill():
                return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def take(self) -> None:
        self.pos += 1

    def decode_value(self) -> Any:
        """Decode the JSON value at the cursor, reading more text while it is incomplete."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise _TooDeep from None
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(self.buf) - 1 or exc.msg.startswith("Unterminated")
                if incomplete and self.fill():
                    continue
                if incomplete:
                    raise _Broken("is truncated: the file ends inside an array item (was it cut off while being written?)") from None
                line = self.line + self.buf.count("\n", self.pos, exc.pos)
                raise _Broken(f"breaks the JSON array at line {line}: {exc.msg}; the rest was not read") from None
            if end >= len(self.buf) and not self.eof and self.fill():
                continue  # a number may go on in the next chunk
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            return value

    def skip_value(self) -> None:
        """Move past one array or object without decoding it, counting brackets outside strings."""
        depth, in_string, escaped = 0, False, False
        while True:
            if self.pos >= len(self.buf) and not self.fill():
                raise _Broken("is truncated: the file ends inside an array item (was it cut off while being written?)")
            ch = self.buf[self.pos]
            self.pos += 1
            self.line += ch == "\n"
            if in_string:
                escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth <= 0:
                    return
