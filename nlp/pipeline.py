"""The one-shot run: recordings and/or transcripts in, a report out.

INPUT is any mix of audio files, transcript files (every format `callbridge import` reads) and
folders of either. Stages, each on the whole store:

  transcribe (audio) → import (transcripts) → CRM metadata → extract → themes
  → script gaps (with a script) → report

Everything lands in a store (default `OUT/store`), so a rerun skips recordings already
transcribed with the same settings and only redoes the cheap stages. Script, offer and
metadata files are read before any audio is touched: a bad file fails in a second, not after
an hour of transcription.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .errors import InputFormatError

STAGES = ("transcribe", "import", "metadata", "extract", "themes", "gaps", "report")


@dataclass
class StageTiming:
    stage: str
    seconds: float
    note: str = ""


@dataclass
class RunResult:
    out_dir: Path
    store_dir: Path
    audio: list[Path] = field(default_factory=list)
    transcripts: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
    stages: list[StageTiming] = field(default_factory=list)
    report: Any = None            # nlp.report.ReportResult
    transcribe_summary: Any = None
    import_summary: Any = None
    gaps: Any = None
    n_statements: int = 0
    failed: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"{s.stage:<10} {s.seconds:7.1f} s  {s.note}" for s in self.stages]
        if self.failed:
            lines += [f"failed: {f}" for f in self.failed]
        # the report's path is not here: the command prints it once, on stdout
        return "\n".join(lines)


class Progress:
    """One display across stages: `[2/6] extract …` headers, the stage's own lines indented."""

    def __init__(self, stages: Sequence[str], out: Callable[[str], None] | None = None):
        self.stages = list(stages)
        self.out = out or (lambda m: print(m, file=sys.stderr, flush=True))
        self.t0 = time.perf_counter()
        self.i = 0

    def start(self, stage: str, what: str = "") -> float:
        self.i += 1
        self.out(f"[{self.i}/{len(self.stages)}] {stage}" + (f": {what}" if what else "") +
                 f"  (elapsed {time.perf_counter() - self.t0:.0f} s)")
        return time.perf_counter()

    def log(self, msg: str) -> None:
        self.out("      " + msg)


def _is_audio(p: Path) -> bool:
    from .audio import AUDIO_EXTENSIONS

    return p.suffix.lower() in AUDIO_EXTENSIONS


def split_inputs(inputs: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()) -> tuple[
        list[Path], list[Path], list[Path]]:
    """(audio files, transcript files, ignored files) from files and folders (searched recursively).
    A file named explicitly must be one or the other; inside folders other files are skipped."""
    skip = {Path(p).resolve() for p in exclude if p}
    audio, transcripts, ignored = [], [], []
    found_in_folders: set[Path] = set()
    seen: set[Path] = set()
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise InputFormatError("input not found", path=str(p), hint="give audio files, transcripts or folders")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not any(
                part.startswith(".") for part in f.relative_to(p).parts))
            explicit = False
        else:
            files, explicit = [p], True
        for f in files:
            r = f.resolve()
            if r in seen or r in skip:
                if explicit:
                    found_in_folders.discard(r)
                continue
            seen.add(r)
            if _is_audio(f):
                audio.append(f)
                continue
            from .importers import is_transcript_file  # only needed when there is something besides audio

            if is_transcript_file(f):
                transcripts.append(f)
                if not explicit:
                    found_in_folders.add(r)
            elif explicit:
                raise InputFormatError("not a recording or a transcript callbridge can read", path=str(f),
                                       hint="audio (.wav, .mp3, .ogg, ...) or transcripts (see `callbridge import --help`)")
            else:
                ignored.append(f)
    # A folder often keeps reference transcripts beside the recordings (data/sample/references/):
    # importing them would overwrite the calls just transcribed, so the recording wins.
    stems = {f.stem for f in audio}
    shadowed = [f for f in transcripts if f.resolve() in found_in_folders and f.stem in stems]
    transcripts = [f for f in transcripts if f not in shadowed]
    return audio, transcripts, ignored + shadowed


