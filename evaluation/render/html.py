"""The self-contained HTML reports (no script, no network): ``report.html`` of ``eval``
(tables, curves, results per question type, every miss with what came back instead) and
``sweep.html`` of ``--sweep``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.hits import doc_matches
from evaluation.metrics import RANK_CUTOFF, ModeResult, Outcome
from evaluation.render.format import caveat, scope_text, why_missed
from evaluation.render.svg import doc_recall_svg, recall_svg
from evaluation.render.tables import (
    TYPE_HEADER,
    TYPE_METRICS,
    Table,
    metric_table,
    question_types,
    settings_table,
    type_table,
    winner_table,
)

if TYPE_CHECKING:
    from evaluation.grid import SweepResult
    from evaluation.runner import EvalRun

MISS_PASSAGES = 3  # returned passages shown for each missed question
SNIPPET = 280

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #d4d4d4;padding:.3em .6em;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:700}.meta td:first-child{color:#555}
.miss{border:1px solid #e1e1e1;border-radius:6px;padding:.6em .9em;margin:.7em 0;background:#fcfcfc}
.miss .q{font-weight:600}.miss .gold{color:#555;font-size:.92em}.ans{background:#fff3b0}
.ret{font-size:.9em;margin:.35em 0 .35em 1em}.ret .src{color:#1f4f8f}.ret.golddoc .src{color:#2a7a35;font-weight:600}
.ret .txt{color:#333;display:block;margin-left:1.5em}.tag{font-size:.8em;border-radius:3px;padding:0 .35em;background:#eee;color:#333}
.caveat{background:#fff7e0;border-left:4px solid #e0a800;padding:.6em 1em}
details>summary{cursor:pointer;font-weight:600;margin:.5em 0}
table.wide{font-size:.85em}table.wide td,table.wide th{padding:.2em .45em}table.wide td{white-space:nowrap}
"""


