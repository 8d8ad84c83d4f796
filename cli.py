"""The `callbridge` command line (entry point `cli:app`)."""

from __future__ import annotations

import typer

from nlp import __version__
from nlp.commands import register_all

app = typer.Typer(
    name="callbridge",
    help="Turn sales-call recordings into the customer's voice: transcripts, what customers say "
    "(openings, motives, needs, objections, questions), themes, script gaps and a report for marketing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"callbridge {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """callbridge: the customer's voice from sales calls."""


register_all(app)

if __name__ == "__main__":
    app()
