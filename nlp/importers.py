"""Import existing transcripts into the store, skipping ASR.

Formats (by suffix):
  .json   the call format (one call, or a list of calls as `callbridge export --format json` writes)
  .jsonl  one call per line
  .txt    a plain-text dialogue, one turn per line with a role prefix, optional timestamps:
              [00:01] Менеджер: Здравствуйте, ...
              Клиент (00:07): Добрый день, ...
              00:00:12.5 Agent Mike: ...
          a line without a prefix continues the previous turn
  .srt / .vtt  subtitles with speaker tags: `<v Agent>…`, `Agent: …`, `[Customer] …`; a cue with no
          tag continues the previous speaker; consecutive cues of one speaker form one turn

Speaker labels map to roles through `rules/import_roles.json` ("Менеджер Ирина" -> agent,
"Покупатель" -> customer). Labels with no role word (names, "Speaker 1") are resolved per file:
two such speakers are told apart by `nlp.roles` agent evidence (greeting, company, agent phrases)
and the decision is kept in `source.roles` with its confidence.

call_id is the call JSON's own `call_id`, else the file stem. Each file is read, validated and
saved on its own: a broken file is recorded in the store's errors with the reason and the batch
goes on. Rerunning skips files whose content and import settings have not changed.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from .callio import call_from_dict
from .errors import CallbridgeError, InputFormatError
from .fileutil import file_sha256
from .types import SPEAKERS, Call, Turn

STAGE = "import"
TRANSCRIPT_EXTENSIONS = frozenset({".json", ".jsonl", ".txt", ".srt", ".vtt"})
RULES_PATH = Path(__file__).with_name("rules") / "import_roles.json"
MAX_BYTES = 50 * 1024 * 1024
# Changing how files are parsed must invalidate earlier imports: bump this.
IMPORT_VERSION = "import-1"

_TS = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TS_RE = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$")
_TS_BLOCK = rf"[\[(]?\s*({_TS})(?:\s*(?:-|–|—|-->)\s*({_TS}))?\s*[\])]?"
_LEAD_TS = re.compile(rf"^\s*{_TS_BLOCK}\s*[-–—|]?\s*")
_BULLET = re.compile(r"^\s*(?:[-–—•*>]\s+)")
_LABEL = re.compile(rf"^(?P<label>[^\W\d_][^:：\[\]<>{{}}]{{0,60}}?)\s*(?:{_TS_BLOCK})?\s*[:：]\s*(?P<text>.*)$", re.S)
_BRACKET_LABEL = re.compile(r"^[\[(<](?P<label>[^\]\)>]{1,40})[\])>]\s*:?\s*(?P<text>.*)$", re.S)
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]{1,60})>", re.I)
_TAGS = re.compile(r"</?[a-zA-Z][^>]{0,200}>|<\d[\d:.]*>")
_SRT_TIME = re.compile(rf"^\s*({_TS})\s*-->\s*({_TS})(?:\s+.*)?$")


@dataclass
class ImportResult:
    path: str
    call_id: str | None
    status: str                  # imported | skipped | failed
    reason: str | None = None
    format: str | None = None
    n_turns: int = 0


@dataclass
class ImportSummary:
    imported: list[ImportResult] = field(default_factory=list)
    skipped: list[ImportResult] = field(default_factory=list)
    failed: list[ImportResult] = field(default_factory=list)
    metadata_matched: int = 0
    metadata_unmatched: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def done(self) -> list[ImportResult]:
        return self.imported

    @property
    def call_ids(self) -> list[str]:
        return [r.call_id for r in self.imported + self.skipped if r.call_id]

    def exit_code(self, strict: bool = False) -> int:
        if self.failed and (strict or not (self.imported or self.skipped)):
            return 1
        return 0

    def text(self) -> str:
        lines = [f"imported {len(self.imported)}, skipped {len(self.skipped)} (unchanged), "
                 f"failed {len(self.failed)} in {self.wall_seconds:.1f} s"]
        for r in self.failed:
            lines.append(f"  failed: {_shown(r.path, r.call_id)}: {_said(r.reason, r.path, r.call_id)}")
        if self.metadata_matched or self.metadata_unmatched:
            lines.append(f"metadata: {self.metadata_matched} calls matched"
                         + (f", unmatched rows: {', '.join(self.metadata_unmatched[:10])}"
                            if self.metadata_unmatched else ""))
        return "\n".join(lines)


# ---- roles --------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _role_rules() -> dict[str, Any]:
    d = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    words: dict[str, str] = {}
    for role in SPEAKERS:
        for w in d[role]:
            words.setdefault(_fold(w), role)
    d["_words"] = words
    return d


def _fold(s: str) -> str:
    return s.strip().lower().replace("ё", "е")


def role_of(label: str) -> str | None:
    """'agent'/'customer' for a speaker label with a role word in it, else None."""
    words = _role_rules()["_words"]
    folded = _fold(label)
    if folded in words:
        return words[folded]
    for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)?", folded):
        if w in words:
            return words[w]
    return None


def _plausible_label(label: str) -> bool:
    r = _role_rules()
    label = label.strip()
    return (0 < len(label) <= r["max_label_chars"] and len(label.split()) <= r["max_label_words"]
            and not re.search(r"[.!?,;\"«»]", label))


def _resolve_unknown(labels: list[str], turns_by_label: dict[str, list[str]], known: dict[str, str],
                     first_label: str | None, language: str | None) -> tuple[dict[str, str], dict[str, Any]]:
    """Roles for labels with no role word. Returns (label -> role, provenance for source.roles)."""
    known_roles = set(known.values())
    if len(labels) == 1 and len(known_roles) == 1:
        other = "customer" if "agent" in known_roles else "agent"
        return {labels[0]: other}, {"method": "other-side", "confidence": 0.9}
    if len(labels) == 1 and not known_roles:
        raise InputFormatError(f"only one speaker ({labels[0]!r}) and no role",
                               hint="prefix the lines with roles, e.g. 'Менеджер:' / 'Клиент:' or 'Agent:' / 'Customer:'")
    if len(labels) == 2 and not known_roles:
        try:
            from .roles import channel_evidence

            scores = [channel_evidence(turns_by_label[lb], language, first=(lb == first_label))[0] for lb in labels]
        except ImportError:  # roles stage not available: the agent answers an incoming call first
            scores = [1.0 if lb == first_label else 0.0 for lb in labels]
        agent = 0 if scores[0] >= scores[1] else 1
        conf = 1.0 / (1.0 + math.exp(-abs(scores[0] - scores[1])))
        return ({labels[agent]: "agent", labels[1 - agent]: "customer"},
                {"method": "text-evidence", "confidence": round(min(conf, 0.8), 3),
                 "labels": {labels[agent]: "agent", labels[1 - agent]: "customer"}})
    shown = ", ".join(repr(x) for x in labels[:6])
    raise InputFormatError(f"cannot tell agent from customer among speakers {shown}",
                           hint="use role prefixes such as 'Менеджер:' / 'Клиент:' or 'Agent:' / 'Customer:' "
                           "(the words are listed in nlp/rules/import_roles.json)")


# ---- timestamps ---------------------------------------------------------------------------
def parse_timestamp(ts: str | None) -> float | None:
    if not ts:
        return None
    m = _TS_RE.match(ts.strip())
    if not m:
        return None
    h, mnt, s, frac = m.groups()
    if int(s) >= 60 or (h is not None and int(mnt) >= 60):
        raise InputFormatError(f"timestamp {ts!r} is not a valid time")
    val = int(h or 0) * 3600 + int(mnt) * 60 + int(s)
    if frac:
        val += int(frac) / (10 ** len(frac))
    return float(val)


# ---- readers ------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputFormatError(f"file is {size / 1e6:.0f} MB, more than a transcript should be",
                                   hint="split it into one file per call")
        raw = path.read_bytes()
    except OSError as e:
        raise InputFormatError(f"cannot read file: {e.strerror}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise InputFormatError("damaged UTF-16 text") from None
    if b"\x00" in raw[:8192]:
        raise InputFormatError("binary data, not a text transcript", hint="give call JSON, .txt, .srt or .vtt files")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Windows tools still save Russian text as cp1251
        text = raw.decode("cp1251")
    except UnicodeDecodeError:
        raise InputFormatError("not UTF-8 text", hint="save the file as UTF-8") from None
    if not re.search(r"[а-яё]{3}", text, re.I):
        raise InputFormatError("not UTF-8 text", hint="save the file as UTF-8")
    return text


def _calls_from_json(path: Path, text: str) -> list[Call]:
    if not text.strip():
        raise InputFormatError("the file is empty")
    if path.suffix.lower() == ".jsonl":
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InputFormatError(f"line {n}: invalid JSON: {e.msg}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFormatError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        items = data if isinstance(data, list) else [data]
    if not items:
        raise InputFormatError("no calls in the file")
    many = len(items) > 1
    calls = []
    for i, d in enumerate(items):
        where = f"{path}[{i}]" if many else str(path)
        if isinstance(d, dict):
            d = dict(d)
            if many and not d.get("call_id"):
                raise InputFormatError(f"call {i} has no 'call_id'", path=where,
                                       hint="in a file holding several calls each needs its own call_id")
            if isinstance(d.get("turns"), list):
                d["turns"] = [_map_json_speaker(t) for t in d["turns"]]
        call = call_from_dict(d, None if many else str(path))
        if many:
            call.call_id = str(d["call_id"])
        calls.append(call)
    return calls


def _map_json_speaker(t: Any) -> Any:
    if isinstance(t, dict) and isinstance(t.get("speaker"), str):
        sp = t["speaker"].strip().lower()
        if sp not in SPEAKERS:
            role = role_of(t["speaker"])
            if role:
                t = {**t, "speaker": role}
    return t


def _parse_line_label(line: str) -> tuple[str | None, float | None, float | None, str]:
    """(label, start, end, text) of a dialogue line; label None when the line has no prefix."""
    start = end = None
    body = _BULLET.sub("", line)
    m = _LEAD_TS.match(body)
    if m:
        start, end = parse_timestamp(m.group(1)), parse_timestamp(m.group(2))
        body = body[m.end():]
    m = _BRACKET_LABEL.match(body)
    if m and role_of(m.group("label")):
        label, text = m.group("label"), m.group("text")
    else:
        m = _LABEL.match(body)
        if not m:
            return None, start, end, body.strip()
        label, text = m.group("label").strip(), m.group("text")
        ts = re.search(_TS_BLOCK + r"\s*$", body[: m.start("text")].rstrip(" :："))
        if ts and start is None:
            start, end = parse_timestamp(ts.group(1)), parse_timestamp(ts.group(2))
    text = text.strip()
    m2 = _LEAD_TS.match(text)
    if m2 and start is None and re.match(r"\s*[\[(]", text):
        start, end = parse_timestamp(m2.group(1)), parse_timestamp(m2.group(2))
        text = text[m2.end():]
    return label.strip(), start, end, text.strip()


@dataclass
class _RawTurn:
    label: str
    text: str
    start: float | None = None
    end: float | None = None


def _assign_roles(raw: list[_RawTurn], language_hint: str | None) -> tuple[list[Turn], dict[str, Any]]:
    labels: list[str] = []
    for t in raw:
        if t.label not in labels:
            labels.append(t.label)
    known = {lb: r for lb in labels if (r := role_of(lb))}
    unknown = [lb for lb in labels if lb not in known]
    roles = dict(known)
    provenance: dict[str, Any] = {"method": "labels", "confidence": 1.0}
    if unknown:
        by_label: dict[str, list[str]] = {}
        for t in raw:
            by_label.setdefault(t.label, []).append(t.text)
        extra, provenance = _resolve_unknown(unknown, by_label, known, raw[0].label if raw else None, language_hint)
        roles.update(extra)
    turns = [Turn(roles[t.label], t.text, t.start, t.end) for t in raw if t.text]
    return turns, provenance


def parse_dialogue(text: str) -> tuple[list[Turn], dict[str, Any]]:
    """Turns of a plain-text dialogue with role prefixes (see the module doc)."""
    lines = [ln for ln in text.splitlines()]
    parsed = [(_parse_line_label(ln) if ln.strip() else None) for ln in lines]
    # Only labels that look like speakers count: a role word, or a short label used at least twice.
    counts: dict[str, int] = {}
    for p in parsed:
        if p and p[0] and _plausible_label(p[0]):
            counts[p[0]] = counts.get(p[0], 0) + 1
    known = {lb for lb in counts if role_of(lb)}
    known_roles = {role_of(lb) for lb in known}
    if len(known_roles) == 2:
        speakers = known
    else:
        # with one or no role words, the most used other labels are the remaining side(s)
        others = sorted((lb for lb in counts if lb not in known and counts[lb] >= 2), key=lambda lb: -counts[lb])
        speakers = known | set(others[: 2 - len(known_roles)])
    raw: list[_RawTurn] = []
    for ln, p in zip(lines, parsed):
        if p is None:
            continue
        label, start, end, body = p
        if label is not None and label in speakers:
            raw.append(_RawTurn(label, body, start, end))
        elif raw:
            # a line without a speaker prefix continues the previous turn
            piece = ln.strip()
            raw[-1].text = f"{raw[-1].text} {piece}".strip()
        elif ln.strip():
            if re.match(r"^\s*(?:#|//|title:|date:|дата:|звонок)", ln, re.I):
                continue  # a header line before the dialogue starts
            raise InputFormatError(f"line {lines.index(ln) + 1} has no speaker prefix: {ln.strip()[:60]!r}",
                                   hint="start each turn with a role, e.g. 'Менеджер: …' / 'Клиент: …' or "
                                   "'Agent: …' / 'Customer: …'")
    if not raw:
        raise InputFormatError("no dialogue lines with a speaker prefix found",
                               hint="start each turn with a role, e.g. 'Менеджер: …' / 'Клиент: …' or "
                               "'Agent: …' / 'Customer: …'")
    from .language import detect_language

    return _assign_roles(raw, detect_language(" ".join(t.text for t in raw[:20])))


def parse_subtitles(text: str) -> tuple[list[Turn], dict[str, Any]]:
    """Turns of an SRT or WebVTT file with speaker tags (see the module doc)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n\s*\n", text.strip())
    cues: list[tuple[float, float, str]] = []
    for b in blocks:
        lines = b.split("\n")
        if lines and lines[0].strip().upper().startswith("WEBVTT"):
            continue
        if lines and re.match(r"^(NOTE|STYLE|REGION)\b", lines[0].strip()):
            continue
        ti = next((i for i, ln in enumerate(lines[:3]) if "-->" in ln), None)
        if ti is None:
            continue
        m = _SRT_TIME.match(lines[ti])
        if not m:
            raise InputFormatError(f"bad cue timing {lines[ti].strip()[:60]!r}",
                                   hint="use 00:00:01,000 --> 00:00:04,000 (SRT) or 00:01.000 --> 00:04.000 (VTT)")
        start, end = parse_timestamp(m.group(1)), parse_timestamp(m.group(2))
        body = "\n".join(lines[ti + 1:]).strip()
        if body:
            cues.append((start or 0.0, end or 0.0, body))
    if not cues:
        raise InputFormatError("no subtitle cues found", hint="an SRT/VTT file needs 'start --> end' cue timings")
    raw: list[_RawTurn] = []
    any_tag = False
    for start, end, body in cues:
        parts = _cue_parts(body)
        n = sum(len(t) for _, t in parts) or 1
        t0 = start
        for label, txt in parts:
            # several speakers in one cue share its time in proportion to their text
            t1 = t0 + (end - start) * len(txt) / n
            if label is not None:
                any_tag = True
            if label is None:
                if not raw:
                    raw.append(_RawTurn("", txt, t0, t1))
                    t0 = t1
                    continue
                label = raw[-1].label
            if raw and raw[-1].label == label:
                raw[-1].text = f"{raw[-1].text} {txt}".strip()
                raw[-1].end = t1
            else:
                raw.append(_RawTurn(label, txt, t0, t1))
            t0 = t1
    if not any_tag:
        raise InputFormatError("no speaker tags in the subtitles",
                               hint="mark speakers with <v Agent>, 'Agent:' or '[Customer]' at the start of a cue")
    if raw and raw[0].label == "":
        # text before the first tag belongs to the first tagged speaker
        first = next(t.label for t in raw if t.label)
        raw[0].label = first
        if len(raw) > 1 and raw[1].label == first:
            raw[1].text = f"{raw[0].text} {raw[1].text}"
            raw[1].start = raw[0].start
            raw.pop(0)
    from .language import detect_language

    return _assign_roles(raw, detect_language(" ".join(t.text for t in raw[:20])))


