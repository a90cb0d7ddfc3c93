"""Reports you can look at: report.png draws the job's loss curves beside the metric bars; report.html is one
self-contained page with the verdict, the chart inlined and base vs adapter samples side by side."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from skills.evaluate.report import figure, write_report

REPORT = {
    "adapter": "pirate-lora/v2", "persona": "pirate", "against": "base", "items": 2,
    "heldout": {"candidate": {"loss": 1.2, "perplexity": 3.32}, "against": {"loss": 1.9, "perplexity": 6.69},
                "candidate_items": [1.1, 1.3], "against_items": [1.8, 2.0]},
    "samples": [{"prompt": "Tell me about the sea.", "against": "The sea is a large body of water.",
                 "candidate": "Arr, the sea be <wide> & deep!"}],
    "adherence": None, "judge": None, "forgetting": None, "decoding": "greedy, no repetition penalty, no loop guard",
    "gate": {"promote": True, "reason": "The adapter's held-out loss is lower on 2 of 2 items."},
}
# As the job store gives them (nested data) and as events.jsonl holds them (flat): either must draw.
EVENTS = ([{"seq": i, "event": "progress", "data": {"step": i * 10, "loss": 3.0 - 0.25 * i}} for i in range(1, 9)]
          + [{"event": "eval", "step": 40, "eval_loss": 2.2}, {"event": "eval", "step": 80, "eval_loss": 1.7}])


def test_png_has_loss_curves_beside_metric_bars_titled_by_adapter_and_persona() -> None:
    fig = figure(REPORT, EVENTS)
    curves, bars = fig.axes
    train, evals = curves.get_lines()
    assert list(train.get_xdata()) == [10, 20, 30, 40, 50, 60, 70, 80]
    assert list(train.get_ydata()) == sorted(train.get_ydata(), reverse=True) and train.get_ydata()[-1] == 1.0
    assert list(evals.get_ydata()) == [2.2, 1.7] and curves.get_ylabel() == "loss"
    assert [p.get_height() for p in bars.patches] == [1.9, 1.2] and bars.get_title() == "Metrics"
    assert "pirate-lora/v2" in fig.get_suptitle() and "persona pirate" in fig.get_suptitle()


def test_png_without_events_says_so_on_its_own_axes() -> None:
    curves, _bars = figure(REPORT, []).axes
    assert curves.get_lines() == [] and "no training events" in curves.texts[0].get_text()


def test_report_html_is_one_page_with_verdict_chart_and_both_samples(tmp_path: Path) -> None:
    paths = write_report(REPORT, tmp_path / "rep", EVENTS)
    assert set(paths) == {"json", "markdown", "png"}  # the documented keys stay as they were
    png = Path(paths["png"]).read_bytes()
    assert png[:4] == b"\x89PNG"
    page = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "Verdict: promote" in page and "held-out loss is lower on 2 of 2 items" in page
    inlined = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert inlined and base64.b64decode(inlined.group(1)) == png
    assert "The sea is a large body of water." in page and "Arr, the sea be &lt;wide&gt; &amp; deep!" in page
    assert not re.search(r'(src|href)="(https?:|//|[^"d#][^"]*\.(css|js|png))', page)  # nothing fetched from outside
    assert "<wide>" not in page  # model output is escaped, never markup


def test_report_says_how_the_answers_were_decoded(tmp_path: Path) -> None:
    """Chat answers decode with repetition control; evaluation does not, and its report says so."""
    paths = write_report(REPORT, tmp_path / "rep", EVENTS)
    assert "Answers decoded greedy, no repetition penalty, no loop guard." in Path(paths["markdown"]).read_text()


def test_adherence_bars_are_a_share_labelled_as_one() -> None:
    """Adherence is drawn as the share of answers in style (0.5 = half), and its label says so, not '/100'."""
    with_style = {**REPORT, "adherence": {"against": {"percent": 50.0}, "candidate": {"percent": 100.0}}}
    _curves, bars = figure(with_style, []).axes
    labels = [t.get_text() for t in bars.get_xticklabels()]
    assert labels == ["held-out loss", "adherence (share)"] and not any("/100" in label for label in labels)
    assert [p.get_height() for p in bars.patches] == [1.9, 0.5, 1.2, 1.0]
