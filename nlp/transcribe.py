"""Batch transcription: recordings in, calls (turns with roles) in the store.

Per recording: decode (PyAV, 16 kHz per channel) → silence the other side's echo on each channel
(`nlp.audio.suppress_echo`) → detect the language once on the louder side → recognise each channel
with the batched pipeline (VAD cuts the silence and the masked echo out; voiced parts are packed
into 30 s windows decoded in batches) → split into turns at pauses, drop hallucination loops and cross-channel duplicates
→ decide which side is the agent (`nlp.roles`) → merge turns by time → save.

Batch: the model loads once; `workers` recordings are in flight at once (decoding and echo work
overlap recognition); only the main thread writes the store. A recording already transcribed from
the same bytes (sha256) with the same settings is skipped, so a killed run resumes where it
stopped. Each call is saved with `Store.save_call` (JSON renamed into place, then one transaction),
so nothing is half-written. A bad file fails alone; its reason is printed and stored in `errors`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .audio import AUDIO_EXTENSIONS, SAMPLE_RATE, Audio, decode, frame_db, suppress_echo
from .fileutil import file_sha256
from .errors import CallbridgeError, InputFormatError
from .redact import safe_message, safe_path
from .types import Call, Turn, Word

STAGE = "transcribe"
ALGO_VERSION = "tx-2"          # bump when the output for the same audio and options changes
TURN_GAP_S = 1.0               # a longer pause inside one channel starts a new turn
MERGE_GAP_S = 2.0              # consecutive turns of one speaker closer than this are one turn
LIST_SUFFIXES = {".txt", ".lst", ".list", ".m3u"}
PROMPT_MAX_CHARS = 300
CYRILLIC_LANGS = {"ru", "uk", "be", "bg", "sr", "mk", "kk", "tg", "mn", "ba", "tt"}


@dataclass
class TranscribeOptions:
    model: str | None = None
    device: str = "auto"
    compute_type: str | None = None
    language: str = "auto"
    agent_channel: str = "auto"          # left | right | auto
    vocabulary: list[str] = field(default_factory=list)
    script: Any = None                   # nlp.script.Script or None
    workers: int = 1
    beam_size: int = 5
    batch_size: int = 8
    echo_suppression: bool = True
    script_prompt: bool = True
    progress: bool = True
    scheduler: str | None = None         # Dask: local:N, tcp://HOST:PORT or a scheduler file (nlp.cluster)
    send_audio: bool = False             # Dask: ship the bytes to the workers instead of the path


@dataclass
class FileResult:
    path: str
    call_id: str
    status: str                # done | skipped | failed
    reason: str | None = None
    audio_seconds: float = 0.0
    seconds: float = 0.0


@dataclass
class BatchSummary:
    done: list[FileResult] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)
    failed: list[FileResult] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    metadata_matched: int = 0
    metadata_unmatched: list[str] = field(default_factory=list)

    @property
    def call_ids(self) -> list[str]:
        return [r.call_id for r in self.done + self.skipped]

    def exit_code(self, strict: bool = False) -> int:
        if self.failed and (strict or not (self.done or self.skipped)):
            return 1
        return 0

    def text(self) -> str:
        lines = [f"transcribed {len(self.done)}, skipped {len(self.skipped)} (already done), "
                 f"failed {len(self.failed)}; {self.audio_seconds / 3600:.3f} h audio in {self.wall_seconds:.1f} s"
                 + (f" (real-time factor {self.wall_seconds / self.audio_seconds:.3f})" if self.audio_seconds else "")]
        for r in self.failed:
            lines.append(f"  failed: {safe_path(r.path, r.call_id)}: {safe_message(r.reason, r.path, r.call_id)}")
        if self.metadata_matched or self.metadata_unmatched:
            # CRM keys are often recorders' file names: "<date>_<phone>_<name>.mp3"
            lines.append(f"metadata: {self.metadata_matched} calls matched"
                         + (f", unmatched rows: {', '.join(safe_path(k) for k in self.metadata_unmatched[:10])}"
                            if self.metadata_unmatched else ""))
        return "\n".join(lines)


# ---- inputs ---------------------------------------------------------------------------------

def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files, folders (recursive, audio suffixes only) and text files listing paths; sorted, each once."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            out.append(p)

    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in AUDIO_EXTENSIONS):
                add(f)
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = p.read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise InputFormatError(f"cannot read the list of paths: {e}", path=str(p)) from None
            for line in lines:
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    if not q.is_absolute():
                        q = p.parent / q
                    for f in expand_inputs([q]) if q.is_dir() else [q]:
                        add(f)
        else:
            # Missing files are kept: they fail alone with a clear reason, the batch goes on.
            add(p)
    return out


def call_ids_for(paths: Sequence[Path]) -> list[str]:
    """call_id = file stem; stems used twice get a short hash of the path so ids stay unique and stable."""
    stems = [p.stem for p in paths]
    dup = {s for s in stems if stems.count(s) > 1}
    return [s if s not in dup else f"{s}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:6]}"
            for s, p in zip(stems, paths)]


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """One term per line (commas also split); `#` starts a comment."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"cannot read the vocabulary: {e}", path=str(p)) from None
    terms = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        terms += [t.strip() for t in line.split(",") if t.strip()]
    return terms


