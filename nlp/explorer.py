"""The call explorer: static pages next to the report (`explorer/`) to read and hear the calls.

`build_explorer(store, out_dir, data, ...)` writes

* `explorer/index.html`: the call list with filters (theme, statement kind, agent, lead source,
  campaign, outcome, date) and full-text search over every turn (MiniSearch, vendored with its
  licence in `templates/explorer/static/`);
* `explorer/calls/<page>.html`, one per call: the transcript with roles and times, the customer's
  statements highlighted by kind with their themes, the script steps done and skipped with their
  evidence, and the recording in an `<audio>` element. Each turn is `<div id="turn-N" data-start=S>`
  (N the turn's index in the store, S seconds); `…/<page>.html#turn-N` opens the call at turn N;
* `explorer/assets/`: CSS, JavaScript and `data.js`, the list's data as a script (pages opened
  from disk cannot fetch JSON).

Everything works from `file://` with no server and no network; a Content-Security-Policy allows
scripts, styles and media from the explorer's own files only. Text reaches the pages through Jinja2
autoescaping (HTML) or as JSON read by scripts that insert it with `textContent`, never as markup.

Privacy: with redaction on, the text is redacted as in the report (each call's turns with the call
as context), call ids are the report's pseudonymous ids, page and audio file names come from the
store's call ids (never personal: `Store.call_id_for`), and recordings are left out unless asked for:
a voice is personal data that text redaction cannot remove.

Audio (`audio`): "none"; "link" (the page plays the original file where it lies, by a relative
path; with redaction on a recording whose path holds personal data is left out with a warning);
"copy" (each recording transcoded to Opus in `explorer/audio/`, ~24 kbit/s; a recording that
cannot be transcoded is left out with a warning naming it, the rest go on).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from .errors import InputFormatError

PKG = Path(__file__).resolve().parent
TEMPLATES = PKG / "templates"
STATIC = TEMPLATES / "explorer" / "static"
I18N = PKG / "i18n" / "explorer.json"
AUDIO_MODES = ("link", "copy", "none")
DIR_NAME = "explorer"
# Opus at this rate keeps telephone speech clear at about 180 kB a minute for a stereo call.
OPUS_BITRATE = 24000
OPUS_RATE = 16000
_STATIC_FILES = ("explorer.css", "list.js", "call.js", "minisearch.js", "LICENSE-minisearch.txt")


@dataclass
class ExplorerResult:
    """What `build_explorer` wrote: the list page, one page per call (stored call id -> path), the
    audio mode used, how many calls have a recording, and warnings (one per recording left out)."""
    index: Path
    pages: dict[str, Path] = field(default_factory=dict)
    audio: str = "none"
    n_audio: int = 0
    warnings: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def translations() -> dict[str, dict[str, Any]]:
    return json.loads(I18N.read_text(encoding="utf-8"))


def check_audio_mode(audio: str | None, redact: bool) -> str:
    """The audio mode to use: `audio` checked, or the default ("none" with redaction on, since a
    voice cannot be redacted; "link" without). Raises InputFormatError for an unknown mode."""
    if audio is None:
        return "none" if redact else "link"
    mode = str(audio).strip().lower()
    if mode not in AUDIO_MODES:
        raise InputFormatError(f"unknown --explorer-audio {audio!r}", hint="use link, copy or none")
    return mode


def page_names(store, call_ids) -> dict[str, str]:
    """Stored call id -> the file name stem of its page (and copied recording): the store's id
    shown with redaction on (a pseudonym wherever the id may hold personal data, also for a store
    written before ids were pseudonymised), cut to characters safe in any file system and URL.
    Two ids that clean to the same name get -2, -3, ... Never personal data."""
    from .redact import Redactor, personal_id, pseudonym, _session_key

    gate = Redactor(store, enabled=True)
    out: dict[str, str] = {}
    taken: set[str] = set()
    for cid in sorted(call_ids):
        shown = str(gate.call_id(cid))
        name = re.sub(r"[^\w.-]", "_", shown).strip("._")[:80] or "call"
        if personal_id(name):  # a safety net: the cleaned name must not become personal
            name = pseudonym(name, _session_key())
        base, k = name, 2
        while name.lower() in taken:
            name, k = f"{base}-{k}", k + 1
        taken.add(name.lower())
        out[cid] = name
    return out


def call_href(name: str, turn: int | None = None, prefix: str = f"{DIR_NAME}/calls/") -> str:
    """The link from the report folder to a call's page, at `turn` when given."""
    return f"{prefix}{quote(name)}.html" + (f"#turn-{int(turn)}" if isinstance(turn, int) else "")


