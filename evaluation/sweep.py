"""`clausewise eval --sweep`: a small grid of passage sizes and fusion settings, scored on one
question set, on copies of the index (the user's index is only read).

Passage size and overlap need new passages and vectors: the index's documents are ingested
again into temporary folders. Fusion weight, article boost and candidates (top-k before
fusion) change only the ranking, so they are tried on each loaded index by building a
:class:`Retriever` with modified settings. Question embeddings are computed once and reused.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from ingest.embedder import Embedder
from ingest.pipeline import chunking_params, file_hash, ingest
from ingest.settings import Settings
from ingest.store.index import StoredIndex, read_manifest
from evaluation.metrics import BUDGET_KEY, RANK_CUTOFF, ModeResult, metric_names
from evaluation.qa import Question
from evaluation.report import fmt, html_page, label
from evaluation.runner import evaluate, in_process
from service.search.retriever import Retriever

Log = Callable[[str], None]


@dataclass
class Grid:
    """The values to try. ``chunks`` are ``(tokens, overlap)`` pairs; the index's own
    passages and the current retrieval settings are always tried as well."""

    chunks: list[tuple[int, int]] = field(default_factory=lambda: [(96, 16), (200, 32)])
    alphas: list[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    candidates: list[int] = field(default_factory=lambda: [50, 100, 200])
    boosts: list[float] = field(default_factory=list)  # empty: only the current article_boost

    @classmethod
    def quick(cls) -> "Grid":
        """No re-chunking (no re-embedding): fusion weight only, on the index as it is."""
        return cls(chunks=[], alphas=[0.3, 0.5, 0.7], candidates=[], boosts=[])


@dataclass(frozen=True)
class Config:
    chunk_tokens: int
    chunk_overlap: int
    mode: str
    fusion_alpha: float | None = None  # None for dense and lexical, which do not fuse
    candidates: int | None = None
    article_boost: float | None = None

    def label(self) -> str:
        text = f"{self.mode} · passages {self.chunk_tokens}/{self.chunk_overlap}"
        if self.mode == "hybrid":
            text += f" · alpha {self.fusion_alpha:g} · candidates {self.candidates} · boost {self.article_boost:g}"
        return text

    def as_dict(self) -> dict:
        return {
            "mode": self.mode, "chunk_tokens": self.chunk_tokens, "chunk_overlap": self.chunk_overlap,
            "fusion_alpha": self.fusion_alpha, "candidates": self.candidates, "article_boost": self.article_boost,
        }


@dataclass
class Row:
    config: Config
    result: ModeResult
    baseline: bool = False


@dataclass
class SweepResult:
    qa_path: str
    index: str
    questions: int
    ks: list[int]
    per_doc: bool
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def metrics(self) -> list[str]:
        return [m for m in metric_names(self.ks) if m.startswith("recall@") or m in (f"mrr@{RANK_CUTOFF}", f"ndcg@{RANK_CUTOFF}")]

    def baseline(self, mode: str | None = None) -> Row:
        rows = [r for r in self.rows if r.baseline and (mode is None or r.config.mode == mode)]
        return rows[0] if rows else next(r for r in self.rows if r.baseline)

    def winners(self) -> dict[str, Row]:
        """The best row per metric; a tie goes to the baseline, then to the earlier row."""
        ordered = sorted(self.rows, key=lambda r: not r.baseline)  # stable: baselines first
        return {metric: max(ordered, key=lambda r: r.result.metrics[metric]) for metric in self.metrics}

    def paired(self, row: Row, metric: str) -> tuple[int, int]:
        """For a recall metric: questions this row finds that its mode's baseline misses, and
        the reverse."""
        if not metric.startswith("recall@"):
            return (0, 0)
        base = self.baseline(row.config.mode)
        if metric == BUDGET_KEY:
            mine = [o.budget_hit for o in row.result.outcomes]
            theirs = [o.budget_hit for o in base.result.outcomes]
        else:
            k = int(metric.split("@")[1])
            mine = [o.hit_within(k) for o in row.result.outcomes]
            theirs = [o.hit_within(k) for o in base.result.outcomes]
        gained = sum(a and not b for a, b in zip(mine, theirs))
        lost = sum(b and not a for a, b in zip(mine, theirs))
        return gained, lost


class QueryCache:
    """An embedder whose query vectors are computed once per question text."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = self.embedder.embed_query(text)
        return self._vectors[text]

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)