# ---- one recording --------------------------------------------------------------------------

def _speech_energy(x: np.ndarray) -> float:
    db = frame_db(x)
    if db.size == 0:
        return 0.0
    active = db > db.max() - 35.0
    return float(np.sum(10 ** (db[active] / 10)))


def _split_by_pauses(seg, gap: float) -> list[tuple[float, float, str, list]]:
    """Split a recognised segment where its words are more than `gap` apart (cut-out silence)."""
    words = seg.words
    if not words:
        return [(seg.start, seg.end, seg.text, [])]
    pieces, cur = [], [words[0]]
    for w in words[1:]:
        if w[1] - cur[-1][2] > gap:
            pieces.append(cur)
            cur = [w]
        else:
            cur.append(w)
    pieces.append(cur)
    return [(p[0][1], p[-1][2], "".join(w[0] for w in p).strip(), p) for p in pieces]


def _dedupe_cross_channel(pieces: list[dict]) -> int:
    """Drop a piece that repeats, at the same time, what the other channel says louder.

    A second line of defence behind the energy mask: leaked speech that survived it is recognised
    as the same words at (nearly) the same time on both channels.
    """
    from .roles import norm

    removed = 0
    for a in pieces:
        if a.get("drop"):
            continue
        wa = norm(a["text"]).split()
        if len(wa) < 2:
            continue
        for b in pieces:
            if b is a or b["channel"] == a["channel"] or b.get("drop"):
                continue
            if b["start"] > a["end"] + 0.5 or b["end"] < a["start"] - 0.5:
                continue
            wb = norm(b["text"]).split()
            common = len(set(wa) & set(wb))
            if common / max(1, min(len(set(wa)), len(set(wb)))) >= 0.6:
                weaker = a if a["energy"] < b["energy"] else b
                weaker["drop"] = True
                removed += 1
                if weaker is a:
                    break
    return removed


