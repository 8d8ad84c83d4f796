"""CLI commands: report, run (every stage in one go), demo (run on the bundled sample)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import STORE_HELP, eprint, handle_errors

LANG_HELP = "Report language: ru or en (default: the calls' dominant language)."
OFFER_HELP = ("The offer's text (Markdown or plain text): needs and motives customers voice that it does "
              "not mention become recommendations.")
NO_REDACT_HELP = "Keep phone numbers, e-mails, card/document numbers and names in quotes and exports."
EXPLORER_HELP = ("Write the call explorer next to the report (explorer/: call list with filters and search, a page "
                 "per call with its transcript and recording; every quote links to its turn).")
EXPLORER_AUDIO_HELP = ("Recordings in the call explorer: link (play the original files where they are), copy "
                       "(transcode to Opus into explorer/audio/) or none. Default: none with redaction on (a voice "
                       "is personal data), link with --no-redact.")
UNCERTAIN_HELP = ("Count calls whose agent/customer roles are a guess (confidence < 0.5, mono recordings) or "
                  "where one side is silent; by default they are left out of every number and listed for review.")


def _check_lang(lang: Optional[str]) -> Optional[str]:
    if lang is None:
        return None
    lang = lang.strip().lower()
    if lang not in ("ru", "en"):
        raise typer.BadParameter("use ru or en", param_hint="--lang")
    return lang


def _check_audio(mode: Optional[str]) -> Optional[str]:
    if mode is not None and mode.strip().lower() not in ("link", "copy", "none"):
        raise typer.BadParameter("use link, copy or none", param_hint="--explorer-audio")
    return mode


def _print_run(result) -> None:
    eprint(result.text())
    typer.echo(str(result.report.html))  # the one place the report's path is printed


def register(app: typer.Typer) -> None:
    @app.command("report")
    @handle_errors
    def report(
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        out: Path = typer.Option(..., "--out", help="Folder for report.html, report.md, report.xlsx and tables/*.csv."),
        lang: Optional[str] = typer.Option(None, "--lang", help=LANG_HELP),
        offer: Optional[Path] = typer.Option(None, "--offer", help=OFFER_HELP),
        no_redact: bool = typer.Option(False, "--no-redact", help=NO_REDACT_HELP),
        include_uncertain: bool = typer.Option(False, "--include-uncertain", help=UNCERTAIN_HELP),
        explorer: bool = typer.Option(True, "--explorer/--no-explorer", help=EXPLORER_HELP),
        explorer_audio: Optional[str] = typer.Option(None, "--explorer-audio", help=EXPLORER_AUDIO_HELP,
                                                     metavar="link|copy|none"),
    ) -> None:
        """Write the marketing report (HTML, Markdown, CSV, XLSX) from a store.

        Themes with numbers and quotes, lead sources and campaigns, lost vs won calls, agents,
        script gaps, and what to change in the offer and the script. Quotes and exports are
        redacted unless --no-redact. A store without calls or without customer statements is an
        error (exit 2) that names the stage to run.
        """
        from ..pipeline import report_note
        from ..report import build_report
        from ..store import Store

        lang = _check_lang(lang)
        explorer_audio = _check_audio(explorer_audio)
        with Store(store, create=False) as st:
            res = build_report(st, out, lang=lang, offer_path=offer, redact=not no_redact,
                               include_uncertain=include_uncertain, explorer=explorer,
                               explorer_audio=explorer_audio)
        for hint in res.hints:
            eprint(f"note: {hint}")
        if res.explorer is not None:
            for w in res.explorer.warnings:
                eprint(f"warning: {w}")
            eprint(f"call explorer: {res.explorer.index} ({len(res.explorer.pages)} calls, "
                   f"audio {res.explorer.audio}: {res.explorer.n_audio} recordings)")
        eprint(f"{report_note(res)}; {len(res.csv)} tables in {res.out_dir / 'tables'}, {res.xlsx.name}, "
               f"{res.md.name}")
        typer.echo(str(res.html))

    @app.command("run")
    @handle_errors
    def run(
        inputs: List[Path] = typer.Argument(..., help="Recordings, transcripts (any format `import` reads) or "
                                            "folders of either, mixed."),
        out: Path = typer.Option(..., "--out", help="Folder for the report (and the store, unless --store)."),
        script: Optional[Path] = typer.Option(None, "--script", help="Sales script (Markdown/DOCX): enables "
                                              "script-gap analysis."),
        offer: Optional[Path] = typer.Option(None, "--offer", help=OFFER_HELP),
        metadata: Optional[Path] = typer.Option(None, "--metadata", help="CRM CSV joined by call_id or file name "
                                                "(date, agent, lead_source, campaign, outcome, amount, ...)."),
        store: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP + " Default: OUT/store."),
        lang: Optional[str] = typer.Option(None, "--lang", help=LANG_HELP),
        no_redact: bool = typer.Option(False, "--no-redact", help=NO_REDACT_HELP),
        include_uncertain: bool = typer.Option(False, "--include-uncertain", help=UNCERTAIN_HELP),
        roles: Optional[str] = typer.Option(None, "--roles", help="Speaker roles by name for the transcripts, "
                                            "overriding the guess: \"Марина Кузнецова=agent,Олег Сидоров=customer\" "
                                            "(also labels such as spk_0, SPEAKER_01, 'channel 1')."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Transcribe on Dask: local:N, "
                                                "tcp://HOST:PORT or scheduler.json (see `transcribe --help`)."),
        send_audio: bool = typer.Option(False, "--send-audio", help="With --scheduler: send the recordings' "
                                        "bytes to the workers instead of their paths."),
        explorer: bool = typer.Option(True, "--explorer/--no-explorer", help=EXPLORER_HELP),
        explorer_audio: Optional[str] = typer.Option(None, "--explorer-audio", help=EXPLORER_AUDIO_HELP,
                                                     metavar="link|copy|none"),
    ) -> None:
        """Everything in one go: transcribe or import → extract → themes → script gaps → report.

        Rerunnable: recordings already transcribed into the store with the same settings are skipped.
        """
        from ..importers import parse_roles_option
        from ..options import check_transcribe_options
        from ..pipeline import run as run_pipeline

        given = parse_roles_option(roles)  # a bad option fails before any work
        explorer_audio = _check_audio(explorer_audio)
        topts = check_transcribe_options(language="auto", device="auto", compute_type=None, model=None,
                                         agent_channel="auto", scheduler=scheduler, send_audio=send_audio)
        res = run_pipeline(inputs, out, store_dir=store, script=script, offer=offer, metadata=metadata,
                           lang=_check_lang(lang), redact=not no_redact, include_uncertain=include_uncertain,
                           roles=given, transcribe_options={k: topts[k] for k in ("scheduler", "send_audio")
                                                            if k in topts},
                           explorer=explorer, explorer_audio=explorer_audio)
        _print_run(res)

    @app.command("demo")
    @handle_errors
    def demo(
        out: Path = typer.Option(Path("callbridge-demo"), "--out", help="Folder for the demo's store and report."),
        lang: Optional[str] = typer.Option(None, "--lang", help=LANG_HELP),
        include_uncertain: bool = typer.Option(False, "--include-uncertain", help=UNCERTAIN_HELP),
        explorer_audio: Optional[str] = typer.Option(None, "--explorer-audio", help=EXPLORER_AUDIO_HELP,
                                                     metavar="link|copy|none"),
    ) -> None:
        """Run the whole pipeline on the bundled sample calls (data/sample/).

        Uses the sample's sales script, offer and CRM metadata; the report is OUT/report.html.
        """
        from ..pipeline import demo as run_demo

        _print_run(run_demo(out, lang=_check_lang(lang), include_uncertain=include_uncertain,
                            explorer_audio=_check_audio(explorer_audio)))