def run(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, store_dir: str | os.PathLike | None = None,
        script: str | os.PathLike | None = None, offer: str | os.PathLike | None = None,
        metadata: str | os.PathLike | None = None, lang: str | None = None, redact: bool = True,
        include_uncertain: bool = False, transcribe_options: dict[str, Any] | None = None,
        out: Callable[[str], None] | None = None, roles: dict[str, str] | str | None = None,
        explorer: bool = True, explorer_audio: str | None = None) -> RunResult:
    """Run every stage on `inputs` and write the report to `out_dir`; see the module doc.

    `roles`: speaker name -> role overrides for the transcripts (`--roles`, as
    `nlp.importers.parse_roles_option` reads it). `explorer`, `explorer_audio`: the call explorer
    and its recordings, as for `nlp.report.build_report` (an unknown audio mode fails before any work)."""
    from .store import Store

    out_path = Path(out_dir)
    store_path = Path(store_dir) if store_dir else out_path / "store"
    # read the small files first: a typo fails now, not after transcription
    script_obj = None
    if script:
        from .script import read_script

        script_obj = read_script(script)
    if offer:
        from .report.recommend import read_offer

        read_offer(offer)
    meta_table = None
    if metadata:
        from .metadata import read_metadata

        meta_table = read_metadata(metadata)
    if lang is not None and lang not in ("ru", "en"):
        raise InputFormatError(f"unknown report language {lang!r}", hint="use --lang ru or --lang en")
    if explorer_audio is not None:
        from .explorer import check_audio_mode

        check_audio_mode(explorer_audio, redact)
    audio, transcripts, ignored = split_inputs(inputs, exclude=[script, offer, metadata])
    if not audio and not transcripts:
        raise InputFormatError("no recordings or transcripts found in the inputs",
                               path=", ".join(str(i) for i in inputs),
                               hint="give audio files, transcript files, or folders holding them")
    stages = [s for s in STAGES if not ((s == "transcribe" and not audio) or (s == "import" and not transcripts)
                                       or (s == "metadata" and not meta_table) or (s == "gaps" and not script_obj))]
    prog = Progress(stages, out)
    result = RunResult(out_path, store_path, audio, transcripts, ignored)
    if isinstance(roles, str):
        from .importers import parse_roles_option

        roles = parse_roles_option(roles)
    store = Store(store_path)
    try:
        store.lock("run")  # one writer per store: a second run is refused before any work
        from .redact import Redactor

        red = Redactor(store, redact)  # every line printed below passes through it
        for w in getattr(meta_table, "warnings", None) or []:
            # a bad value in one row: the row is kept, the value read as said; the warning quotes it
            prog.log(f"metadata: warning: {red.message(w)}")
        if ignored:
            prog.log(f"ignoring {len(ignored)} other files in the input folders (e.g. {red.path(ignored[0])})")
        if audio:
            from .transcribe import transcribe_paths

            t = prog.start("transcribe", f"{len(audio)} recordings")
            topts = dict(transcribe_options or {})
            if script_obj is not None:
                topts.setdefault("script", script_obj)  # the company name in the script helps spelling
            s = transcribe_paths(audio, store, log=prog.log, **topts)
            result.transcribe_summary = s
            result.failed += [f"{red.path(r.path, r.call_id)}: {red.message(r.reason, r.path, r.call_id)}"
                              for r in s.failed]
            result.stages.append(StageTiming("transcribe", time.perf_counter() - t,
                                             f"{len(s.done)} done, {len(s.skipped)} already done, {len(s.failed)} failed"))
        if transcripts:
            from .importers import import_paths

            t = prog.start("import", f"{len(transcripts)} transcript files")
            s = import_paths(transcripts, store, log=prog.log, roles=roles)
            result.import_summary = s
            for w in s.warning_lines(red):
                prog.log(f"warning: {w}")
            result.failed += [f"{red.path(f.path, f.call_id)}: {red.message(f.reason, f.path, f.call_id)}"
                              for f in s.failed]
            result.stages.append(StageTiming("import", time.perf_counter() - t, _summary_line(s)))
        if not store.call_ids():
            raise InputFormatError("no call could be transcribed or imported", path=str(store_path),
                                   hint="see the errors above; fix the files and rerun")
        if meta_table:
            from .metadata import apply_metadata

            t = prog.start("metadata", str(metadata))
            matched, unmatched = apply_metadata(store, meta_table)
            note = f"{matched} calls matched" + (
                f"; rows with no call: {', '.join(red.path(k) for k in unmatched[:5])}" if unmatched else "")
            prog.log(note)
            result.stages.append(StageTiming("metadata", time.perf_counter() - t, note))
        from .extract import extract_store

        t = prog.start("extract", f"{len(store.call_ids())} calls")
        result.n_statements = extract_store(store)
        prog.log(_n(result.n_statements, "statement"))
        result.stages.append(StageTiming("extract", time.perf_counter() - t, _n(result.n_statements, "statement")))
        from .themes import build_themes

        t = prog.start("themes")
        themes = build_themes(store, progress=lambda k: prog.log(
            f"{k.kind}: {_n(k.statements, 'statement')} -> {_n(k.themes, 'theme')}" + (
                f" ({k.emerging} new)" if k.emerging else "")))
        note = _themes_note(themes)
        result.stages.append(StageTiming("themes", time.perf_counter() - t, note))
        if script_obj is not None:
            from .gaps import run_gaps

            t = prog.start("gaps", f"{len(script_obj.steps)} script steps")
            result.gaps = run_gaps(store, script_obj, out_dir=out_path / "script-gaps", redact=redact)
            result.stages.append(StageTiming("gaps", time.perf_counter() - t, "script-gaps/*.csv"))
        from .report import build_report

        t = prog.start("report")
        result.report = build_report(store, out_path, lang=lang, offer_path=offer, redact=redact,
                                     include_uncertain=include_uncertain, explorer=explorer,
                                     explorer_audio=explorer_audio)
        ex = result.report.explorer
        for w in ex.warnings if ex is not None else []:  # already redacted: a recording left out, and why
            prog.log(f"explorer: warning: {w}")
        if ex is not None:
            prog.log(f"call explorer: {ex.index.parent.name}/{ex.index.name} (audio {ex.audio}: "
                     f"{_n(ex.n_audio, 'recording')})")
        note = report_note(result.report)
        prog.log(note)
        result.stages.append(StageTiming("report", time.perf_counter() - t, note))
    finally:
        store.close()
    return result