class Transcriber:
    """Holds the loaded model; `transcribe_file` turns one recording into a Call."""

    def __init__(self, options: TranscribeOptions, recognizer=None):
        from .asr import ASRSettings, Recognizer
        from .roles import company_names

        self.options = options
        if options.agent_channel not in ("auto", "left", "right"):
            raise InputFormatError(f"--agent-channel {options.agent_channel!r}", hint="use left, right or auto")
        self.recognizer = recognizer or Recognizer(ASRSettings(
            model=options.model, device=options.device, compute_type=options.compute_type,
            beam_size=options.beam_size, batch_size=options.batch_size, num_workers=max(1, options.workers)))
        self.companies = company_names(options.script, options.vocabulary)
        terms = list(dict.fromkeys(self.companies + list(options.vocabulary)))
        # Whisper's prompt holds ~220 tokens; the first terms are the most important (company names).
        self.hotwords = ", ".join(terms)[:400] or None

    def prompt_for(self, language: str) -> str | None:
        """The script's example phrases in the call's language, as Whisper's initial prompt.

        A prompt in the domain and style of the call (the agent reads from this script) helps Whisper
        with domain words and punctuation; it is capped well under Whisper's prompt budget.
        """
        script = self.options.script
        if script is None or not self.options.script_prompt:
            return None
        cyr = re.compile(r"[а-яё]", re.I)
        want_cyr = language in CYRILLIC_LANGS
        out, size = [], 0
        for st in script.steps:
            for ex in st.examples:
                ex = re.sub(r"\.\.\.|…", "", ex).strip()
                if ex and bool(cyr.search(ex)) == want_cyr:
                    if size + len(ex) > PROMPT_MAX_CHARS:
                        return " ".join(out) or None
                    out.append(ex)
                    size += len(ex) + 1
        return " ".join(out) or None

    def settings_hash(self) -> str:
        o = self.options
        d = {"algo": ALGO_VERSION, **self.recognizer.identity(), "language": o.language,
             "agent_channel": o.agent_channel, "hotwords": self.hotwords, "echo": o.echo_suppression,
             "prompt": o.script_prompt,
             "batch": o.batch_size,
             "script": [(s.step_id, s.examples) for s in getattr(o.script, "steps", [])] if o.script else None}
        return hashlib.sha256(json.dumps(d, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]

    def transcribe_audio(self, audio: Audio, call_id: str) -> Call:
        from .asr import Seg, drop_loops
        from .roles import RoleDecision, decide_stereo, mono_turns

        o = self.options
        chans = audio.channels
        stats: dict[str, Any] = {}
        if audio.is_stereo and o.echo_suppression:
            chans, stats = suppress_echo(chans)
        energies = [_speech_energy(c) for c in chans]
        main = int(np.argmax(energies))
        n = chans.shape[1]
        # Each channel in its own windows (windows mixing both speakers confuse Whisper's context),
        # all windows in shared batches; language detected once, on the louder side.
        per_channel, language, lang_p = self.recognizer.transcribe_channels(
            list(chans), None if o.language == "auto" else o.language, main=main, hotwords=self.hotwords,
            prompt=self.prompt_for)
        pieces: list[dict] = []
        for ch, segs in enumerate(per_channel):
            for s in segs:
                for start, end, text, words in _split_by_pauses(s, TURN_GAP_S):
                    pieces.append({"channel": ch, "start": start, "end": end, "text": text, "words": words,
                                   "compression_ratio": s.compression_ratio})
        as_segs = [Seg(p["start"], p["end"], p["text"], p["channel"], p["words"], 0.0, 0.0, p["compression_ratio"])
                   for p in pieces]
        kept, loops = drop_loops(as_segs)
        pieces = [{"channel": s.channel, "start": s.start, "end": s.end, "text": s.text, "words": s.words}
                  for s in kept]
        dupes = 0
        if audio.is_stereo:
            for p in pieces:
                a, b = int(p["start"] * SAMPLE_RATE), max(int(p["end"] * SAMPLE_RATE), int(p["start"] * SAMPLE_RATE) + 1)
                p["energy"] = float(np.mean(audio.channels[p["channel"], a:b] ** 2)) if b <= n else 0.0
            dupes = _dedupe_cross_channel(pieces)
            pieces = [p for p in pieces if not p.get("drop")]
        pieces.sort(key=lambda p: (p["start"], p["channel"]))

        if audio.is_stereo:
            if o.agent_channel in ("left", "right"):
                decision = RoleDecision(0 if o.agent_channel == "left" else 1, 1.0, "forced")
            else:
                decision = decide_stereo([[(p["start"], p["text"]) for p in pieces if p["channel"] == c]
                                          for c in (0, 1)], language, script=o.script, companies=self.companies)
            raw_turns = [("agent" if p["channel"] == decision.agent_channel else "customer",
                          p["start"], p["end"], p["text"], p["words"]) for p in pieces]
        else:
            mono, decision = mono_turns([(p["start"], p["end"], p["text"]) for p in pieces], language,
                                        script=o.script, companies=self.companies)
            raw_turns = [(sp, s, e, t, []) for sp, s, e, t in mono]

        turns: list[Turn] = []
        for sp, start, end, text, words in raw_turns:
            if not text.strip():
                continue
            ws = [Word(w[0].strip(), round(w[1], 3), round(w[2], 3), round(w[3], 3)) for w in words] or None
            if turns and turns[-1].speaker == sp and start - (turns[-1].end or start) < MERGE_GAP_S:
                prev = turns[-1]
                prev.text = f"{prev.text} {text.strip()}"
                prev.end = round(end, 3)
                if prev.words is not None and ws:
                    prev.words.extend(ws)
                continue
            turns.append(Turn(sp, text.strip(), round(start, 3), round(end, 3), ws))
        source = {"roles": decision.to_dict(), "language_probability": round(lang_p, 3),
                  "channels": int(audio.channels.shape[0]), "source_sample_rate": audio.source_rate,
                  **audio.provenance(),
                  "duration": round(audio.duration, 3), "loops_dropped": loops, "echo_duplicates_dropped": dupes,
                  **stats, **getattr(self.recognizer, "last_stats", {}), **self.recognizer.identity()}
        return Call(call_id, turns, language, {}, source)

    def transcribe_file(self, path: str | os.PathLike, call_id: str | None = None) -> Call:
        p = Path(path)
        audio = decode(p)
        call = self.transcribe_audio(audio, call_id or p.stem)
        call.source["audio_path"] = str(p)
        return call


# ---- the batch ------------------------------------------------------------------------------

def _fmt_t(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def transcribe_paths(paths: Iterable[str | os.PathLike], store, *, metadata: str | os.PathLike | None = None,
                     transcriber: Transcriber | None = None, log: Callable[[str], None] | None = None,
                     **options) -> BatchSummary:
    """Transcribe recordings into `store`; see the module doc. Options: fields of TranscribeOptions."""
    t0 = time.time()
    opts = TranscribeOptions(**options)
    if log is None:
        log = (lambda m: print(m, file=sys.stderr, flush=True)) if opts.progress else (lambda m: None)
    files = expand_inputs(paths)
    summary = BatchSummary()
    if not files:
        raise InputFormatError("no recordings found in the given inputs",
                               hint=f"give audio files or folders holding {', '.join(sorted(AUDIO_EXTENSIONS)[:8])}, ...")
    meta_table = None
    if metadata:
        from .metadata import read_metadata  # helper B's module; read first so a bad CSV fails before hours of ASR

        meta_table = read_metadata(metadata)
    # a recorder's "<date>_<phone>_<name>" stem gets a pseudonym (the store keeps the original)
    ids = [store.call_id_for(c) for c in call_ids_for(files)]
    tr = transcriber or Transcriber(opts)
    shash = tr.settings_hash()
    total_bytes = sum(f.stat().st_size for f in files if f.is_file()) or 1
    done_bytes = 0
    work_t0 = time.time()
    work_bytes = 0

    def job(path: Path, call_id: str):
        started = time.time()
        sha = file_sha256(path)
        if store_is_done(call_id, sha):
            return "skipped", None, sha, time.time() - started
        call = tr.transcribe_file(path, call_id)
        return "done", call, sha, time.time() - started

    # Store reads/writes stay on this thread (SQLite connections are per thread); workers only compute.
    done_cache: dict[str, tuple[str, str]] = {}
    for r in store.db.execute("SELECT call_id, audio_sha256, settings_hash FROM calls"):
        done_cache[r[0]] = (r[1], r[2])

    def store_is_done(call_id: str, sha: str) -> bool:
        return done_cache.get(call_id) == (sha, shash) and store.transcript_path(call_id).exists()

    workers = max(1, int(opts.workers))
    pool = ThreadPoolExecutor(max_workers=workers)
    futures: list[tuple[Path, str, Future]] = []
    results: Any = ()
    try:
        if opts.scheduler:
            # Recordings as Dask tasks, results in the order they finish; this thread stays the
            # only writer of the store.
            from .cluster import transcribe_on_cluster

            results = transcribe_on_cluster(opts.scheduler, files, ids, tr.options, shash, store_is_done,
                                            send_audio=opts.send_audio, log=log)
        else:
            for f, cid in zip(files, ids):
                futures.append((f, cid, pool.submit(job, f, cid)))
            results = ((f, cid, fut.result) for f, cid, fut in futures)
        for i, (f, cid, result) in enumerate(results, 1):
            size = f.stat().st_size if f.is_file() else 0
            try:
                status, call, sha, secs = result()
            except (CallbridgeError, OSError) as e:
                reason = e.message if isinstance(e, CallbridgeError) else f"cannot read file: {e}"
                if isinstance(e, CallbridgeError) and e.hint:
                    reason += f" ({e.hint})"
                res = FileResult(str(f), cid, "failed", reason)
                summary.failed.append(res)
                store.record_error(STAGE, reason, call_id=cid, source_path=str(f))
                log(f"[{i}/{len(files)}] {safe_path(f, cid)}: FAILED: {safe_message(reason, f, cid)}")
                done_bytes += size
                continue
            if status == "skipped":
                summary.skipped.append(FileResult(str(f), cid, "skipped", seconds=secs))
                log(f"[{i}/{len(files)}] {safe_path(f, cid)}: skipped (already transcribed with these settings)")
                done_bytes += size
                continue
            call.source["settings_hash"] = shash
            if cid in done_cache:
                # Re-transcribed (new audio or settings): keep the CRM fields joined earlier.
                try:
                    call.metadata = {**store.get_call(cid).metadata, **call.metadata}
                except CallbridgeError:
                    pass
            store.save_call(call, "transcribed", source_path=str(f), audio_sha256=sha, settings_hash=shash)
            dur = float(call.source.get("duration") or 0.0)
            summary.done.append(FileResult(str(f), cid, "done", audio_seconds=dur, seconds=secs))
            summary.audio_seconds += dur
            done_bytes += size
            work_bytes += size
            rate = (time.time() - work_t0) / max(1, work_bytes)
            eta = rate * (total_bytes - done_bytes)
            log(f"[{i}/{len(files)}] {safe_path(f, cid)}: {len(call.turns)} turns, {call.language}, {dur:.0f} s audio in {secs:.1f} s"
                f" | {summary.audio_seconds / 3600:.3f} h audio done | ETA {_fmt_t(eta)}")
    finally:
        if hasattr(results, "close"):
            results.close()  # a Dask cluster started for this batch shuts down with its generator
        pool.shutdown(wait=True, cancel_futures=True)
    if meta_table is not None:
        from .metadata import apply_metadata

        summary.metadata_matched, summary.metadata_unmatched = apply_metadata(store, meta_table)
    summary.wall_seconds = time.time() - t0
    return summary
