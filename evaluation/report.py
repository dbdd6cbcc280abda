"""Evaluation output: a terminal table, a JSON file, a self-contained HTML report with an
inline SVG recall@k curve per mode, and a Markdown report."""

from __future__ import annotations

import html
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evaluation.hits import doc_matches
from evaluation.metrics import RANK_CUTOFF, ModeResult, Outcome, metric_names
from evaluation.runner import EvalRun

COLORS = {"hybrid": "#1f63b4", "dense": "#c8331e", "lexical": "#2a8c3a"}
_FALLBACK = ["#8a4fbf", "#b8860b", "#17a2b8", "#555555"]
MISS_PASSAGES = 3  # returned passages shown for each missed question
SNIPPET = 280

LABELS = {
    f"mrr@{RANK_CUTOFF}": f"MRR@{RANK_CUTOFF}",
    f"ndcg@{RANK_CUTOFF}": f"nDCG@{RANK_CUTOFF}",
    "median_passage_chars": "median passage chars",
    "latency_p50_ms": "latency p50 ms",
    "latency_p95_ms": "latency p95 ms",
}


def label(metric: str) -> str:
    if metric.startswith("doc_recall@"):
        return f"doc recall@{metric.split('@')[1]}"
    return LABELS.get(metric, metric)


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric.startswith("latency"):
        return f"{value:.1f}"
    if metric in ("median_passage_chars", "questions", "errors"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def color(mode: str, i: int) -> str:
    return COLORS.get(mode, _FALLBACK[i % len(_FALLBACK)])


def _rows(run: EvalRun) -> list[tuple[str, list[str]]]:
    names = [m for m in metric_names(run.ks) if any(m in r.metrics for r in run.results)]
    if any("errors" in r.metrics for r in run.results):
        names.append("errors")
    return [(label(m), [fmt(m, r.metrics.get(m)) for r in run.results]) for m in names]


# -- terminal ----------------------------------------------------------------------------


def scope_text(run: EvalRun) -> str:
    if run.per_doc:
        return "each question asked of its own document"
    return f"sources {run.scope}" if run.scope else "whole index"


def print_table(run: EvalRun, console: Console) -> None:
    scope = scope_text(run)
    console.print(f"[bold]clausewise eval[/bold]: {run.questions} questions, {scope}")
    table = Table()
    table.add_column("metric")
    for result in run.results:
        table.add_column(result.mode, justify="right")
    for name, values in _rows(run):
        table.add_row(name, *values)
    console.print(table)
    types = _types(run)
    if types:
        by_type = Table(title="recall@1 / @5 / @10 by question type", title_justify="left")
        by_type.add_column("type", no_wrap=True)
        by_type.add_column("n", justify="right")
        for result in run.results:
            by_type.add_column(result.mode, justify="right", no_wrap=True)
        for kind in types:
            cells = []
            for result in run.results:
                m = result.by_type()[kind]
                cells.append("/".join(f"{m[f'recall@{k}']:.2f}" for k in (1, 5, 10)))
            by_type.add_row(kind, f"{run.results[0].by_type()[kind]['questions']:.0f}", *cells)
        console.print(by_type)


def _types(run: EvalRun) -> list[str]:
    return list(run.results[0].by_type()) if run.results else []


# -- JSON --------------------------------------------------------------------------------


def _outcome_json(o: Outcome) -> dict:
    return {
        "id": o.question.id,
        "first_hit": o.first_hit,
        "first_doc_hit": o.first_doc_hit,
        "budget_hit": o.budget_hit,
        "latency_ms": round(o.latency_ms, 3),
        "error": o.error,
        "returned": [
            {"rank": rank, "id": p.id, "source": p.source, "section": p.section, "page": p.page_start, "chars": len(p.text)}
            for rank, p in enumerate(o.returned, 1)
        ],
    }


def to_json(run: EvalRun) -> dict:
    return {
        "qa": run.qa_path,
        "target": run.target,
        "index_version": run.index_version,
        "per_doc": run.per_doc,
        "scope": run.scope,
        "ks": run.ks,
        "created_at": run.created_at,
        "settings": run.settings,
        "questions": run.questions,
        "invalid_lines": [{"line": line, "error": why} for line, why in run.invalid],
        "modes": {
            r.mode: {
                "metrics": r.metrics,
                "curve": r.curve(),
                "doc_curve": r.doc_curve() if "doc_recall@1" in r.metrics else None,
                "by_type": r.by_type(),
                "misses": [o.question.id for o in r.misses()],
                "questions": [_outcome_json(o) for o in r.outcomes],
            }
            for r in run.results
        },
    }


# -- the plot ----------------------------------------------------------------------------


def svg_curve(
    series: list[tuple[str, list[float], str]], title: str, marks: list[int] | None = None, y_label: str = "recall@k"
) -> str:
    """A line chart of recall@k (k = 1..n) with one line per ``(name, values, colour)``,
    as an inline SVG: no script, no external file. ``marks`` get dashed guide lines."""
    width, height = 700, 340
    left, right, top, bottom = 56, 180, 36, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max((len(values) for _, values, _ in series), default=1)

    def x(k: int) -> float:
        return left + (plot_w * (k - 1) / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    e = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{e(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{e(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="{top - 14}" font-size="14" font-weight="600">{e(title)}</text>',
    ]
    for i in range(0, 11, 2):
        v = i / 10
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#444">{i * 10}%</text>')
    for k in marks or []:
        if 1 < k <= n:
            out.append(
                f'<line x1="{x(k):.1f}" y1="{top}" x2="{x(k):.1f}" y2="{top + plot_h}" stroke="#b0b0b0" stroke-dasharray="4 4"/>'
            )
    step = 1 if n <= 20 else 5
    for k in range(1, n + 1):
        if k == 1 or k % step == 0 or k == n:
            out.append(f'<line x1="{x(k):.1f}" y1="{top + plot_h}" x2="{x(k):.1f}" y2="{top + plot_h + 4}" stroke="#444"/>')
            out.append(f'<text x="{x(k):.1f}" y="{top + plot_h + 18}" text-anchor="middle" fill="#444">{k}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#444"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>')
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle" fill="#222">k (passages returned)</text>'
    )
    out.append(
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle" fill="#222">{e(y_label)}</text>'
    )
    for i, (name, values, stroke) in enumerate(series):
        points = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in enumerate(values, 1))
        out.append(f'<polyline points="{points}" fill="none" stroke="{stroke}" stroke-width="2.5"/>')
        for k, v in enumerate(values, 1):
            out.append(
                f'<circle cx="{x(k):.1f}" cy="{y(v):.1f}" r="3.5" fill="{stroke}"><title>{e(name)} {e(y_label.removesuffix("k"))}{k} = {v:.3f}</title></circle>'
            )
        ly = top + 10 + 22 * i
        lx = left + plot_w + 16
        final = f": {values[-1]:.2f} at k={len(values)}" if values else ""
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{stroke}" stroke-width="2.5"/>')
        out.append(f'<circle cx="{lx + 11}" cy="{ly}" r="3.5" fill="{stroke}"/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 4}" fill="#222">{e(name)}{final}</text>')
    out.append("</svg>")
    return "\n".join(out)


def recall_svg(run: EvalRun) -> str:
    marks = sorted(set(run.ks))
    return svg_curve(
        [(r.mode, r.curve(), color(r.mode, i)) for i, r in enumerate(run.results)], "Passage recall@k per mode", marks
    )


def doc_recall_svg(run: EvalRun) -> str | None:
    """The document-level curve; none when every question is asked of its own document
    (every passage then comes from it)."""
    if run.per_doc or not any("doc_recall@1" in r.metrics for r in run.results):
        return None
    marks = sorted(set(run.ks))
    return svg_curve(
        [(r.mode, r.doc_curve(), color(r.mode, i)) for i, r in enumerate(run.results)],
        "Document recall@k per mode",
        marks,
        y_label="doc recall@k",
    )


# -- HTML --------------------------------------------------------------------------------

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


def _metrics_html(run: EvalRun) -> str:
    e = html.escape
    head = "<tr><th>metric</th>" + "".join(f"<th>{e(r.mode)}</th>" for r in run.results) + "</tr>"
    body = []
    names = [m for m in metric_names(run.ks) if any(m in r.metrics for r in run.results)]
    for metric in names:
        values = [r.metrics.get(metric) for r in run.results]
        present = [v for v in values if v is not None]
        lower_better = metric.startswith("latency") or metric == "median_passage_chars"
        best = None if metric == "median_passage_chars" or not present else (min(present) if lower_better else max(present))
        cells = "".join(
            f'<td class="n{" best" if v is not None and v == best and len(run.results) > 1 else ""}">{fmt(metric, v)}</td>'
            for v in values
        )
        body.append(f"<tr><td>{e(label(metric))}</td>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _types_html(run: EvalRun) -> str:
    types = _types(run)
    if not types:
        return ""
    e = html.escape
    head = "<tr><th>type</th><th>n</th>" + "".join(f"<th>{e(r.mode)} r@1 / r@5 / r@10 / MRR</th>" for r in run.results) + "</tr>"
    rows = []
    for kind in types:
        cells = []
        for r in run.results:
            m = r.by_type()[kind]
            cells.append(
                f'<td class="n">{m["recall@1"]:.2f} / {m["recall@5"]:.2f} / {m["recall@10"]:.2f} / {m[f"mrr@{RANK_CUTOFF}"]:.2f}</td>'
            )
        rows.append(f"<tr><td>{e(kind)}</td><td class='n'>{run.results[0].by_type()[kind]['questions']:.0f}</td>{''.join(cells)}</tr>")
    return "<h2>By question type</h2><table>" + head + "".join(rows) + "</table>"


def _why(o: Outcome, depth: int, missing: list[str] = ()) -> str:
    if o.question.doc in missing:
        return "the gold document is not in the index (not ingested, or it failed to load)"
    if o.error:
        return f"the service refused the question: {o.error}"
    if not o.returned:
        return "nothing was returned"
    if o.question.doc is None:
        return f"no passage in the top {depth} contains an answer"
    if o.first_doc_hit is None:
        return f"the gold document is not in the top {depth}"
    return f"the gold document comes at rank {o.first_doc_hit}, but no passage of it in the top {depth} holds the answer" + (
        " with the evidence" if o.question.evidence else ""
    )


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
        f'<div class="q">{e(q.id)}: {e(q.question)}' + (f' <span class="tag">{e(q.type)}</span>' if q.type else "") + "</div>",
        f'<div class="gold">gold: {gold}; answer: {answers}</div>',
        f'<div class="gold">why: {e(_why(o, result.depth, run.missing_docs))}' + (f"; other modes: {e(elsewhere)}" if elsewhere else "") + "</div>",
    ]
    if q.evidence:
        ev = q.evidence[0]
        parts.append(f'<div class="gold">evidence: {e(ev if len(ev) <= 300 else ev[:300] + "…")}</div>')
    for rank, p in enumerate(o.returned[:MISS_PASSAGES], 1):
        gold_doc = q.doc is not None and doc_matches(q, p.source)
        where = e(p.source) + (f" · {e(p.section)}" if p.section else "") + (f" · p. {p.page_start}" if p.page_start else "")
        text = p.text if len(p.text) <= SNIPPET else p.text[:SNIPPET] + "…"
        parts.append(
            f'<div class="ret{" golddoc" if gold_doc else ""}">[{rank}] <span class="src">{where}</span>'
            f'<span class="txt">{e(text)}</span></div>'
        )
    parts.append("</div>")
    return "\n".join(parts)


def _misses_html(run: EvalRun) -> str:
    k = max(run.ks)
    out = [f"<h2>Missed questions (no hit in the top {k})</h2>",
           "<p>For each mode, the questions without a hit and the first passages returned instead; "
           "a passage from the gold document is shown in green.</p>"]
    for result in run.results:
        misses = result.misses(k)
        out.append(f"<details{' open' if len(misses) <= 30 else ''}><summary>{html.escape(result.mode)}: "
                   f"{len(misses)} of {len(result.outcomes)} missed</summary>")
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
        _metrics_html(run),
        f"<figure>{recall_svg(run)}</figure>",
    ]
    doc_svg = doc_recall_svg(run)
    if doc_svg:
        body.append(f"<figure>{doc_svg}</figure>")
    body += [_types_html(run), _misses_html(run), _invalid_html(run), HOW_TO_READ]
    return html_page(f"clausewise eval: {Path(run.qa_path).name}", body)


# -- Markdown ----------------------------------------------------------------------------


def markdown_table(run: EvalRun) -> str:
    head = "| metric | " + " | ".join(r.mode for r in run.results) + " |"
    sep = "|---|" + "---:|" * len(run.results)
    return "\n".join([head, sep] + [f"| {name} | " + " | ".join(values) + " |" for name, values in _rows(run)])


def render_markdown(run: EvalRun, curve_file: str | None = "recall-curve.svg") -> str:
    lines = [
        f"# clausewise eval: {Path(run.qa_path).name}",
        "",
        f"{run.questions} questions from `{run.qa_path}`, asked of `{run.target}` (index {run.index_version or '–'}), "
        + scope_text(run)
        + f", {run.created_at}."
        + (f" {len(run.invalid)} invalid lines skipped." if run.invalid else ""),
        "",
        markdown_table(run),
        "",
    ]
    if curve_file:
        lines += [f"![recall@k per mode]({curve_file})", ""]
    types = _types(run)
    if types:
        lines += ["## By question type (recall@1 / @5 / @10)", "",
                  "| type | n | " + " | ".join(r.mode for r in run.results) + " |",
                  "|---|---:|" + "---:|" * len(run.results)]
        for kind in types:
            cells = [" / ".join(f"{r.by_type()[kind][f'recall@{k}']:.2f}" for k in (1, 5, 10)) for r in run.results]
            lines.append(f"| {kind} | {run.results[0].by_type()[kind]['questions']:.0f} | " + " | ".join(cells) + " |")
        lines.append("")
    k = max(run.ks)
    lines += [f"## Missed questions (no hit in the top {k})", ""]
    for result in run.results:
        misses = result.misses(k)
        lines += [f"### {result.mode}: {len(misses)} of {len(result.outcomes)}", ""]
        for o in misses:
            top = o.returned[0] if o.returned else None
            got = f"got `{top.source}`" + (f" ({top.section})" if top and top.section else "") if top else "got nothing"
            lines.append(f"- **{o.question.id}** {o.question.question} — {_why(o, result.depth, run.missing_docs)}; {got}")
        lines.append("")
    if run.invalid:
        lines += ["## Invalid lines (skipped)", ""] + [f"- line {line}: {why}" for line, why in run.invalid] + [""]
    return "\n".join(lines)


def write_reports(run: EvalRun, out: Path) -> dict[str, Path]:
    """``results.json``, ``report.html``, ``report.md`` and ``recall-curve.svg`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "html": out / "report.html",
        "markdown": out / "report.md",
        "svg": out / "recall-curve.svg",
    }
    paths["json"].write_text(json.dumps(to_json(run), indent=2, ensure_ascii=False), encoding="utf-8")
    paths["html"].write_text(render_html(run), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(run), encoding="utf-8")
    paths["svg"].write_text(recall_svg(run) + "\n", encoding="utf-8")
    return paths

