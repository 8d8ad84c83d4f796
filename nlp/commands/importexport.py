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
                                            "JSON (.json, .jsonl), dialogues with role prefixes or speaker-and-time "
                                            "lines (.txt, .docx: Otter, Teams, Zoom, Google Meet), subtitles with "
                                            "speaker tags (.srt, .vtt), Amazon Transcribe, Whisper/WhisperX and "
                                            "Yandex SpeechKit JSON."),
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        metadata: Optional[Path] = typer.Option(None, "--metadata", help="CRM CSV/XLSX joined by call_id or file "
                                                "name (date, agent, lead_source, campaign, outcome, amount; "
                                                "other columns kept)."),
        roles: Optional[str] = typer.Option(None, "--roles", help="Speaker roles by name, overriding the "
                                            "guess: \"Марина Кузнецова=agent,Олег Сидоров=customer\" (also "
                                            "labels such as spk_0, SPEAKER_01, 'channel 1')."),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 if any file failed."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-file progress."),
    ) -> None:
        """Import existing transcripts into the store, skipping speech recognition.

        The format is detected from the content: call JSON, dialogue text, Otter/Teams/Zoom/Meet
        text and .docx, SRT/WebVTT, Amazon Transcribe, Whisper/WhisperX, Yandex SpeechKit JSON.
        call_id is the JSON's call_id or the file stem; the language is detected. A broken file
        fails alone with its reason (printed and stored); rerunning skips unchanged files.
        Exit code 0 unless --strict or nothing succeeded.
        """
        from ..importers import import_paths, parse_roles_option
        from ..metadata import read_metadata
        from ..options import check_inputs
        from ..redact import Redactor
        from ..store import Store

        # options and the CRM file are checked before any work: a bad one leaves no store behind
        given = parse_roles_option(roles)
        check_inputs(inputs)
        table = read_metadata(metadata) if metadata else None
        with Store(store) as st:
            summary = import_paths(inputs, st, metadata=table, log=None if quiet else eprint, roles=given)
            text = summary.text(Redactor(st, True))  # CRM cells and --roles names are personal data
        eprint(text)
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

    @app.command("ids")
    @handle_errors
    def ids(
        call_ids: Optional[List[str]] = typer.Argument(None, help="Pseudonyms to look up (default: all)."),
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the CSV here instead of printing it."),
    ) -> None:
        """The pseudonymous call ids and what they stand for: a CSV of call_id, original (the file
        stem or call JSON id that held personal data) and source_path.

        Calls whose file name held a phone number or a name are stored and shown under a pseudonym
        (call-xxxxxxxxxx); this prints the personal data behind them, for the people allowed to see it.
        """
        import csv
        import io

        from ..errors import InputFormatError
        from ..fileutil import atomic_write_text
        from ..store import Store

        with Store(store, create=False) as st:
            mapping = {pid: orig for orig, pid in st.aliases().items()}
            paths = {r[0]: r[1] for r in st.db.execute("SELECT call_id, source_path FROM calls")}
            errs = {e["call_id"]: e["source_path"] for e in st.errors() if e["call_id"]}
        wanted = call_ids or sorted(mapping)
        unknown = [c for c in wanted if c not in mapping]
        if unknown:
            raise InputFormatError(f"not a pseudonym in this store: {', '.join(unknown[:5])}",
                                   path=str(store), hint="run `callbridge ids` without arguments to list them all")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["call_id", "original", "source_path"])
        for pid in wanted:
            w.writerow([pid, mapping[pid], paths.get(pid) or errs.get(pid) or ""])
        if out is None:
            typer.echo(buf.getvalue(), nl=False)
        else:
            atomic_write_text(out, buf.getvalue())
            eprint(f"{len(wanted)} pseudonyms -> {out} (holds personal data)")
