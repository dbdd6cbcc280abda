"""`clausewise eval`: retrieval quality on a question set, in-process or against `/ask`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.embedder import ModelError
from ingest.settings import get_settings
from ingest.store.index import IndexBusyError, IndexIncompatibleError, IndexMissingError
from evaluation.qa import QuestionSetError, load_questions
from evaluation.report import print_table, write_reports
from evaluation.runner import (
    MAX_DEPTH,
    MODES,
    EvalRun,
    EvaluationError,
    evaluate,
    in_process,
    missing_documents,
    over_http,
    recorded_settings,
)
from evaluation.sweep import Grid, SweepError, print_sweep, run_sweep, write_sweep_reports
from service.search.engine import Engine

console = Console(stderr=True, soft_wrap=True)  # one line a message: paths stay whole
MAX_INVALID_SHOWN = 20


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _list(value: str, name: str, convert) -> list:
    items = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            items.append(convert(part))
        except ValueError:
            raise typer.BadParameter(f"{part!r} is not a valid value", param_hint=name) from None
    if not items:
        raise typer.BadParameter("give at least one value", param_hint=name)
    return list(dict.fromkeys(items))


def _ks(value: str) -> list[int]:
    ks = _list(value, "--k", int)
    if any(k < 1 or k > MAX_DEPTH for k in ks):
        raise typer.BadParameter(f"each k must be between 1 and {MAX_DEPTH}", param_hint="--k")
    return sorted(ks)


def _modes(value: str) -> list[str]:
    modes = _list(value, "--mode", lambda m: m.lower())
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise typer.BadParameter(f"unknown mode {unknown[0]!r}: use {', '.join(MODES)}", param_hint="--mode")
    return modes


def _chunk(value: str) -> tuple[int, int]:
    tokens, _, overlap = value.partition("/")
    tokens_n, overlap_n = int(tokens), int(overlap or 0)
    if not 16 <= tokens_n <= 2048 or not 0 <= overlap_n < tokens_n:
        raise ValueError(value)
    return tokens_n, overlap_n


def _progress(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None, None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    tasks: dict[str, int] = {}

    def update(mode: str, done: int, total: int) -> None:
        if mode not in tasks:
            tasks[mode] = bar.add_task(mode, total=total)
        bar.update(tasks[mode], completed=done)

    return bar, update


def eval_command(
    qa: Annotated[Path, typer.Argument(help="Question set: JSONL, one {id, question, doc, answers, evidence?} a line.")],
    index: Annotated[Optional[Path], typer.Option("--index", help="Index folder (in-process run).")] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs for recall@k, comma-separated.")] = "1,5,10",
    mode: Annotated[str, typer.Option("--mode", help="Modes to compare, comma-separated.")] = "hybrid,dense,lexical",
    out: Annotated[Optional[Path], typer.Option("--out", help="Report folder (default: eval-report/NAME-OF-THE-SET).")] = None,
    per_doc: Annotated[bool, typer.Option("--per-doc", help="Ask each question of its own `doc` (source filter).")] = False,
    source: Annotated[Optional[str], typer.Option("--source", help="Ask every question within these sources: a path or glob, as /ask's source filter (e.g. 'treaties/*').")] = None,
    url: Annotated[Optional[str], typer.Option("--url", help="Ask a running service's /ask instead, e.g. http://127.0.0.1:8000.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Try a small grid of passage sizes and fusion settings on copies of the index.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="With --sweep: fusion weight only, no re-chunking.")] = False,
    grid_chunks: Annotated[Optional[str], typer.Option("--grid-chunks", help="With --sweep: passage sizes as tokens/overlap, e.g. 96/16,200/32.")] = None,
    grid_alpha: Annotated[Optional[str], typer.Option("--grid-alpha", help="With --sweep: fusion weights of the dense side, e.g. 0.3,0.5,0.7.")] = None,
    grid_candidates: Annotated[Optional[str], typer.Option("--grid-candidates", help="With --sweep: passages per side before fusion, e.g. 50,100,200.")] = None,
    grid_boost: Annotated[Optional[str], typer.Option("--grid-boost", help="With --sweep: article boosts, e.g. 0,0.2.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Measure retrieval on your own questions: recall@k, MRR, nDCG, recall@2000c, latency per mode."""
    ks, modes = _ks(k), _modes(mode)
    if url and index:
        raise _fail("give --index (in-process) or --url (a running service), not both")
    if url and sweep:
        raise _fail("--sweep needs the index itself: use --index, not --url")
    grid_given = any(v is not None for v in (grid_chunks, grid_alpha, grid_candidates, grid_boost))
    if (quick or grid_given) and not sweep:
        raise _fail("--quick and --grid-* go with --sweep")
    try:
        qset = load_questions(qa)
    except QuestionSetError as exc:
        raise _fail(str(exc))
    for line, why in qset.invalid[:MAX_INVALID_SHOWN]:
        console.print(f"[yellow]{escape(str(qa))}:{line}: skipped: {escape(why)}[/yellow]")
    if len(qset.invalid) > MAX_INVALID_SHOWN:
        console.print(f"[yellow]… and {len(qset.invalid) - MAX_INVALID_SHOWN} more invalid lines (listed in the report)[/yellow]")
    if per_doc and not any(q.doc for q in qset.questions):
        raise _fail("--per-doc needs a 'doc' on the questions; this set has none")
    out = out or Path("eval-report") / qa.stem
    settings = get_settings()
    index_dir = index or settings.index_dir

    if sweep:
        grid = Grid.quick() if quick else Grid()
        if grid_chunks is not None:
            grid.chunks = _list(grid_chunks, "--grid-chunks", _chunk)
        if grid_alpha is not None:
            grid.alphas = _list(grid_alpha, "--grid-alpha", float)
            if any(not 0 <= a <= 1 for a in grid.alphas):
                raise typer.BadParameter("weights must lie in [0, 1]", param_hint="--grid-alpha")
        if grid_candidates is not None:
            grid.candidates = _list(grid_candidates, "--grid-candidates", int)
            if any(not 10 <= c <= 2000 for c in grid.candidates):
                raise typer.BadParameter("candidates must lie in [10, 2000]", param_hint="--grid-candidates")
        if grid_boost is not None:
            grid.boosts = _list(grid_boost, "--grid-boost", float)

        def log(message: str) -> None:
            if not quiet or message.startswith(("warning", "note")):  # -q keeps only what needs reading
                console.print(escape(message))

        try:
            result = run_sweep(index_dir, str(qa), qset.questions, settings, grid, modes, ks, per_doc, log=log, scope=source)
        except (IndexMissingError, IndexIncompatibleError, IndexBusyError, ModelError, SweepError) as exc:
            raise _fail(str(exc))
        print_sweep(result, Console())
        paths = write_sweep_reports(result, out)
        console.print(f"reports: {paths['html']}  {paths['markdown']}  {paths['json']}", soft_wrap=True)
        return

    if url:
        asker = over_http(url, scope=source)
        target, run_settings = url, {}
    else:
        engine = Engine(settings, index_dir)
        try:
            snapshot = engine.load()
        except (IndexMissingError, IndexIncompatibleError, ModelError) as exc:
            raise _fail(str(exc))
        asker = in_process(snapshot.retriever, scope=source)
        target = str(index_dir)
        run_settings = recorded_settings(snapshot.index.manifest, settings)
    try:
        missing = missing_documents(qset.questions, asker.sources())
    except EvaluationError as exc:
        raise _fail(str(exc), 1)
    if missing:
        console.print(
            f"[yellow]warning:[/yellow] {len(missing)} gold document(s) are not in the index (not ingested, or "
            f"failed to load), so their questions cannot be hit: {escape(', '.join(missing))}", soft_wrap=True,
        )
    bar, update = _progress(quiet)
    try:
        if bar:
            with bar:
                results = evaluate(qset.questions, asker, modes, ks, per_doc, progress=update)
        else:
            results = evaluate(qset.questions, asker, modes, ks, per_doc)
    except EvaluationError as exc:
        raise _fail(str(exc), 1)
    run = EvalRun(
        str(qa), target, per_doc, ks, results, qset.invalid, asker.index_version, run_settings, scope=source,
        missing_docs=missing,
    )
    print_table(run, Console())
    paths = write_reports(run, out)
    console.print(f"reports: {paths['html']}  {paths['markdown']}  {paths['json']}", soft_wrap=True)