def _cue_parts(body: str) -> list[tuple[str | None, str]]:
    """(label or None, clean text) pieces of one cue; a new piece starts at each speaker tag."""
    parts: list[tuple[str | None, str]] = []
    for line in body.split("\n"):
        line = line.strip()
        if not line:
            continue
        label = None
        vm = _VOICE.search(line)
        if vm:
            label = vm.group(1).strip()
            line = line[: vm.start()] + line[vm.end():]
        clean = html.unescape(_TAGS.sub("", line)).strip()
        if label is None:
            lab, _s, _e, rest = _parse_line_label(clean)
            if lab is not None and _plausible_label(lab) and (role_of(lab) or len(lab.split()) <= 2):
                label, clean = lab, rest
        if not clean:
            continue
        if label is None and parts:
            parts[-1] = (parts[-1][0], f"{parts[-1][1]} {clean}")
        else:
            parts.append((label, clean))
    return parts


def _calls_from_file(path: Path) -> tuple[list[Call], str]:
    suffix = path.suffix.lower()
    text = _read_text(path)
    if suffix in (".json", ".jsonl"):
        return _calls_from_json(path, text), "json"
    if not text.strip():
        raise InputFormatError("the file is empty")
    if suffix == ".txt":
        turns, prov = parse_dialogue(text)
        fmt = "text"
    elif suffix in (".srt", ".vtt"):
        turns, prov = parse_subtitles(text)
        fmt = suffix[1:]
    else:
        raise InputFormatError(f"unknown transcript type {suffix!r}",
                               hint="call JSON (.json/.jsonl), dialogue text (.txt), subtitles (.srt/.vtt)")
    return [Call(path.stem, turns, source={"roles": prov})], fmt