def link_quotes(ctx: dict[str, Any], names: dict[str, str]) -> int:
    """Give every quote in the report context (`kinds[].themes[].quotes[]`, recommendation quotes)
    an `href` to its turn in the explorer; returns how many quotes got one. Quotes carry their
    stored call id (`cid`) and turn from `ReportData._quotes`."""
    n = 0
    quotes = [q for k in ctx.get("kinds", []) for t in k["themes"] for q in t.quotes]
    quotes += [r["quote"] for r in ctx.get("recs_offer", []) + ctx.get("recs_script", []) if r.get("quote")]
    for q in quotes:
        name = names.get(q.get("cid"))
        if name is not None and "href" not in q:
            q["href"] = call_href(name, q.get("turn") if isinstance(q.get("turn"), int) else None)
            n += 1
    return n


# ---- audio -------------------------------------------------------------------------------------
def _is_recording(path: str | None) -> bool:
    from .audio import AUDIO_EXTENSIONS

    return bool(path) and Path(path).suffix.lower() in AUDIO_EXTENSIONS


def transcode_opus(src: str | os.PathLike, dst: str | os.PathLike) -> float:
    """Transcode the recording `src` to Ogg/Opus at `dst` (16 kHz, mono or stereo as decoded,
    OPUS_BITRATE bit/s) with PyAV (FFmpeg's libraries; no ffmpeg binary needed). Returns the
    written duration in seconds. Raises AudioError when the file cannot be read or holds no audio;
    `dst` is then removed.

    The samples come from `nlp.audio.decode`, the transcriber's own decoding, so the copy has the
    timeline the turn times were measured on (undecodable packets and timestamp gaps kept as
    silence) and plays whatever was transcribed: AMR from phone recorders goes through OpenCORE,
    whose DTX frames FFmpeg's own decoder rejects (the whole copy used to fail on them)."""
    import av
    import numpy as np

    from .audio import SAMPLE_RATE, _av_reason, decode
    from .errors import AudioError

    dst = Path(dst)
    try:
        data = decode(src).channels
    except AudioError as e:
        raise AudioError(f"cannot transcode: {e.message}", hint=e.hint, path=str(src)) from None
    written = 0
    try:
        layout = "stereo" if data.shape[0] == 2 else "mono"
        with av.open(str(dst), "w", format="ogg") as out:
            st = out.add_stream("libopus", rate=OPUS_RATE, layout=layout)
            st.codec_context.bit_rate = OPUS_BITRATE
            res = av.AudioResampler(format="s16", layout=layout, rate=OPUS_RATE)
            step = SAMPLE_RATE  # one second per frame: the encoder cuts it into Opus frames
            for i in range(0, data.shape[1], step):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, i:i + step]), format="fltp",
                                                   layout=layout)
                frame.sample_rate = SAMPLE_RATE
                for f in res.resample(frame):
                    written += f.samples
                    for pkt in st.encode(f):
                        out.mux(pkt)
            for f in res.resample(None):
                written += f.samples
                for pkt in st.encode(f):
                    out.mux(pkt)
            for pkt in st.encode(None):
                out.mux(pkt)
        if not written:
            raise AudioError("cannot transcode: no audio decoded", path=str(src))
    except AudioError:
        dst.unlink(missing_ok=True)
        raise
    except Exception as e:  # PyAV's many error classes: the encoder or the disk failed
        dst.unlink(missing_ok=True)
        raise AudioError(f"cannot transcode: {_av_reason(e)}", path=str(src)) from None
    return written / OPUS_RATE


# Codecs a browser's <audio> plays (checked in headless Chromium on tests/data/audio/codecs: AMR, 3GP,
# G.722 and GSM 6.10 WAV fail with MEDIA_ERR_SRC_NOT_SUPPORTED, a player that never plays).
_PLAYABLE_CODECS = frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_mulaw",
                              "pcm_alaw", "mp3", "mp3float", "aac", "opus", "vorbis", "flac"})
_UNPLAYABLE_SUFFIXES = frozenset({".3gp", ".3g2", ".caf", ".aif", ".aiff", ".aifc", ".au"})


def browser_unplayable(path: str | os.PathLike) -> str:
    """"" when a browser's <audio> plays the recording at `path`, else what stops it (the codec or
    container, for a message). A file PyAV cannot open is left to the browser ("")."""
    import av

    suffix = Path(path).suffix.lower()
    if suffix in _UNPLAYABLE_SUFFIXES:
        return f"{suffix[1:].upper()} files"
    try:
        with av.open(str(path)) as c:
            streams = c.streams.audio
            name = streams[0].codec_context.name if streams else ""
    except Exception:  # PyAV's many error classes: let the browser try
        return ""
    return "" if not name or name in _PLAYABLE_CODECS else name


