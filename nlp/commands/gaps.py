"""CLI commands: gaps."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import STORE_HELP, eprint, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("gaps")
    @handle_errors
    def gaps_cmd(
        inputs: Optional[List[Path]] = typer.Argument(
            None, help="Call JSON files or folders. Without them, the calls already in --store are used."),
        script: Path = typer.Option(..., "--script", "-s", help="Sales script: Markdown, plain text or DOCX."),
        out: Path = typer.Option(Path("callbridge-gaps"), "--out", "-o",
                                 help="Folder for adherence.csv, steps.csv, order.csv, coverage.csv."),
        store: Optional[Path] = typer.Option(
            None, "--store", help=STORE_HELP + " With INPUT, the calls are added to it; without "
            "--store, INPUT goes into a temporary store."),
        labels: Optional[Path] = typer.Option(
            None, "--labels", help="Folder of <call_id>.json files with \"script_steps\" (steps done) for some "
            "calls: each step is then recalibrated for this script."),
        no_redact: bool = typer.Option(False, "--no-redact", help="Keep personal data (phone numbers, names, "
                                       "...) in the CSVs' evidence and quotes, and the original call ids."),
    ) -> None:
        """Check the sales script against the calls: which steps agents skip or do out of order, how
        steps relate to won/lost calls, and which customer themes no step addresses."""
        import tempfile

        from ..errors import CallbridgeError, StoreError
        from ..gaps import run_gaps
        from ..script import read_script
        from ..store import Store

        from ..gaps import read_step_labels

        sc = read_script(script)  # fail on a bad script before any heavy work
        step_labels = read_step_labels(labels, sc) if labels else None
        if not inputs and store is None:
            raise CallbridgeError("nothing to analyse", hint="give call JSON files/folders or --store DIR")
        tmp = None
        if store is None:
            tmp = tempfile.TemporaryDirectory(prefix="callbridge-gaps-")
            store_path = Path(tmp.name)
        else:
            store_path = store
        try:
            with Store(store_path, create=bool(inputs)) as st:
                st.lock("gaps")  # one writer per store: a second run is refused, not interleaved
                if inputs:
                    _load_calls(st, inputs)
                elif not st.call_ids():
                    raise StoreError("the store holds no calls", path=str(store_path),
                                     hint="import or transcribe calls first, or pass call JSON files")
                res = run_gaps(st, sc, out, labels=step_labels, redact=not no_redact)
        finally:
            if tmp is not None:
                tmp.cleanup()
        typer.echo(f"{res.n_calls} calls x {res.n_steps} steps of {sc.title or script.name}")
        for s in res.steps:
            if not s.agent:
                typer.echo(f"  {s.rate:6.0%}  {s.step_id}: {s.title}" + (f"  ({s.too_early} too early)" if s.too_early else ""))
        for o in res.order[:3]:
            typer.echo(f"  order: {o.step_then} before {o.step_first} in {o.calls_inverted}/{o.calls_both} calls")
        unc = [c for c in res.coverage if not c.covered]
        if res.coverage_note:
            typer.echo(f"  coverage: {res.coverage_note}")
        else:
            typer.echo(f"  {len(unc)} of {len(res.coverage)} customer themes not addressed by the script")
        typer.echo("wrote " + ", ".join(res.files))


def _load_calls(store, inputs) -> None:
    """Add call JSON files to the store, then extract statements and build themes for coverage."""
    from ..callio import read_calls

    calls = read_calls(inputs)
    if not calls:
        from ..errors import InputFormatError

        raise InputFormatError("no call JSON files found", path=", ".join(map(str, inputs)),
                               hint="give .json files in the call format (see README)")
    for c in calls:
        store.save_call(c, "imported")
    try:
        from ..extract import extract_store
    except ImportError as e:  # adherence still works; coverage needs statements and themes
        eprint(f"warning: coverage skipped, extraction unavailable: {e}")
        return
    extract_store(store)
    try:
        from ..themes import build_themes
    except ImportError as e:
        eprint(f"warning: coverage skipped, themes unavailable: {e}")
        return
    build_themes(store)