# ---- public -------------------------------------------------------------------------------
def is_transcript_file(path: str | os.PathLike) -> bool:
    """True for a file `import` reads by its type (json, jsonl, txt, srt, vtt); hidden files excluded."""
    p = Path(path)
    if p.suffix.lower() not in TRANSCRIPT_EXTENSIONS or p.name.startswith("."):
        return False
    return not (p.suffix.lower() == ".txt" and _is_path_list(p))


def _is_path_list(p: Path) -> bool:
    """A .txt that lists recordings (one path per line, as `transcribe` accepts) is not a dialogue."""
    try:
        with open(p, "rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    lines = [ln.strip() for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith("#")][:5]
    if not lines:
        return False
    try:
        from .audio import AUDIO_EXTENSIONS
    except ImportError:  # transcription extras missing: judge by the common suffixes
        AUDIO_EXTENSIONS = {".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac", ".webm", ".aac"}
    return all(Path(ln).suffix.lower() in AUDIO_EXTENSIONS and ":" not in ln.split("/")[-1] for ln in lines)


def expand_transcript_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Transcript files among `inputs` (files or folders searched recursively), sorted, each once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and is_transcript_file(f)
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            files = [p]
        for f in files:
            r = f.resolve() if f.exists() else f.absolute()
            if r not in seen:
                seen.add(r)
                out.append(f)
    return out


def _settings_hash() -> str:
    rules = RULES_PATH.read_bytes()
    return hashlib.sha1(IMPORT_VERSION.encode() + rules).hexdigest()[:16]


def import_paths(paths: Iterable[str | os.PathLike], store, metadata: Any = None,
                 log: Callable[[str], None] | None = None) -> ImportSummary:
    """Import transcript files (or folders of them) into `store`.

    `metadata`: a CRM table from `nlp.metadata.read_metadata`, or the path of its CSV/XLSX; rows
    are merged into the calls they match (by call_id, file name or stem).
    """
    from .language import detect_language
    from .metadata import apply_metadata, find_row, read_metadata

    t0 = time.time()
    log = log or (lambda m: None)
    table = read_metadata(metadata) if isinstance(metadata, (str, os.PathLike)) else metadata
    summary = ImportSummary()
    files = expand_transcript_inputs(paths)
    shash = _settings_hash()
    seen_ids: dict[str, str] = {}
    used_keys: set[str] = set()
    for i, f in enumerate(files, 1):
        stem_id = store.call_id_for(f.stem)  # a recorder's "<date>_<phone>_<name>" stem gets a pseudonym
        if not f.exists():
            _fail(summary, store, f, stem_id, "no such file", log)
            continue
        try:
            sha = file_sha256(f)
            calls, fmt = _calls_from_file(f)
        except CallbridgeError as e:
            _fail(summary, store, f, stem_id, _reason(e, f), log)
            continue
        except OSError as e:
            _fail(summary, store, f, stem_id, f"cannot read file: {e.strerror or e}", log)
            continue
        for call in calls:
            original = call.call_id
            cid = call.call_id = store.call_id_for(original)
            if cid in seen_ids:
                _fail(summary, store, f, cid, f"call_id {cid!r} was already imported from "
                      f"{_shown(seen_ids[cid], cid)} in this run (rename one of the files or set distinct "
                      "call_id values)", log)
                continue
            if not call.turns or not any(t.text.strip() for t in call.turns):
                _fail(summary, store, f, cid, "the call has no turns with text", log)
                continue
            seen_ids[cid] = str(f)
            key = find_row(table, original, str(f)) if table else None
            if key is not None:
                used_keys.add(key)
            call_sha = sha if len(calls) == 1 else hashlib.sha256(f"{sha}:{cid}".encode()).hexdigest()
            if key is None and store.is_done(cid, call_sha, shash):
                summary.skipped.append(ImportResult(str(f), cid, "skipped", format=fmt, n_turns=len(call.turns)))
                log(f"[{i}/{len(files)}] {_shown(f, cid)}: skipped (already imported, unchanged)")
                continue
            if not call.language:
                call.language = detect_language(" ".join(t.text for t in call.turns))
            if key is not None:
                call.metadata.update(table[key])
            call.source = {**call.source, "imported_from": str(f), "format": fmt}
            try:
                store.save_call(call, "imported", source_path=str(f), audio_sha256=call_sha, settings_hash=shash)
            except (CallbridgeError, OSError, ValueError) as e:
                _fail(summary, store, f, cid, f"cannot save: {e}", log)
                continue
            summary.imported.append(ImportResult(str(f), cid, "imported", format=fmt, n_turns=len(call.turns)))
            log(f"[{i}/{len(files)}] {_shown(f, cid)}: {len(call.turns)} turns, {call.language}")
    if table:
        rest = {k: v for k, v in table.items() if k not in used_keys}
        matched_rest, unmatched = apply_metadata(store, rest) if rest else (0, [])
        summary.metadata_matched = len(used_keys) + matched_rest
        summary.metadata_unmatched = unmatched
    summary.wall_seconds = time.time() - t0
    return summary


def _reason(e: CallbridgeError, f: Path) -> str:
    msg = e.message
    if e.path and e.path != str(f):
        msg = f"{e.path}: {msg}"
    return msg + (f" ({e.hint})" if e.hint else "")


def _fail(summary: ImportSummary, store, f: Path, call_id: str | None, reason: str, log) -> None:
    summary.failed.append(ImportResult(str(f), call_id, "failed", reason))
    store.record_error(STAGE, reason, call_id=call_id, source_path=str(f))
    log(f"{_shown(f, call_id)}: FAILED: {_said(reason, f, call_id)}")


def _shown(path, call_id: str | None) -> str:
    """A path as printed: a file or folder name that may hold personal data shows as its call's pseudonym."""
    from .redact import safe_path

    return safe_path(path, call_id)


def _said(reason: str | None, path, call_id: str | None) -> str:
    """A failure reason as printed: it may name the file or quote its text."""
    from .redact import safe_message

    return safe_message(reason or "", path, call_id)