def _corpus_copy(index: StoredIndex, folder: Path, log: Log) -> Path:
    """A folder of links to the index's documents, under their recorded sources, found in
    the index's recorded roots: re-ingesting it gives the same documents."""
    roots = [Path(r) for r in index.manifest.get("roots", [])]
    if not roots:
        raise SweepError("the index does not record the folders it was built from; rebuild it with `clausewise ingest`")
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    found = 0
    for document in index.documents.values():
        path = None
        for root in roots:
            candidate = root if root.is_file() and root.name == document.source else root / document.source
            if candidate.is_file():
                path = candidate
                break
        if path is None:
            log(f"warning: {document.source} is no longer under {', '.join(map(str, roots))}; left out of the re-chunked indexes")
            continue
        if file_hash(path) != document.file_hash:
            log(f"warning: {document.source} changed since the index was built; the re-chunked indexes use the new text")
        target = corpus / document.source
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(path.resolve(), target)
        except OSError:
            shutil.copy2(path, target)
        found += 1
    if not found:
        raise SweepError(f"none of the index's documents is under its recorded roots {', '.join(map(str, roots))}")
    return corpus


class SweepError(Exception):
    pass


@contextmanager
def _indexes(
    index_dir: Path, grid: Grid, settings: Settings, embedder: Embedder, log: Log
) -> Iterator[list[tuple[tuple[int, int], StoredIndex, bool]]]:
    """The user's index and one temporary re-chunked copy per other passage size, as
    ``((tokens, overlap), index, is_original)``; the copies are deleted afterwards."""
    original = StoredIndex.open(index_dir)
    chunking = original.manifest["chunking"]
    current = (chunking["max_tokens"], chunking["overlap"])
    opened = [(current, original, True)]
    workdir = Path(tempfile.mkdtemp(prefix="clausewise-sweep-"))
    try:
        base = settings.model_copy(
            update={
                "model": original.manifest["model"]["name"],
                "contextualize": chunking.get("contextualize", settings.contextualize),
                "faiss_index": original.manifest.get("faiss", {}).get("type", settings.faiss_index),
            }
        )
        wanted: list[tuple[int, int]] = []
        for tokens, overlap in grid.chunks:
            variant = base.model_copy(update={"chunk_tokens": tokens, "chunk_overlap": overlap})
            params = chunking_params(variant, embedder, embedder.max_seq_length)
            effective = (params["max_tokens"], params["overlap"])
            if effective != (tokens, overlap):
                log(f"note: passages {tokens}/{overlap} become {effective[0]}/{effective[1]} (the model's window)")
            if effective != current and effective not in wanted:
                wanted.append(effective)
        if wanted:
            corpus = _corpus_copy(original, workdir, log)
            for tokens, overlap in wanted:
                target = workdir / f"index-{tokens}-{overlap}"
                log(f"re-chunking into passages of {tokens} tokens, {overlap} overlap (temporary index) …")
                variant = base.model_copy(update={"chunk_tokens": tokens, "chunk_overlap": overlap, "index_dir": target})
                report = ingest([corpus], variant, index_dir=target, embedder=embedder, rebuild=True)
                log(f"  {report.passages} passages, {report.seconds:.0f} s")
                if report.documents != len(original.documents):
                    failed = "; ".join(f"{source}: {why}" for source, why in report.failed) or "none failed"
                    log(f"warning: the copy holds {report.documents} documents, your index {len(original.documents)} "
                        f"({failed}); rebuild your index with this clausewise for a like-for-like comparison")
                opened.append(((tokens, overlap), StoredIndex.open(target), False))
        yield opened
    finally:
        for _, stored, _ in opened:
            stored.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _with_current(values: list, current) -> list:
    return [current] + [v for v in values if v != current]


