"""`clausewise ingest` and `clausewise info`."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ingest.changes import IngestReport
from ingest.console import print_error, reports_errors
from ingest.errors import ExitCode, IndexBusyError, NothingToIngest
from ingest.pipeline import ingest
from ingest.progress import ProgressBars
from ingest.settings import get_settings, override
from ingest.store.reader import StoredIndex

console = Console(stderr=True)


def _summary(report: IngestReport) -> None:
    table = Table(title="clausewise ingest", show_header=True)
    table.add_column("result")
    table.add_column("files", justify="right")
    table.add_column("which", overflow="fold")
    rows = [
        ("added", report.added),
        ("updated", report.updated),
        ("removed", report.removed),
        ("unchanged", report.unchanged),
        ("failed", [f"{s}: {why}" for s, why in report.failed]),
        ("failed-unchanged", [f"{s}: {why}" for s, why in report.failed_unchanged]),
        ("skipped", [f"{s}: {why}" for s, why in report.skipped]),
        ("warnings", [f"{s}: {why}" for s, why in report.warnings]),
    ]
    for name, items in rows:
        shown = items if name not in {"unchanged"} else items[:5] + (["…"] if len(items) > 5 else [])
        table.add_row(name, str(len(items)), "\n".join(shown))
    console.print(table)
    state = "published" if report.published else "unchanged, nothing written"
    console.print(
        f"index {report.index_version} ({state}): {report.documents} documents, {report.pages} pages, "
        f"{report.passages} passages, {report.embedded} embedded, {report.seconds:.1f} s"
    )


@reports_errors
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Folders or files to ingest.", exists=True)],
    index: Annotated[Path | None, typer.Option("--index", help="Index folder.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Sentence-transformers model name or path.")] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Ignore the current index and rebuild from scratch.")
    ] = False,
    exclude: Annotated[list[str], typer.Option("--exclude", help="Glob of files to skip (repeatable).")] = [],  # noqa: B006 — typer copies it
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero when any file failed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Parse again the files that failed before, even if unchanged.")
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Parse and embed on the Dask cluster of this scheduler (tcp://HOST:8786); "
            "overrides CLAUSEWISE_DASK_SCHEDULER.",
        ),
    ] = None,
) -> None:
    """Build or update the index from documents (PDF, text, Markdown, HTML)."""
    settings = get_settings()
    options = {"model": model} if model else {}
    if dask is not None:  # `--dask ""` is refused, not taken for "no cluster"
        options["dask_scheduler"] = dask
    if options:
        settings = override(settings, **options)
    show = not quiet and sys.stderr.isatty()
    try:
        with ProgressBars(console) if show else nullcontext(None) as bars:
            report = ingest(
                paths,
                settings,
                index_dir=index or settings.index_dir,
                excludes=exclude,
                rebuild=rebuild,
                progress=bars,
                retry_failed=retry_failed,
            )
    except NothingToIngest as exc:
        _summary(exc.report)  # which file failed and why, above the error
        print_error(exc.message)
        # `clausewise ingest` exits as with --strict here; NOTHING_TO_DO is the rebuild worker's.
        raise typer.Exit(ExitCode.FAILED) from exc
    except IndexBusyError as exc:
        print_error(exc.message)
        # `clausewise ingest` has always exited USAGE (2) for a busy index; BUSY is the worker's.
        raise typer.Exit(ExitCode.USAGE) from exc
    _summary(report)
    if strict and (report.failed or report.failed_unchanged):
        raise typer.Exit(ExitCode.FAILED)


@reports_errors
def info_command(
    index: Annotated[Path | None, typer.Option("--index", help="Index folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Show the index manifest and counts."""
    index_dir = index or get_settings().index_dir
    stored = StoredIndex.open(index_dir)
    manifest = stored.manifest
    if as_json:
        print(manifest.dumps())
        return
    out = Console()
    out.print(f"[bold]index[/bold] {index_dir} → {stored.folder.name}")
    out.print(f"  index_version: {manifest.index_version}")
    out.print(f"  created_at: {manifest.created_at}")
    out.print(f"  format_version: {manifest.format_version}")
    out.print(f"  content_digest: {manifest.content_digest}")
    out.print(f"  model: {manifest.model.name} ({manifest.model.dimension}-d)")
    out.print(f"  chunking: {manifest.chunking.to_json()}")
    out.print(f"  faiss: {manifest.faiss.to_json() if manifest.faiss else None}")
    out.print(f"  counts: {manifest.counts.to_json()}")
    table = Table("doc_id", "title", "source", "pages", "passages")
    for d in stored.documents.values():
        table.add_row(d.doc_id, d.title[:60], d.source, str(d.pages or "-"), str(d.passage_count))
    out.print(table)
