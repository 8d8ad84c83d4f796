"""CLI commands, one module per stage. Each module has `register(app)`.

Commands stay thin: parse options, call the library, print. `handle_errors` turns library
errors into a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Callable, TypeVar

import typer

from ..errors import CallbridgeError

MODULES = ("transcribe", "importexport", "extract", "themes", "gaps", "report")

STORE_HELP = "Workspace folder (SQLite database + transcripts/)."

F = TypeVar("F", bound=Callable)


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CallbridgeError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.secho("interrupted; finished work is saved, rerun to continue", err=True)
            raise typer.Exit(130) from None
        except Exception as e:  # a full disk can surface in any stage's own write (report, CSVs)
            from ..store import is_disk_full

            if not is_disk_full(e):
                raise
            what = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.filename else str(e)
            typer.secho(f"error: cannot write ({what}); free disk space (or raise the file size limit) and "
                        "rerun: finished work is kept and skipped", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def register_all(app: typer.Typer) -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}").register(app)


def eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
