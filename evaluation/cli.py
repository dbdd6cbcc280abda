"""`clausewise eval`: retrieval quality on a question set, in-process or against `/ask`.

The command is registered by the main CLI (``service/cli.py``); it uses the search layer
(:class:`~service.search.engine.Engine`) and, for ``--sweep``, the ingestion pipeline as
libraries. Every :class:`~ingest.errors.ClausewiseError` it meets becomes a message and an
exit code in :func:`~ingest.console.reports_errors`: 2 for bad input (options, question file,
index, model), 1 for a service that cannot answer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from evaluation.grid import Grid
from evaluation.qa import Question, QuestionSet, load_questions
from evaluation.render import print_sweep, print_table, write_reports, write_sweep_reports
from ingest.console import err as console  # one line a message: paths stay whole
from ingest.console import reports_errors
from ingest.errors import EvaluationError
from ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    from evaluation.runner import InProcess, OverHttp

# The runner, the sweep and the search engine are imported where they run: `clausewise ingest`
# goes through this module (one `clausewise` command) and should not pay for them.

MAX_INVALID_SHOWN = 20


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
    from evaluation.runner import MAX_DEPTH

    ks = _list(value, "--k", int)
    if any(k < 1 or k > MAX_DEPTH for k in ks):
        raise typer.BadParameter(f"each k must be between 1 and {MAX_DEPTH}", param_hint="--k")
    return sorted(ks)


def _modes(value: str) -> list[str]:
    from evaluation.runner import MODES

    modes = _list(value, "--mode", lambda m: m.lower())
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise typer.BadParameter(f"unknown mode {unknown[0]!r}: use {', '.join(MODES)}", param_hint="--mode")
    return modes


def _chunk(value: str) -> tuple[int, int, int]:
    """``160/48`` (every document) or ``160+206/48`` (with headings + flat / overlap)."""
    sizes, _, overlap = value.partition("/")
    tokens, _, flat = sizes.partition("+")
    tokens_n, overlap_n = int(tokens), int(overlap or 0)
    flat_n = int(flat) if flat else tokens_n
    if not (16 <= tokens_n <= 2048 and 16 <= flat_n <= 2048) or not 0 <= overlap_n < min(tokens_n, flat_n):
        raise ValueError(value)
    return tokens_n, overlap_n, flat_n


def _grid(quick: bool, chunks: str | None, alphas: str | None, candidates: str | None, boosts: str | None) -> Grid:
    grid = Grid.quick() if quick else Grid()
    if chunks is not None:
        grid.chunks = _list(chunks, "--grid-chunks", _chunk)
    if alphas is not None:
        grid.alphas = _list(alphas, "--grid-alpha", float)
        if any(not 0 <= a <= 1 for a in grid.alphas):
            raise typer.BadParameter("weights must lie in [0, 1]", param_hint="--grid-alpha")
    if candidates is not None:
        grid.candidates = _list(candidates, "--grid-candidates", int)
        if any(not 10 <= c <= 2000 for c in grid.candidates):
            raise typer.BadParameter("candidates must lie in [10, 2000]", param_hint="--grid-candidates")
    if boosts is not None:
        grid.boosts = _list(boosts, "--grid-boost", float)
    return grid


def _check_options(index: Path | None, url: str | None, sweep: bool, quick: bool, grid_given: bool) -> None:
    if url and index:
        raise EvaluationError("give --index (in-process) or --url (a running service), not both")
    if url and sweep:
        raise EvaluationError("--sweep needs the index itself: use --index, not --url")
    if (quick or grid_given) and not sweep:
        raise EvaluationError("--quick and --grid-* go with --sweep")


def _load(qa: Path, per_doc: bool) -> QuestionSet:
    """The question set, its invalid lines said on stderr (the report lists them all)."""
    qset = load_questions(qa)
    for line, why in qset.invalid[:MAX_INVALID_SHOWN]:
        console.print(f"[yellow]{escape(str(qa))}:{line}: skipped: {escape(why)}[/yellow]")
    if len(qset.invalid) > MAX_INVALID_SHOWN:
        console.print(
            f"[yellow]… and {len(qset.invalid) - MAX_INVALID_SHOWN} more invalid lines (listed in the report)[/yellow]"
        )
    if per_doc and not any(q.doc for q in qset.questions):
        raise EvaluationError("--per-doc needs a 'doc' on the questions; this set has none")
    return qset


def _progress(quiet: bool) -> tuple[Progress | None, Callable[[str, int, int], None] | None]:
    if quiet or not sys.stderr.isatty():
        return None, None
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    tasks: dict[str, TaskID] = {}

    def update(mode: str, done: int, total: int) -> None:
        if mode not in tasks:
            tasks[mode] = bar.add_task(mode, total=total)
        bar.update(tasks[mode], completed=done)

    return bar, update


def _reports(paths: dict[str, Path]) -> None:
    console.print(f"reports: {paths['html']}  {paths['markdown']}  {paths['json']}", soft_wrap=True)


def _sweep(
    qa: Path,
    questions: list[Question],
    index_dir: Path,
    settings: Settings,
    grid: Grid,
    modes: list[str],
    ks: list[int],
    per_doc: bool,
    scope: str | None,
    out: Path,
    quiet: bool,
) -> None:
    from evaluation.sweep import run_sweep

    def log(message: str) -> None:
        if not quiet or message.startswith(("warning", "note")):  # -q keeps only what needs reading
            console.print(escape(message))

    result = run_sweep(index_dir, str(qa), questions, settings, grid, modes, ks, per_doc, log=log, scope=scope)
    print_sweep(result, Console())
    _reports(write_sweep_reports(result, out))


def _evaluate(
    qa: Path,
    qset: QuestionSet,
    index_dir: Path,
    url: str | None,
    settings: Settings,
    modes: list[str],
    ks: list[int],
    per_doc: bool,
    scope: str | None,
    out: Path,
    quiet: bool,
) -> None:
    from evaluation.runner import EvalRun, evaluate, in_process, missing_documents, over_http, recorded_settings
    from service.search.engine import Engine

    asker: InProcess | OverHttp
    if url:
        asker = over_http(url, scope=scope)
        target, run_settings = url, {}
    else:
        snapshot = Engine(settings, index_dir).load()
        asker = in_process(snapshot.retriever, scope=scope)
        target = str(index_dir)
        run_settings = recorded_settings(snapshot.index.manifest, settings)
    missing = missing_documents(qset.questions, asker.sources())
    if missing:
        console.print(
            f"[yellow]warning:[/yellow] {len(missing)} gold document(s) are not in the index (not ingested, or "
            f"failed to load), so their questions cannot be hit: {escape(', '.join(missing))}",
            soft_wrap=True,
        )
    bar, update = _progress(quiet)
    if bar:
        with bar:
            results = evaluate(qset.questions, asker, modes, ks, per_doc, progress=update)
    else:
        results = evaluate(qset.questions, asker, modes, ks, per_doc)
    run = EvalRun(
        str(qa),
        target,
        per_doc,
        ks,
        results,
        qset.invalid,
        asker.index_version,
        run_settings,
        scope=scope,
        missing_docs=missing,
    )
    print_table(run, Console())
    _reports(write_reports(run, out))


@reports_errors
def eval_command(
    qa: Annotated[
        Path, typer.Argument(help="Question set: JSONL, one {id, question, doc, answers, evidence?} a line.")
    ],
    index: Annotated[Path | None, typer.Option("--index", help="Index folder (in-process run).")] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs for recall@k, comma-separated.")] = "1,5,10",
    mode: Annotated[str, typer.Option("--mode", help="Modes to compare, comma-separated.")] = "hybrid,dense,lexical",
    out: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default: eval-report/NAME-OF-THE-SET).")
    ] = None,
    per_doc: Annotated[
        bool, typer.Option("--per-doc", help="Ask each question of its own `doc` (source filter).")
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Ask every question within these sources: a path or glob, as /ask's source filter (e.g. 'treaties/*').",
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Ask a running service's /ask instead, e.g. http://127.0.0.1:8000.")
    ] = None,
    sweep: Annotated[
        bool,
        typer.Option("--sweep", help="Try a small grid of passage sizes and fusion settings on copies of the index."),
    ] = False,
    quick: Annotated[bool, typer.Option("--quick", help="With --sweep: fusion weight only, no re-chunking.")] = False,
    grid_chunks: Annotated[
        str | None,
        typer.Option(
            "--grid-chunks",
            help="With --sweep: passage sizes as tokens/overlap, e.g. 96/16,200/32; headings+flat/overlap, e.g. 160+206/48, sizes documents without headings apart.",
        ),
    ] = None,
    grid_alpha: Annotated[
        str | None,
        typer.Option("--grid-alpha", help="With --sweep: fusion weights of the dense side, e.g. 0.3,0.5,0.7."),
    ] = None,
    grid_candidates: Annotated[
        str | None,
        typer.Option("--grid-candidates", help="With --sweep: passages per side before fusion, e.g. 50,100,200."),
    ] = None,
    grid_boost: Annotated[
        str | None, typer.Option("--grid-boost", help="With --sweep: article boosts, e.g. 0,0.2.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Measure retrieval on your own questions: recall@k, MRR, nDCG, recall@2000c, latency per mode."""
    ks, modes = _ks(k), _modes(mode)
    grid_given = any(v is not None for v in (grid_chunks, grid_alpha, grid_candidates, grid_boost))
    _check_options(index, url, sweep, quick, grid_given)
    qset = _load(qa, per_doc)
    out = out or Path("eval-report") / qa.stem
    settings = get_settings()
    index_dir = index or settings.index_dir
    if sweep:
        grid = _grid(quick, grid_chunks, grid_alpha, grid_candidates, grid_boost)
        _sweep(qa, qset.questions, index_dir, settings, grid, modes, ks, per_doc, source, out, quiet)
    else:
        _evaluate(qa, qset, index_dir, url, settings, modes, ks, per_doc, source, out, quiet)
