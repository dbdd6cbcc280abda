"""The `clausewise` command: ingest, info, serve, ask."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ingest.cli import info_command, ingest_command
from ingest.embedder import ModelError
from ingest.settings import get_settings
from ingest.store.index import IndexIncompatibleError, IndexMissingError
from evaluation.cli import eval_command

app = typer.Typer(
    help="clausewise: cited passages from policy and treaty texts.", no_args_is_help=True, add_completion=False
)
app.command("ingest")(ingest_command)
app.command("info")(info_command)
app.command("eval")(eval_command)
err = Console(stderr=True, soft_wrap=True)  # one line per error: a path or command to copy stays whole


def _check_index(index_dir: Path) -> None:
    """Fail fast, with the fix, before any worker starts (without loading the model twice)."""
    from ingest.store.index import StoredIndex
    from service.search.engine import check_model

    try:
        stored = StoredIndex.open(index_dir)
        try:
            check_model(stored, get_settings())
        finally:
            stored.close()
    except (IndexMissingError, IndexIncompatibleError, ModelError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2)


def _load_engine(index: Path | None):
    from service.search.engine import Engine

    settings = get_settings()
    engine = Engine(settings, index or settings.index_dir)
    try:
        engine.load()
    except (IndexMissingError, IndexIncompatibleError, ModelError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    return engine


@app.command()
def serve(
    index: Annotated[Optional[Path], typer.Option("--index", help="Index folder.")] = None,
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Corpus folder that uploads go to and rebuilds read.")] = None,
    host: Annotated[Optional[str], typer.Option(help="Interface to bind.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes.")] = None,
) -> None:
    """Serve the HTTP API (POST /ask, /docs for the OpenAPI page)."""
    import uvicorn

    settings = get_settings()
    index_dir = (index or settings.index_dir).resolve()
    workers = workers or settings.workers
    # Fail fast with the fix, before any worker starts.
    _check_index(index_dir)
    os.environ["CLAUSEWISE_INDEX_DIR"] = str(index_dir)
    os.environ["CLAUSEWISE_CORPUS_DIR"] = str((corpus or settings.corpus_dir).resolve())
    get_settings.cache_clear()  # the app (same process when workers=1) must read the folders just set
    if workers > 1:
        # Each worker owns its model; split the cores between them and sum metrics across them.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // workers)))
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="clausewise-metrics-"))
    uvicorn.run(
        "service.http.app:create_app", factory=True, host=host or settings.host, port=port or settings.port,
        workers=workers, log_level="info", access_log=False,
    )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    index: Annotated[Optional[Path], typer.Option("--index", help="Index folder.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
) -> None:
    """Print cited passages for a question, without a server."""
    if mode not in {"hybrid", "dense", "lexical"}:
        err.print(f"[red]error:[/red] unknown mode {mode!r}: use hybrid, dense or lexical")
        raise typer.Exit(2)
    if not question.strip():
        err.print("[red]error:[/red] the question is empty")
        raise typer.Exit(2)
    limit = get_settings().max_question_chars
    if len(question.strip()) > limit:
        err.print(f"[red]error:[/red] the question is {len(question.strip())} characters long; the limit is {limit}")
        raise typer.Exit(2)
    engine = _load_engine(index)
    hits = engine.snapshot.retriever.run(question.strip(), top_k, mode)  # type: ignore[arg-type]
    out = Console()
    if not hits:
        out.print("No passage found.")
    for hit in hits:
        c = hit.citation
        pages = "" if c.page_start is None else (
            f", p. {c.page_start}" if c.page_start == c.page_end else f", pp. {c.page_start}–{c.page_end}"
        )
        out.print(f"[bold][{hit.rank}] {escape(c.title)}[/bold]{escape(pages)}  [dim]{escape(c.source)}[/dim]")
        if c.section:
            out.print(f"    [italic]{escape(c.section)}[/italic]")
        text = hit.passage.text
        if hit.highlight:
            a, b = hit.highlight
            body = f"{escape(text[:a])}[bold yellow]{escape(text[a:b])}[/bold yellow]{escape(text[b:])}"
        else:
            body = escape(text)
        out.print(f"    {body}\n")


@app.command("mcp")
def mcp_command(index: Annotated[Optional[Path], typer.Option("--index", help="Index folder.")] = None) -> None:
    """Serve the MCP tools search_policies and get_passage over stdio, for desktop assistants."""
    from service.http.mcp import run_stdio

    run_stdio(index, _load_engine)


def main() -> None:
    app(prog_name="clausewise")


if __name__ == "__main__":
    sys.exit(main())
