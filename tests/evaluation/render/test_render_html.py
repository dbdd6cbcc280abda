"""The self-contained HTML reports."""

from __future__ import annotations

import re

from evaluation.grid import SweepResult
from evaluation.render.html import html_page, html_table, render_html, sweep_html
from evaluation.render.tables import Column, Table, TableRow
from evaluation.runner import EvalRun


def _self_contained(page: str) -> bool:
    return (
        page.startswith("<!DOCTYPE html>")
        and "<script" not in page
        and not re.search(r"""(?:src|href)=["']?https?:""", page)
    )


def test_html_table_marks_numbers_and_best_values_and_escapes() -> None:
    table = Table(
        [Column("metric"), Column("a", numeric=True), Column("b", numeric=True)],
        [TableRow(["<r@1>", "0.5", "0.2"], best=frozenset({1}))],
    )
    assert html_table(table, "wide") == (
        '<table class="wide"><tr><th>metric</th><th>a</th><th>b</th></tr>'
        '<tr><td>&lt;r@1&gt;</td><td class="n best">0.5</td><td class="n">0.2</td></tr></table>'
    )


def test_a_page_is_self_contained() -> None:
    page = html_page("a <title>", ["<p>x</p>"])
    assert _self_contained(page) and "<title>a &lt;title&gt;</title>" in page


def test_report_holds_the_numbers_the_curves_and_the_misses(run: EvalRun) -> None:
    page = render_html(run)
    assert _self_contained(page)
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert svg.count("<polyline") == 2  # one recall@k line per mode
    assert "Passage recall@k per mode" in svg and ">lexical: 0.60 at k=10<" in svg
    assert "Document recall@k per mode" in page
    misses = page[page.index("Missed questions") :]
    assert "lexical: 2 of 5 missed" in misses
    assert "q3: Which colour is the gondola ribbon?" in misses
    assert "The gondola ribbon is green" in misses  # what came back instead
    assert "q4: What does the warden keep in the ledger?" in misses
    assert "the gold document comes at rank 1, but no passage of it in the top 10 holds the answer" in misses
    assert "the gold document is not in the top 10" in misses  # q3
    assert "line 3:" in page and "line 6: missing &#x27;answers&#x27;" in page


def test_sweep_report_has_the_caveat_the_winners_and_every_setting(sweep: SweepResult) -> None:
    page = sweep_html(sweep)
    assert _self_contained(page)
    assert (
        '<p class="caveat"><b>Caveat.</b> Overfitting: the winners are picked and scored on the same 4 questions'
        in page
    )
    winners = page[page.index("<h2>Winner per metric</h2>") : page.index("<h2>All settings</h2>")]
    assert "<td>+1/−0 noise</td>" in winners
    settings = page[page.index('<table class="wide">') :]
    assert '<td>hybrid *</td><td>24/0</td><td>0.5</td><td>100</td><td>0.2</td><td class="n">0.250</td>' in settings
    assert '<td class="n best">0.500</td>' in settings
    assert "<li>note: passages 1000/0 become 206/0</li>" in page