def _audio_for(cid: str, source: str | None, mode: str, name: str, work: Path, final: Path,
               gate, warn: Callable[[str], None]) -> str | None:
    """The `src` of a call page's audio element (relative to `final/calls/`), or None."""
    if mode == "none" or not _is_recording(source):
        return None
    src = Path(source)
    shown = gate.path(source, cid) if gate.enabled else str(source)
    if not src.is_file():
        warn(f"recording not found for call {gate.call_id(cid)}: {shown}; the call's page has no audio")
        return None
    if mode == "link":
        from .redact import safe_path

        target = src.resolve()
        if gate.enabled and safe_path(target) != str(target):
            warn(f"recording of call {gate.call_id(cid)} not linked: its path holds personal data ({shown}); "
                 "use --explorer-audio copy")
            return None
        codec = browser_unplayable(target)
        if codec:
            warn(f"recording of call {gate.call_id(cid)} not linked: browsers cannot play {codec} ({shown}); "
                 "use --explorer-audio copy")
            return None
        try:
            rel = os.path.relpath(target, (final / "calls").resolve())
        except ValueError:  # another drive (Windows): only an absolute URL reaches it
            return target.as_uri()
        return quote(Path(rel).as_posix())
    adir = work / "audio"
    adir.mkdir(exist_ok=True)
    try:
        transcode_opus(src, adir / f"{name}.opus")
    except Exception as e:
        reason = getattr(e, "message", None) or str(e)
        msg = gate.message(reason, source, cid) if gate.enabled else reason
        warn(f"recording of call {gate.call_id(cid)} left out ({shown}): {msg}")
        return None
    return f"../audio/{quote(name)}.opus"


