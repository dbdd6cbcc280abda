"""The `clausewise` command."""

from __future__ import annotations

import typer

from ingest.cli import info_command, ingest_command

app = typer.Typer(help="clausewise: cited passages from policy and treaty texts.", no_args_is_help=True, add_completion=False)
app.command("ingest")(ingest_command)
app.command("info")(info_command)


def main() -> None:
    app()