def _n(k: int, noun: str) -> str:
    """"1 call", "2 calls": printed counts agree with their nouns."""
    return f"{k} {noun if k == 1 else noun + 's'}"


def report_note(rep: Any) -> str:
    """One line on a written report, without its path (printed once, by the command)."""
    left = (f"{_n(rep.n_left_out, 'call')} with uncertain roles or a silent side left out "
            "(see 'Calls to review'; --include-uncertain counts them); ") if rep.n_left_out else ""
    return (f"{rep.html.name} written ({left}{rep.lang}, {_n(rep.n_calls, 'call')}, "
            f"{_n(rep.n_recommendations, 'recommendation')})")


def _summary_line(s: Any) -> str:
    if hasattr(s, "text") and callable(s.text):
        return s.text().splitlines()[0]
    return str(s)[:200]


def _themes_note(themes: dict) -> str:
    return ", ".join(f"{k}: {v.get('themes', 0)}" for k, v in themes.items()
                     if isinstance(v, dict) and not k.startswith("_")) or "done"


def sample_dir() -> Path:
    """The bundled sample (`data/sample/` next to the package in a source checkout)."""
    return Path(__file__).resolve().parent.parent / "data" / "sample"


def demo(out_dir: str | os.PathLike = "callbridge-demo", *, lang: str | None = None, redact: bool = True,
         include_uncertain: bool = False, out: Callable[[str], None] | None = None, **kw: Any) -> RunResult:
    """`run` on the bundled sample calls with their script, offer and CRM metadata."""
    d = sample_dir()
    calls = d / "calls"
    if not calls.is_dir():
        raise InputFormatError("the bundled sample calls are missing", path=str(calls),
                               hint="run from a source checkout installed with `pip install -e .`")
    opt = {name: d / name for name in ("script.md", "offer.md", "metadata.csv")}
    return run([calls], out_dir, script=opt["script.md"] if opt["script.md"].exists() else None,
               offer=opt["offer.md"] if opt["offer.md"].exists() else None,
               metadata=opt["metadata.csv"] if opt["metadata.csv"].exists() else None,
               lang=lang, redact=redact, include_uncertain=include_uncertain, out=out, **kw)