def run_sweep(
    index_dir: Path,
    qa_path: str,
    questions: list[Question],
    settings: Settings,
    grid: Grid,
    modes: list[str],
    ks: list[int],
    per_doc: bool,
    log: Log | None = None,
    embedder: Embedder | None = None,
    scope: str | None = None,
) -> SweepResult:
    log = log or (lambda message: None)
    model = read_manifest(index_dir)["model"]["name"]
    embedder = embedder or Embedder(model, settings.embed_batch_size, settings.embed_bf16)
    if embedder.name != model:
        raise SweepError(f"the index was built with {model!r}, not {embedder.name!r}")
    queries = QueryCache(embedder)
    alphas = _with_current(grid.alphas, settings.fusion_alpha)
    candidates = _with_current(grid.candidates, settings.candidates)
    boosts = _with_current(grid.boosts, settings.article_boost)
    rows: list[Row] = []
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        log(message)

    with _indexes(index_dir, grid, settings, embedder, note) as indexes:
        for (tokens, overlap), stored, original in indexes:
            for mode in modes:
                if mode == "hybrid":
                    combos = [(a, c, b) for a in alphas for c in candidates for b in boosts]
                else:
                    combos = [(None, None, None)]
                for alpha, cands, boost in combos:
                    update = {} if mode != "hybrid" else {"fusion_alpha": alpha, "candidates": cands, "article_boost": boost}
                    retriever = Retriever(stored, queries, settings.model_copy(update=update))  # type: ignore[arg-type]
                    config = Config(tokens, overlap, mode, alpha, cands, boost)
                    log(f"  {config.label()}")
                    [result] = evaluate(questions, in_process(retriever, scope), [mode], ks, per_doc)
                    baseline = original and (mode != "hybrid" or (alpha, cands, boost) == (alphas[0], candidates[0], boosts[0]))
                    rows.append(Row(config, result, baseline))
    return SweepResult(qa_path, str(index_dir), len(questions), ks, per_doc, rows, notes)


# -- output --------------------------------------------------------------------------------


def caveat(result: SweepResult) -> str:
    n = result.questions
    return (
        f"Overfitting: the winners are picked and scored on the same {n} questions. One question moves a "
        f"recall by {100 / n:.1f} points, and among {len(result.rows)} settings some look better by chance "
        "alone. The gained/lost counts show how many questions a winner really changes against the "
        "current settings; a net gain below twice the square root of the questions changed (a sign test at "
        "about 95 %) is marked noise. Before changing a default, confirm the winner on another question set "
        "(or on a part of this one held out from the choice), and keep the current setting when the gain is "
        "noise."
    )


def beyond_noise(gained: int, lost: int) -> bool:
    """The net gain passes a two-sided sign test at about 95 %: gained - lost >= 2 sqrt(gained + lost)."""
    return gained + lost > 0 and gained - lost >= 2 * math.sqrt(gained + lost)


def _columns(result: SweepResult) -> list[str]:
    return result.metrics + ["median_passage_chars"]


def _config_cells(config: Config) -> list[str]:
    hybrid = config.mode == "hybrid"
    return [
        config.mode,
        f"{config.chunk_tokens}/{config.chunk_overlap}",
        f"{config.fusion_alpha:g}" if hybrid else "–",
        str(config.candidates) if hybrid else "–",
        f"{config.article_boost:g}" if hybrid else "–",
    ]


CONFIG_HEADERS = ["mode", "passages", "alpha", "candidates", "boost"]


def _winner_lines(result: SweepResult) -> list[tuple[str, Row, str, str, str]]:
    """(metric, winning row, its value, the baseline's value, gained/lost)."""
    lines = []
    for metric, row in result.winners().items():
        base = result.baseline(row.config.mode)
        gained, lost = result.paired(row, metric)
        change = "–"
        if metric.startswith("recall@"):
            change = f"+{gained}/−{lost}" + ("" if row.baseline else " clear" if beyond_noise(gained, lost) else " noise")
        lines.append((metric, row, fmt(metric, row.result.metrics[metric]), fmt(metric, base.result.metrics[metric]), change))
    return lines