# ---- page data ---------------------------------------------------------------------------------
def _segments(text: str, marks: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Split a turn's (shown) text into pieces, marking each statement found in it with its kind:
    [{"text", "kind" (None outside statements)}]. A statement not found verbatim (redaction
    changed it differently) is left unmarked; its badge still names it."""
    spans: list[tuple[int, int, str]] = []
    for stext, kind in marks:
        s = stext.strip()
        if not s:
            continue
        i = text.find(s)
        if i < 0:
            continue
        if all(i >= b or i + len(s) <= a for a, b, _ in spans):
            spans.append((i, i + len(s), kind))
    out, pos = [], 0
    for a, b, kind in sorted(spans):
        if a > pos:
            out.append({"text": text[pos:a], "kind": None})
        out.append({"text": text[a:b], "kind": kind})
        pos = b
    if pos < len(text) or not out:
        out.append({"text": text[pos:], "kind": None})
    return out


def _fmt_date(d: Any) -> str:
    return d.date().isoformat() if d is not None and hasattr(d, "date") else ""


def _duration(seconds: float | None) -> str:
    from .report.analysis import fmt_ts

    return fmt_ts(seconds) if seconds else ""


def call_pages_data(store, data, names: dict[str, str], tr: dict[str, Any], rtr: dict[str, Any]) -> list[dict]:
    """One dict per stored call with everything its page and the list show, text already redacted
    when `data.gate` is enabled."""
    from .report.analysis import fmt_ts, step_title

    gate = data.gate
    lang_of = {cid: c["language"] for cid, c in data.all_calls.items()}

    def shown_text(text: str, cid: str, turn: int | None) -> str:
        # the call's language, as for its turns: the same tags, so a statement is found in its turn
        return gate.text(text, lang=lang_of.get(cid), call_id=cid, turn=turn) if gate.enabled else text
    db = store.db
    steps = {r["step_id"]: step_title(r["title"], data.lang)
             for r in db.execute("SELECT step_id, title FROM script_steps ORDER BY position")}
    order = {sid: i for i, sid in enumerate(steps)}
    adh: dict[str, list[dict]] = {}
    for r in db.execute("SELECT call_id, step_id, present, evidence, turn, start FROM adherence"):
        adh.setdefault(r["call_id"], []).append(dict(r))
    stmts: dict[str, list[dict]] = {}
    for s in data.statements:
        stmts.setdefault(s["call_id"], []).append(s)
    sources = {r[0]: r[1] for r in db.execute("SELECT call_id, source_path FROM calls")}
    review = {c["call_id"]: c for c in data.review}
    out = []
    for cid in sorted(data.all_calls):
        c = data.all_calls[cid]
        turns = [dict(r) for r in db.execute('SELECT idx, speaker, start, "end", text FROM turns WHERE call_id=? '
                                              "ORDER BY idx", (cid,))]
        texts = gate.turns([t["text"] or "" for t in turns], c["language"]) if gate.enabled else \
            [t["text"] or "" for t in turns]
        by_turn: dict[int, list[dict]] = {}
        kinds, themes = set(), {}
        for s in stmts.get(cid, []):
            row = data.theme_index.get((s["kind"], s["theme_id"])) if s["theme_id"] is not None else None
            label = row.label if row is not None and not s["outlier"] else None
            by_turn.setdefault(s["turn"], []).append({
                "kind": s["kind"], "kind_label": rtr["kind_short"].get(s["kind"], s["kind"]),
                "theme": label, "text": shown_text(s["text"], cid, s["turn"])})
            kinds.add(s["kind"])
            if label is not None:
                themes[f"{s['kind']}:{s['theme_id']}"] = [s["kind"], label]
        page_turns = []
        for t, text in zip(turns, texts):
            marks = [(m["text"], m["kind"]) for m in by_turn.get(t["idx"], [])]
            # two sentences of one turn in one theme are both marked in the text, but named once
            badges, seen = [], set()
            for m in by_turn.get(t["idx"], []):
                if (m["kind"], m["theme"]) not in seen:
                    seen.add((m["kind"], m["theme"]))
                    badges.append(m)
            page_turns.append({
                "n": t["idx"], "role": t["speaker"] if t["speaker"] in ("agent", "customer") else "unknown",
                "start": t["start"], "ts": fmt_ts(t["start"]), "text": text,
                "segments": _segments(text, marks), "statements": badges})
        steps_rows = []
        for a in sorted(adh.get(cid, []), key=lambda a: (order.get(a["step_id"], 1 << 20), a["step_id"])):
            ev = a["evidence"] or ""
            steps_rows.append({"title": steps.get(a["step_id"], a["step_id"]), "done": bool(a["present"]),
                               "evidence": shown_text(ev, cid, a["turn"]) if ev else "",
                               "turn": a["turn"] if a["present"] and isinstance(a["turn"], int) else None,
                               "ts": fmt_ts(a["start"]) if a["present"] else ""})
        flags = review.get(cid, {}).get("flags") or []
        out.append({
            "cid": cid, "page": names[cid], "id": str(gate.call_id(cid)), "date": _fmt_date(c["date"]),
            "agent": c["agent"] or "", "lead_source": c["lead_source"] or "", "campaign": c["campaign"] or "",
            "outcome": c["outcome"], "outcome_label": rtr.get(c["outcome"], c["outcome"]),
            "language": c["language"] or "", "duration": _duration(c["duration"]),
            "review": bool(flags) and not data.include_uncertain, "flags": flags,
            "turns": page_turns, "steps": steps_rows, "kinds": sorted(kinds),
            "themes": sorted(themes.items()), "timed": any(t["start"] is not None for t in turns),
            "source": sources.get(cid)})
    return out


def _review_reasons(flags: list[dict], rtr: dict[str, Any]) -> str:
    parts = []
    for f in flags:
        if f["flag"] == "roles":
            parts.append(rtr["flag_roles_unknown"] if f.get("confidence") is None else rtr["flag_roles"].format(
                conf=f"{f['confidence']:.2f}", method=f.get("method") or "?"))
        else:
            parts.append(rtr["flag_one_sided"].format(side=rtr["side_" + f["side"]], words=f["words"]))
    return "; ".join(parts)


def _script_json(value: Any) -> str:
    """JSON fit to be a JavaScript file's literal: `<`, `>`, `&` and the line separators escaped, so
    no transcript text can end a script element or be read as markup should the data be inlined."""
    s = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)
    return s


def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES / "explorer")), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def build_explorer(store, out_dir: str | os.PathLike, data, *, lang: str, redact: bool, audio: str | None = None,
                   names: dict[str, str] | None = None, report_href: str = "../report.html") -> ExplorerResult:
    """Write `out_dir/explorer/` for every call in the store (`data`: the report's ReportData, so
    the pages show the same redacted text, ids and theme labels as the report). The folder is built
    beside and swapped in whole, so a rerun leaves no page or recording of an earlier run (a copied
    recording must not outlive a later `--explorer-audio none`). Raises InputFormatError for an
    unknown audio mode; a recording that is missing or cannot be transcoded only adds a warning."""
    from .report import translations as report_translations

    mode = check_audio_mode(audio, redact)
    tr = translations()[lang]
    rtr = report_translations()[lang]
    out = Path(out_dir)
    final = out / DIR_NAME
    work = out / f".{DIR_NAME}-tmp-{os.getpid()}"
    # what a killed run left behind may hold copied recordings: it goes before anything is written
    for stale in list(out.glob(f".{DIR_NAME}-tmp-*")) + list(out.glob(f".{DIR_NAME}-old-*")):
        shutil.rmtree(stale, ignore_errors=True)
    (work / "calls").mkdir(parents=True)
    (work / "assets").mkdir()
    names = names or page_names(store, data.all_calls)
    result = ExplorerResult(index=final / "index.html", audio=mode)
    try:
        calls = call_pages_data(store, data, names, tr, rtr)
        env = _env()
        page_t = env.get_template("call.html.j2")
        kinds = [(k, rtr["kind_short"][k]) for k in rtr["kind_short"]]
        common = {"t": tr, "rt": rtr, "lang": lang, "redacted": redact, "mode": mode, "kinds": kinds,
                  "report_href": report_href}
        for c in calls:
            c["audio"] = _audio_for(c["cid"], c.pop("source"), mode, c["page"], work, final, data.gate,
                                    result.warnings.append)
            result.n_audio += c["audio"] is not None
            c["review_note"] = tr["review_note"].format(reasons=_review_reasons(c["flags"], rtr)) \
                if c["flags"] else ""
            (work / "calls" / f"{c['page']}.html").write_text(page_t.render(c=c, **common), encoding="utf-8")
            result.pages[c["cid"]] = final / "calls" / f"{c['page']}.html"
        listing = {
            "calls": [{k: c[k] for k in ("id", "page", "date", "agent", "lead_source", "campaign", "outcome",
                                         "outcome_label", "duration", "kinds", "review")}
                      | {"themes": [v for _, v in c["themes"]], "theme_keys": [k for k, _ in c["themes"]]}
                      for c in calls],
            # [call index, turn index, role, text, time in the call]
            "turns": [[i, t["n"], t["role"], t["text"], t["ts"]] for i, c in enumerate(calls) for t in c["turns"]
                      if t["text"].strip()],
            "labels": {"kinds": dict(kinds), "roles": tr["roles"], "shown": tr["shown"],
                       "none_match": tr["none_match"], "matches": tr["matches"],
                       "more_matches": tr["more_matches"], "review": tr["review"], "all": tr["all"]},
        }
        (work / "assets" / "data.js").write_text(
            "// The call list and every turn, for list.js (a script: pages opened from disk cannot fetch).\n"
            f"window.CALLBRIDGE_EXPLORER = {_script_json(listing)};\n", encoding="utf-8")
        for f in _STATIC_FILES:
            shutil.copyfile(STATIC / f, work / "assets" / f)
        facets = {
            "agent": sorted({c["agent"] for c in calls if c["agent"]}),
            "lead_source": sorted({c["lead_source"] for c in calls if c["lead_source"]}),
            "campaign": sorted({c["campaign"] for c in calls if c["campaign"]}),
            "outcome": [(k, rtr[k]) for k in ("won", "lost", "pending", "unknown")
                        if any(c["outcome"] == k for c in calls)],
            "kind": [(k, v) for k, v in kinds if any(k in c["kinds"] for c in calls)],
            "themes": sorted({key: v for c in calls for key, v in c["themes"]}.items(),
                             key=lambda kv: (list(rtr["kind_short"]).index(kv[1][0])
                                             if kv[1][0] in rtr["kind_short"] else 99, kv[1][1])),
        }
        (work / "index.html").write_text(env.get_template("index.html.j2").render(
            calls=calls, facets=facets, **common), encoding="utf-8")
        old = out / f".{DIR_NAME}-old-{os.getpid()}"
        if final.exists():
            os.replace(final, old)
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return result


def report_context(lang: str, redact: bool, audio: str) -> dict[str, Any]:
    """What the report says about the explorer: the link, its words, and (recordings left out
    because of redaction) how to include them."""
    tr = translations()[lang]
    note = ""
    if audio == "none" and redact:
        note = tr["report_audio_note"].format(command="callbridge report --store DIR --out DIR --explorer-audio copy")
    return {"href": f"{DIR_NAME}/index.html", "label": tr["report_link"],
            "listen": tr["open_call"] if audio == "none" else tr["listen"],
            "audio_note": note}
