"""CLI commands: extract, train-extractor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from . import STORE_HELP, eprint, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("extract")
    @handle_errors
    def extract(
        inputs: Optional[List[Path]] = typer.Argument(None, help="Call JSON files or folders (searched "
                                                      "recursively). Omit with --store to extract the store."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write statements here as JSON lines."),
        store: Optional[Path] = typer.Option(None, "--store", help=STORE_HELP + " Extract every call in it "
                                             "and save the statements there."),
        model: Optional[Path] = typer.Option(None, "--model", help="Extractor model (.joblib) from "
                                             "`callbridge train-extractor`. Default: the shipped model."),
        rules_only: bool = typer.Option(False, "--rules-only", help="Use the cue rules alone, no classifier."),
        no_redact: bool = typer.Option(False, "--no-redact", help="Write statements verbatim with the original "
                                       "call ids (default: personal data in the text replaced by tags such as "
                                       "[phone], pseudonymous ids for call ids that hold personal data)."),
    ) -> None:
        """Pull out what customers say: opening, motives, needs, objections, questions.

        One JSON object a line: call_id, turn, start, kind, text (the turn's substring at
        char_start, with personal data replaced unless --no-redact), char_start, confidence, language.
        """
        from ..redact import Redactor

        def line(s, red) -> str:
            d = s.to_dict()
            d["text"] = red.text(d["text"], d.get("language"), call_id=s.call_id, turn=s.turn)
            d["call_id"] = red.call_id(s.call_id)
            return json.dumps(d, ensure_ascii=False) + "\n"

        from ..callio import read_calls
        from ..extract import extract_calls, extract_store

        if bool(inputs) == (store is not None):
            raise typer.BadParameter("give either call JSON files/folders or --store DIR (import calls into "
                                     "a store with `callbridge import`)", param_hint="INPUT")
        from ..fileutil import atomic_write_text

        if inputs:
            calls = read_calls(inputs)
            stmts = extract_calls(calls, model, use_model=not rules_only)
            red = Redactor(None, not no_redact, calls=calls)
            lines = "".join(line(s, red) for s in stmts)
            if out is None:
                typer.echo(lines, nl=False)
            else:
                atomic_write_text(out, lines)
                eprint(f"{len(stmts)} statements from {len(calls)} calls -> {out}")
            return
        from ..store import Store

        with Store(store, create=False) as st:
            st.lock("extract")  # one writer per store: a second run is refused, not interleaved
            n = extract_store(st, model, use_model=not rules_only)
            if out is not None:
                red = Redactor(st, not no_redact)
                atomic_write_text(out, "".join(line(s, red) for _, s in st.statements()))
            eprint(f"{n} statements from {len(st.call_ids())} calls saved in {store}")

    @app.command("train-extractor")
    @handle_errors
    def train_extractor(
        labelled: List[Path] = typer.Argument(..., help="Folders with calls/ and labels/ (the labels format "
                                              "in README.md), searched recursively."),
        out: Path = typer.Option(Path("models/extractor-custom.joblib"), "--out", help="Model file to write."),
        C: Optional[float] = typer.Option(None, "--C", help="Inverse regularisation strength of the "
                                          "classifier (default: the shipped model's)."),
        rule_weight: Optional[float] = typer.Option(None, "--rule-weight", help="Share of the cue rules in "
                                                    "the final score (default 0 = classifier only); raise it "
                                                    "(e.g. 0.5) when you have only a few labelled calls."),
        cache: Optional[Path] = typer.Option(None, "--cache", help="Store whose vectors table caches the "
                                             "e5 vectors (default: a store in the callbridge cache folder)."),
    ) -> None:
        """Train the statement classifier on labelled calls and save it (joblib).

        Every customer sentence and the agent sentence before it are embedded with e5 (cached, so
        a rerun on the same calls embeds nothing); a few hundred calls take minutes on two cores.
        """
        from ..asr import cache_dir
        from ..extract import train_extractor as train
        from ..store import Store

        params = {k: v for k, v in (("C", C), ("rule_weight", rule_weight)) if v is not None}
        with Store(cache or cache_dir() / "vectors") as st:
            m = train(labelled, out, store=st, **params)
        eprint(f"trained on {m.n_units_} units ({', '.join(f'{k}={v}' for k, v in m.class_counts_.items())})"
               f" -> {out}")
