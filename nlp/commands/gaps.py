"""CLI commands: gaps."""

import typer


def register(app: typer.Typer) -> None:
    pass
