"""CLI commands: import and export."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import STORE_HELP, eprint, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("import")
    @handle_errors
    def import_(
        inputs: List[Path] = typer.Argument(..., help="Transcript files or folders (searched recursively): call "
                                            "JSON (.json, .jsonl), plain-text dialogues with role prefixes "
                                            "(.txt: 'Менеджер:', 'Клиент:', 'Agent:', 'Customer:', ...), "
                                            "subtitles with speaker tags (.srt, .vtt)."),
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        metadata: Optional[Path] = typer.Option(None, "--metadata", help="CRM CSV/XLSX joined by call_id or file "
                                                "name (date, agent, lead_source, campaign, outcome, amount; "
                                                "other columns kept)."),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 if any file failed."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-file progress."),
    ) -> None:
        """Import existing transcripts into the store, skipping speech recognition.

        call_id is the JSON's call_id or the file stem; the language is detected. A broken file
        fails alone with its reason (printed and stored); rerunning skips unchanged files.
        Exit code 0 unless --strict or nothing succeeded.
        """
        from ..importers import import_paths
        from ..metadata import read_metadata
        from ..store import Store

        table = read_metadata(metadata) if metadata else None  # a bad CSV fails before any work
        with Store(store) as st:
            summary = import_paths(inputs, st, metadata=table, log=None if quiet else eprint)
        eprint(summary.text())
        code = summary.exit_code(strict)
        if code:
            raise typer.Exit(code)

    @app.command("export")
    @handle_errors
    def export(
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        fmt: Optional[str] = typer.Option(None, "--format", "-f", help="json (calls in the call format), csv or "
                                          "parquet (one row per turn with the CRM fields). Default: from "
                                          "--out's suffix, else json."),
        out: Path = typer.Option(..., "--out", "-o", help="Output file."),
        no_redact: bool = typer.Option(False, "--no-redact", help="Keep personal data (phones, e-mails, card, "
                                       "passport, INN, SNILS numbers, names) instead of masking it."),
    ) -> None:
        """Export the store's calls as JSON, CSV or Parquet, personal data redacted by default."""
        from ..export import export_store
        from ..store import Store

        with Store(store, create=False) as st:
            res = export_store(st, out, fmt, redact=not no_redact)
        typer.echo(f"{res.path}: {res.n_calls} calls, {res.n_turns} turns ({res.format}"
                   f"{', redacted' if res.redacted else ', NOT redacted'})")
