"""The `clausewise` command: ingest, info, eval, serve, ask, mcp.

Every command is wrapped by :func:`ingest.console.reports_errors`: a
:class:`~ingest.errors.ClausewiseError` is one line on stderr and its exit code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evaluation.cli import eval_command
from ingest.cli import info_command, ingest_command
from ingest.console import reports_errors
from ingest.settings import get_settings

if TYPE_CHECKING:
    from service.search.engine import Engine

app = typer.Typer(
    help="clausewise: cited passages from policy and treaty texts.", no_args_is_help=True, add_completion=False
)
app.command("ingest")(ingest_command)
app.command("info")(info_command)
app.command("eval")(eval_command)


def _check_index(index_dir: Path) -> None:
    """Fail fast, with the fix, before any worker starts (without loading the model twice):
    the embedded index in ``index_dir``, or the PostgreSQL one the settings name."""
    from ingest.store.reader import StoredIndex
    from service.search.engine import check_model

    settings = get_settings()
    if settings.backend == "postgres":
        from service.search.postgres import PostgresIndex  # psycopg: only for this backend

        assert settings.postgres_dsn is not None  # Settings refuses the backend without one
        index = PostgresIndex(settings.postgres_dsn)
        try:
            check_model(index, settings)
        finally:
            index.close()
        return
    stored = StoredIndex.open(index_dir)
    try:
        check_model(stored, settings)
    finally:
        stored.close()


def _load_engine(index: Path | None) -> Engine:
    from service.search.engine import Engine

    settings = get_settings()
    engine = Engine(settings, index or settings.index_dir)
    engine.load()
    return engine


@app.command()
@reports_errors
def serve(
    index: Annotated[Path | None, typer.Option("--index", help="Index folder.")] = None,
    corpus: Annotated[
        Path | None, typer.Option("--corpus", help="Corpus folder that uploads go to and rebuilds read.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Serve the HTTP API (POST /ask, /docs for the OpenAPI page)."""
    import uvicorn

    from service.http.limits import uvicorn_limits

    settings = get_settings()
    index_dir = (index or settings.index_dir).resolve()
    workers = workers or settings.workers
    # Fail fast with the fix, before any worker starts.
    _check_index(index_dir)
    os.environ["CLAUSEWISE_INDEX_DIR"] = str(index_dir)
    os.environ["CLAUSEWISE_CORPUS_DIR"] = str((corpus or settings.corpus_dir).resolve())
    host = host or settings.host
    os.environ["CLAUSEWISE_HOST"] = host  # a name given to --host is one the app is served as
    # Each worker sizes its search pool to its share of the cores (service/http/compute.py); a
    # question uses `query_threads` threads of onnxruntime and FAISS, and no OpenMP pool spins
    # while it waits (two spinning pools on two cores turned a 17 ms query into 99 ms).
    os.environ["CLAUSEWISE_WORKERS"] = str(workers)
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.query_threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    get_settings.cache_clear()  # the app (same process when workers=1) must read the folders just set
    if workers > 1:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="clausewise-metrics-"))  # summed
    uvicorn.run(
        "service.http.app:create_app",
        factory=True,
        host=host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        access_log=False,
        **uvicorn_limits(settings),
    )


@app.command()
@reports_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    index: Annotated[Path | None, typer.Option("--index", help="Index folder.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
) -> None:
    """Print cited passages for a question, without a server."""
    from service.search.query import Query
    from service.search.serialise import pages_label

    query = Query.build(question, settings=get_settings(), top_k=top_k, mode=mode)  # checked before the model loads
    hits = _load_engine(index).snapshot.retriever.search(query)
    out = Console()
    if not hits:
        out.print("No passage found.")
    for hit in hits:
        c = hit.citation
        label = pages_label(c)
        pages = f", {label}" if label else ""
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
@reports_errors
def mcp_command(index: Annotated[Path | None, typer.Option("--index", help="Index folder.")] = None) -> None:
    """Serve the MCP tools search_policies and get_passage over stdio, for desktop assistants."""
    from service.http.mcp import run_stdio

    run_stdio(index, _load_engine)


def main() -> None:
    app(prog_name="clausewise")


if __name__ == "__main__":
    main()
