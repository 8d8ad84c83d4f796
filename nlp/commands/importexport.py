"""CLI commands: importexport."""

import typer


def register(app: typer.Typer) -> None:
    pass
