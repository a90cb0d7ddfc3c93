"""report.html: one self-contained page (no external assets) with the verdict, the chart and samples side by side.

The chart is the report's PNG inlined as base64, so the file can be mailed, attached in Discord or opened
from a browser with no network. Every text from the report is escaped (samples are model output).
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from skills.evaluate.report import eval_data_line, judge_line, metric_rows, title, verdict

MAX_SAMPLES = 20  # enough to judge the style; the JSON keeps all of them
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
.verdict{padding:.8rem 1rem;border-radius:.4rem;font-size:1.1rem}
.promote{background:#e6f4ea;border:1px solid #34a853}.keep{background:#fef7e0;border:1px solid #f9ab00}
table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{border:1px solid #ccc;padding:.4rem .6rem;
vertical-align:top;text-align:left}th{background:#f3f3f3}td.text{white-space:pre-wrap}img{max-width:100%}
"""


def html_page(report: dict[str, Any], png: bytes | None) -> str:
    """The whole page as one string: verdict, metrics, inline chart, judge line, samples."""
    parts = [f"<h1>Evaluation of {escape(title(report))}</h1>", _verdict(report), _metrics(report)]
    if eval_data_line(report):
        parts.append(f"<p>{escape(str(eval_data_line(report)))}</p>")
    if png:
        parts.append(f'<img alt="loss curves and metrics" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    if judge_line(report):
        parts.append(f"<p>{escape(str(judge_line(report)))}</p>")
    parts.append(_samples(report))
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title(report))}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_html(report: dict[str, Any], png_path: Path | None, path: Path) -> Path:
    """Write report.html, inlining the PNG when it exists."""
    png = png_path.read_bytes() if png_path is not None and png_path.is_file() else None
    path.write_text(html_page(report, png), encoding="utf-8")
    return path


def _verdict(report: dict[str, Any]) -> str:
    css = "promote" if report["gate"]["promote"] else "keep"
    return (f'<p class="verdict {css}"><strong>Verdict: {escape(verdict(report))}</strong> — '
            f"{escape(str(report['gate']['reason']))}</p>")


def _metrics(report: dict[str, Any]) -> str:
    head = f"<tr><th>metric</th><th>{escape(report['against'])}</th><th>candidate</th></tr>"
    body = "".join(f"<tr><td>{escape(n)}</td><td>{escape(a)}</td><td>{escape(c)}</td></tr>"
                   for n, a, c in metric_rows(report))
    return f"<table>{head}{body}</table>"


def _samples(report: dict[str, Any]) -> str:
    samples = report.get("samples") or []
    if not samples:
        return "<p>No samples were generated.</p>"
    head = f"<tr><th>prompt</th><th>{escape(report['against'])}</th><th>candidate ({escape(report['adapter'])})</th></tr>"
    body = "".join(f'<tr><td class="text">{escape(s["prompt"])}</td><td class="text">{escape(s["against"])}</td>'
                   f'<td class="text">{escape(s["candidate"])}</td></tr>' for s in samples[:MAX_SAMPLES])
    return f"<h2>Samples</h2><table>{head}{body}</table>"
