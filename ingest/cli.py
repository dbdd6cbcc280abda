"""`clausewise ingest` and `clausewise info`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ingest.embedder import ModelError
from ingest.pipeline import IngestReport, NothingToIngest, ingest
from ingest.settings import get_settings
from ingest.store.index import IndexBusyError, IndexIncompatibleError, IndexMissingError, StoredIndex

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


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Folders or files to ingest.", exists=True)],
    index: Annotated[Optional[Path], typer.Option("--index", help="Index folder.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Sentence-transformers model name or path.")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Ignore the current index and rebuild from scratch.")] = False,
    exclude: Annotated[list[str], typer.Option("--exclude", help="Glob of files to skip (repeatable).")] = [],
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero when any file failed.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Build or update the index from documents (PDF, text, Markdown, HTML)."""
    settings = get_settings()
    if model:
        settings = settings.model_copy(update={"model": model})
    try:
        report = ingest(
            paths, settings, index_dir=index or settings.index_dir, excludes=exclude,
            rebuild=rebuild, show_progress_bar=not quiet and sys.stderr.isatty(),
        )
    except NothingToIngest as exc:
        _summary(exc.report)
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    except (IndexIncompatibleError, IndexBusyError, ModelError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    _summary(report)
    if strict and report.failed:
        raise typer.Exit(1)


def info_command(
    index: Annotated[Optional[Path], typer.Option("--index", help="Index folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Show the index manifest and counts."""
    index_dir = index or get_settings().index_dir
    try:
        stored = StoredIndex.open(index_dir)
    except (IndexMissingError, IndexIncompatibleError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    manifest = stored.manifest
    if as_json:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    out = Console()
    out.print(f"[bold]index[/bold] {index_dir} → {stored.folder.name}")
    for key in ("index_version", "created_at", "format_version", "content_digest"):
        out.print(f"  {key}: {manifest[key]}")
    out.print(f"  model: {manifest['model']['name']} ({manifest['model']['dimension']}-d)")
    out.print(f"  chunking: {manifest['chunking']}")
    out.print(f"  faiss: {manifest['faiss']}")
    out.print(f"  counts: {manifest['counts']}")
    table = Table("doc_id", "title", "source", "pages", "passages")
    for d in stored.documents.values():
        table.add_row(d.doc_id, d.title[:60], d.source, str(d.pages or "-"), str(d.passage_count))
    out.print(table)