def html_page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def html_table(table: Table, css_class: str | None = None) -> str:
    """``table`` as HTML: numbers in ``td.n`` (right-aligned), best values in ``td.best``."""
    e = html.escape
    rows = ["<tr>" + "".join(f"<th>{e(c.header)}</th>" for c in table.columns) + "</tr>"]
    for row in table.rows:
        cells = []
        for i, (column, text) in enumerate(zip(table.columns, row.cells)):
            classes = " ".join((["n"] if column.numeric else []) + (["best"] if i in row.best else []))
            cells.append(f'<td class="{classes}">{e(text)}</td>' if classes else f"<td>{e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    opening = f'<table class="{e(css_class)}">' if css_class else "<table>"
    return opening + "".join(rows) + "</table>"


# -- eval --------------------------------------------------------------------------------


def _meta_html(run: EvalRun) -> str:
    e = html.escape
    rows = [
        ("question set", run.qa_path),
        ("asked of", run.target),
        ("index version", run.index_version or "–"),
        ("questions", f"{run.questions}" + (f" ({len(run.invalid)} invalid lines skipped)" if run.invalid else "")),
        ("scope", scope_text(run)),
        ("passages asked for", str(max(max(run.ks), RANK_CUTOFF))),
        ("run at", run.created_at),
    ]
    rows += [(key, str(value)) for key, value in run.settings.items()]
    return '<table class="meta">' + "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows) + "</table>"


def _types_html(run: EvalRun) -> str:
    if not question_types(run):
        return ""
    return "<h2>By question type</h2>" + html_table(type_table(run, TYPE_METRICS, header=TYPE_HEADER))


def _ranks_elsewhere(run: EvalRun, mode: str, qid: str) -> str:
    parts = []
    for r in run.results:
        if r.mode == mode:
            continue
        o = next(o for o in r.outcomes if o.question.id == qid)
        parts.append(f"{r.mode}: {'rank ' + str(o.first_hit) if o.first_hit else 'miss'}")
    return "; ".join(parts)


def _miss_html(run: EvalRun, result: ModeResult, o: Outcome) -> str:
    e = html.escape
    q = o.question
    gold = e(q.doc) if q.doc else "any document"
    if q.alt_docs:
        gold += " (or " + ", ".join(e(d) for d in q.alt_docs) + ")"
    answers = " | ".join(f'<span class="ans">{e(a if len(a) <= 240 else a[:240] + "…")}</span>' for a in q.answers[:3])
    elsewhere = _ranks_elsewhere(run, result.mode, q.id)
    parts = [
        '<div class="miss">',
        f'<div class="q">{e(q.id)}: {e(q.question)}'
        + (f' <span class="tag">{e(q.type)}</span>' if q.type else "")
        + "</div>",
        f'<div class="gold">gold: {gold}; answer: {answers}</div>',
        f'<div class="gold">why: {e(why_missed(o, result.depth, run.missing_docs))}'
        + (f"; other modes: {e(elsewhere)}" if elsewhere else "")
        + "</div>",
    ]
    if q.evidence:
        ev = q.evidence[0]
        parts.append(f'<div class="gold">evidence: {e(ev if len(ev) <= 300 else ev[:300] + "…")}</div>')
    for rank, p in enumerate(o.returned[:MISS_PASSAGES], 1):
        gold_doc = q.doc is not None and doc_matches(q, p.source)
        where = (
            e(p.source)
            + (f" · {e(p.section)}" if p.section else "")
            + (f" · p. {p.page_start}" if p.page_start else "")
        )
        text = p.text if len(p.text) <= SNIPPET else p.text[:SNIPPET] + "…"
        parts.append(
            f'<div class="ret{" golddoc" if gold_doc else ""}">[{rank}] <span class="src">{where}</span>'
            f'<span class="txt">{e(text)}</span></div>'
        )
    parts.append("</div>")
    return "\n".join(parts)


def _misses_html(run: EvalRun) -> str:
    k = max(run.ks)
    out = [
        f"<h2>Missed questions (no hit in the top {k})</h2>",
        "<p>For each mode, the questions without a hit and the first passages returned instead; "
        "a passage from the gold document is shown in green.</p>",
    ]
    for result in run.results:
        misses = result.misses(k)
        out.append(
            f"<details{' open' if len(misses) <= 30 else ''}><summary>{html.escape(result.mode)}: "
            f"{len(misses)} of {len(result.outcomes)} missed</summary>"
        )
        out.extend(_miss_html(run, result, o) for o in misses)
        out.append("</details>")
    return "\n".join(out)


def _invalid_html(run: EvalRun) -> str:
    if not run.invalid:
        return ""
    items = "".join(f"<li>line {line}: {html.escape(why)}</li>" for line, why in run.invalid)
    return f"<h2>Invalid lines (skipped)</h2><ul>{items}</ul>"


HOW_TO_READ = """<h2>How to read this</h2>
<ul>
<li><b>recall@k</b>: share of questions with a <i>hit</i> among the first k passages. A hit is a passage from the
gold document (or an alternative) whose folded text contains one of the answers and, where the question has
evidence, shares a run of at least min(100, evidence, passage) folded characters with it.</li>
<li><b>MRR@10</b>: mean of 1/rank of the first hit (0 when none in the top 10). <b>nDCG@10</b>: mean of
1/log2(1 + rank of the first hit); later hits repeat the first and earn nothing.</li>
<li><b>recall@2000c</b>: read the passages in rank order and stop after 2,000 characters; a hit must lie in what
was read. It is fair across passage sizes: long passages hold answers by chance but cost reading. Read it beside
the median passage length.</li>
<li><b>doc recall@k</b>: the gold document among the first k passages, whatever they say; far above passage recall
means the right document is found but the wrong part of it.</li>
<li><b>latency</b>: wall time per question, p50 and p95, measured around the call (in-process, or HTTP round trip
with <code>--url</code>).</li>
</ul>
<p>See <code>docs/evaluation.md</code> for the details.</p>"""


def render_html(run: EvalRun) -> str:
    body = [
        "<h1>clausewise retrieval evaluation</h1>",
        _meta_html(run),
        "<h2>Results</h2>",
        html_table(metric_table(run)),
        f"<figure>{recall_svg(run)}</figure>",
    ]
    doc_svg = doc_recall_svg(run)
    if doc_svg:
        body.append(f"<figure>{doc_svg}</figure>")
    body += [_types_html(run), _misses_html(run), _invalid_html(run), HOW_TO_READ]
    return html_page(f"clausewise eval: {Path(run.qa_path).name}", body)


# -- sweep -------------------------------------------------------------------------------


def sweep_html(result: SweepResult) -> str:
    e = html.escape
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    parts = [
        "<h1>clausewise eval --sweep</h1>",
        f"<p>{result.questions} questions from <code>{e(result.qa_path)}</code>, index <code>{e(result.index)}</code>"
        + (", each asked of its own document" if result.per_doc else "")
        + f", {e(result.created_at)}. "
        "Passages are tokens/overlap, alpha the fusion weight of the dense side, candidates the passages taken "
        "from each side before fusion. <b>*</b> marks the current settings; a bold value is the winner of its "
        "column (the first of equals).</p>",
        f'<p class="caveat"><b>Caveat.</b> {e(caveat(result))}</p>',
        "<h2>Winner per metric</h2>",
        html_table(winner_table(result)),
        "<h2>All settings</h2>",
        html_table(settings_table(result), "wide"),
    ]
    if notes:
        parts.append(f"<h2>Notes</h2><ul>{notes}</ul>")
    return html_page(f"clausewise eval --sweep: {Path(result.qa_path).name}", parts)