_SHORT = {"fusion_alpha": "a", "candidates": "c", "article_boost": "b"}
_LONG = {"fusion_alpha": "fusion weight of the dense side", "candidates": "candidates per side before fusion",
         "article_boost": "article boost"}


def _varying(result: SweepResult) -> list[str]:
    """The fusion settings that take more than one value among the hybrid rows."""
    hybrid = [r.config for r in result.rows if r.config.mode == "hybrid"]
    return [name for name in _SHORT if len({getattr(c, name) for c in hybrid}) > 1]


def short_label(config: Config, varying: list[str] | None = None) -> str:
    """``hybrid 160/24 a0.7 c100``: the passage size and the fusion settings that vary."""
    text = f"{config.mode} {config.chunk_tokens}/{config.chunk_overlap}"
    if config.mode == "hybrid":
        for name in _SHORT if varying is None else varying:
            text += f" {_SHORT[name]}{getattr(config, name):g}"
    return text


TERMINAL_METRICS = {"recall@1": "r@1", "recall@5": "r@5", "recall@10": "r@10", f"mrr@{RANK_CUTOFF}": "MRR",
                    BUDGET_KEY: "r@2000c", "median_passage_chars": "chars"}


def print_sweep(result: SweepResult, console: Console) -> None:
    """Compact enough for 80 columns; every metric is in the reports."""
    console.print(f"[bold]clausewise eval --sweep[/bold]: {result.questions} questions, {len(result.rows)} settings")
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    table.add_column("setting", no_wrap=True)
    metrics = [m for m in TERMINAL_METRICS if m in _columns(result)]
    for metric in metrics:
        table.add_column(TERMINAL_METRICS[metric], justify="right", no_wrap=True)
    winners = {id(row) for row in result.winners().values()}
    varying = _varying(result)
    for row in result.rows:
        values = [fmt(m, row.result.metrics[m]) for m in metrics]
        table.add_row(short_label(row.config, varying) + (" *" if row.baseline else ""), *values,
                      style="bold" if id(row) in winners else None)
    console.print(table)
    hybrid = next((r.config for r in result.rows if r.config.mode == "hybrid"), None)
    legend = [f"{_SHORT[n]}: {_LONG[n]}" for n in varying]
    if hybrid is not None:
        legend += [f"{_LONG[n]} {getattr(hybrid, n):g} throughout" for n in _SHORT if n not in varying]
    console.print("; ".join(legend + ["passages: tokens/overlap", "* current settings", "bold: a winner"]) + ".")
    wins = Table(title="winner per metric, against the current settings of its mode", title_justify="left",
                 box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for header in ("metric", "winner", "value", "current", "questions"):
        wins.add_column(header, no_wrap=True)
    for metric, row, value, base, change in _winner_lines(result):
        wins.add_row(label(metric), short_label(row.config, varying) + (" *" if row.baseline else ""), value, base,
                     change)
    console.print(wins)
    console.print(f"[yellow]{caveat(result)}[/yellow]")


def sweep_json(result: SweepResult) -> dict:
    return {
        "qa": result.qa_path,
        "index": result.index,
        "questions": result.questions,
        "per_doc": result.per_doc,
        "ks": result.ks,
        "created_at": result.created_at,
        "notes": result.notes,
        "caveat": caveat(result),
        "rows": [
            {**row.config.as_dict(), "current": row.baseline,
             "metrics": {k: v for k, v in row.result.metrics.items() if not k.startswith("latency")}}
            for row in result.rows
        ],
        "winners": {
            metric: {**row.config.as_dict(), "value": row.result.metrics[metric], "current": row.baseline,
                     "gained_lost": list(result.paired(row, metric)),
                     "beyond_noise": beyond_noise(*result.paired(row, metric))}
            for metric, row in result.winners().items()
        },
    }


def sweep_markdown(result: SweepResult) -> str:
    headers = CONFIG_HEADERS + [label(m) for m in _columns(result)]
    lines = [
        f"# clausewise eval --sweep: {Path(result.qa_path).name}",
        "",
        f"{result.questions} questions, index `{result.index}`"
        + (", each asked of its own document" if result.per_doc else "") + f", {result.created_at}. `*` = current settings.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(CONFIG_HEADERS) + "---:|" * len(_columns(result)),
    ]
    for row in result.rows:
        cells = _config_cells(row.config)
        if row.baseline:
            cells[0] += " *"
        lines.append("| " + " | ".join(cells + [fmt(m, row.result.metrics[m]) for m in _columns(result)]) + " |")
    lines += ["", "## Winner per metric", "", "| metric | winner | value | current | questions gained / lost |", "|---|---|---:|---:|---|"]
    for metric, row, value, base, change in _winner_lines(result):
        lines.append(f"| {label(metric)} | {row.config.label()}{' (current)' if row.baseline else ''} | {value} | {base} | {change} |")
    lines += ["", f"> **Caveat.** {caveat(result)}", ""]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    return "\n".join(lines)


def sweep_html(result: SweepResult) -> str:
    e = html.escape
    winners: dict[int, set[str]] = {}
    for metric, row in result.winners().items():
        winners.setdefault(id(row), set()).add(metric)
    head = "".join(f"<th>{e(h)}</th>" for h in CONFIG_HEADERS + [label(m) for m in _columns(result)])
    body = []
    for row in result.rows:
        cells = _config_cells(row.config)
        if row.baseline:
            cells[0] += " *"
        tds = "".join(f"<td>{e(c)}</td>" for c in cells)
        tds += "".join(
            f'<td class="n{" best" if m in winners.get(id(row), set()) else ""}">{fmt(m, row.result.metrics[m])}</td>'
            for m in _columns(result)
        )
        body.append(f"<tr>{tds}</tr>")
    win_rows = "".join(
        f"<tr><td>{e(label(metric))}</td><td>{e(row.config.label())}{' (current)' if row.baseline else ''}</td>"
        f'<td class="n">{value}</td><td class="n">{base}</td><td>{e(change)}</td></tr>'
        for metric, row, value, base, change in _winner_lines(result)
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    parts = [
        "<h1>clausewise eval --sweep</h1>",
        f"<p>{result.questions} questions from <code>{e(result.qa_path)}</code>, index <code>{e(result.index)}</code>"
        + (", each asked of its own document" if result.per_doc else "") + f", {e(result.created_at)}. "
        "Passages are tokens/overlap, alpha the fusion weight of the dense side, candidates the passages taken "
        "from each side before fusion. <b>*</b> marks the current settings; a bold value is the winner of its "
        "column (the first of equals).</p>",
        f'<p class="caveat"><b>Caveat.</b> {e(caveat(result))}</p>',
        "<h2>Winner per metric</h2>",
        "<table><tr><th>metric</th><th>winner</th><th>value</th><th>current</th><th>questions gained / lost</th></tr>"
        + win_rows + "</table>",
        "<h2>All settings</h2>",
        f'<table class="wide"><tr>{head}</tr>{"".join(body)}</table>',
    ]
    if notes:
        parts.append(f"<h2>Notes</h2><ul>{notes}</ul>")
    return html_page(f"clausewise eval --sweep: {Path(result.qa_path).name}", parts)


def write_sweep_reports(result: SweepResult, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "sweep.json", "html": out / "sweep.html", "markdown": out / "sweep.md"}
    paths["json"].write_text(json.dumps(sweep_json(result), indent=2, ensure_ascii=False), encoding="utf-8")
    paths["html"].write_text(sweep_html(result), encoding="utf-8")
    paths["markdown"].write_text(sweep_markdown(result), encoding="utf-8")
    return paths
