"""Import existing transcripts into the store, skipping ASR.

The format is detected from the content (the suffix decides only for .json/.jsonl), see
`_calls_from_file` and README "Import and export":
  call JSON    {"turns": [...]}, a list of such calls, or one per line (.jsonl)
  Amazon Transcribe JSON   results.items / channel_labels / speaker_labels / audio_segments; Call
               Analytics "Transcript" with ParticipantRole
  Whisper / WhisperX / whisper.cpp JSON   "segments" (WhisperX: with "speaker", word speakers
               followed); plain Whisper has no speakers and fails saying so
  Yandex SpeechKit JSON    v2 "chunks" with channelTag; v3 getRecognition results ("final",
               "finalRefinement" preferred), as one JSON array or one message per line
  WebVTT / SRT speaker tags `<v Name>`, `Name: text`, `[Name] text`, a "(Name)" line
  speaker-and-time text    "Марина Кузнецова  0:06" over the turn's lines (Otter, Teams/Meet
               .docx), "[Марина] 10:15:32" (Zoom)
  dialogue text  one turn per line with a role prefix, optional timestamps:
              [00:01] Менеджер: Здравствуйте, ...
              Клиент (00:07): Добрый день, ...
          a line without a prefix continues the previous turn; a line holding only a time (Google
          Meet) times the next turn

Speaker labels map to roles through `rules/import_roles.json` ("Менеджер Ирина" -> agent,
"Покупатель" -> customer); `--roles "Name=agent,..."` overrides. Labels with no role word (names,
"Speaker 1", "spk_0") are resolved per call by `nlp.roles` agent evidence, for any number of
speakers (`decide_roles`), and the decision is kept in `source.roles` with its confidence.

call_id is the call JSON's own `call_id`, else the file stem. Each file is read, validated and
saved on its own: a broken file is recorded in the store's errors with the reason (which names the
detected format and what is missing) and the batch goes on. Rerunning skips files whose content
and import settings (rules, --roles) have not changed.
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
TRANSCRIPT_EXTENSIONS = frozenset({".json", ".jsonl", ".txt", ".srt", ".vtt", ".docx"})
RULES_PATH = Path(__file__).with_name("rules") / "import_roles.json"
MAX_BYTES = 50 * 1024 * 1024
# Changing how files are parsed must invalidate earlier imports: bump this.
IMPORT_VERSION = "import-2"
MAX_HEADER_LINES = 8      # unlabelled lines before the first turn taken as a title, not an error
MAX_JOINT_SPEAKERS = 12   # unnamed speakers whose roles are searched jointly (2**12 assignments)
# How much one pair of neighbouring turns of two speakers weighs against agent evidence (whose
# cues weigh 0.5-1.5 each). Measured on the labelled calls rendered as name-labelled text with the
# agent's second half given to another person: 0.25 / 0.5 / 1.0 get 152 / 164 / 166 of 180 calls
# fully right, the same on two-speaker and two-customer calls; 0.5 leaves evidence the larger say.
TURN_TAKING_WEIGHT = 0.5

_TS = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TS_RE = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$")
_TS_BLOCK = rf"[\[(]?\s*({_TS})(?:\s*(?:-|–|—|-->)\s*({_TS}))?\s*[\])]?"
_LEAD_TS = re.compile(rf"^\s*{_TS_BLOCK}\s*[-–—|]?\s*")
_BULLET = re.compile(r"^\s*(?:[-–—•*>]\s+)")
# a colon followed by a digit is a time ("в 10:30"), not the end of a speaker label
_LABEL = re.compile(rf"^(?P<label>[^\W\d_][^:：\[\]<>{{}}]{{0,60}}?)\s*(?:{_TS_BLOCK})?\s*[:：](?!\d)\s*(?P<text>.*)$",
                    re.S)
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
    warnings: list[str] = field(default_factory=list)
    # (item number in --roles, the name as typed) for names no file's speaker has
    unused_roles: list[tuple[int, str]] = field(default_factory=list)

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

    def warning_lines(self, red: Any = None) -> list[str]:
        """The warnings as printed, each through `red` (an `nlp.redact.Redactor`; default: redaction
        on): CRM row problems quote cells, and --roles names are people's names."""
        from .redact import Redactor

        red = red if red is not None else Redactor(None, True)
        out = [red.message(w) for w in self.warnings]
        if self.unused_roles:
            names = ", ".join(f"{name} (item {k})" for k, name in self.unused_roles)
            out.append(red.message(f"--roles names no speaker in these files: {names}"))
        return out

    def text(self, red: Any = None) -> str:
        """The summary as printed; personal data in warnings and CRM keys goes through `red` (an
        `nlp.redact.Redactor`, default: redaction on)."""
        from .redact import Redactor

        red = red if red is not None else Redactor(None, True)
        lines = [f"imported {len(self.imported)}, skipped {len(self.skipped)} (unchanged), "
                 f"failed {len(self.failed)} in {self.wall_seconds:.1f} s"]
        for r in self.failed:
            lines.append(f"  failed: {_shown(r.path, r.call_id)}: {_said(r.reason, r.path, r.call_id)}")
        if self.metadata_matched or self.metadata_unmatched:
            lines.append(f"metadata: {self.metadata_matched} calls matched"
                         + (f", unmatched rows: {', '.join(red.path(k) for k in self.metadata_unmatched[:10])}"
                            if self.metadata_unmatched else ""))
        lines += [f"warning: {w}" for w in self.warning_lines(red)]
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
    d["_not_speakers"] = {_fold(w) for w in d.get("not_speakers", [])}
    d["_boilerplate"] = [re.compile(p, re.I) for p in d.get("boilerplate", [])]
    return d


def _fold(s: str) -> str:
    return " ".join(s.strip().lower().replace("ё", "е").split())


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


class RolesOption(dict):
    """{folded speaker name: role} as `parse_roles_option` returns it; `typed` maps each key to
    the name as the user wrote it (for messages)."""

    def __init__(self, *args: Any, typed: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.typed: dict[str, str] = dict(typed or {})


def parse_roles_option(value: str | None) -> RolesOption:
    """`--roles "Марина Кузнецова=agent, Олег=customer"` as {folded speaker name: role}.

    Items are separated by ',' or ';'; a role is `agent`/`customer` or a role word of
    rules/import_roles.json (менеджер, клиент, ...). Names match speaker labels case-insensitively
    (ё = е); a name may also be the only label in a file that holds all its words ("Марина" for
    "Марина Кузнецова"). Raises InputFormatError naming the bad item.
    """
    if value is None or not value.strip():
        return RolesOption()
    hint = 'give NAME=agent or NAME=customer items, e.g. --roles "Марина Кузнецова=agent,Олег Сидоров=customer"'
    out = RolesOption()
    for item in re.split(r"[,;\n]", value):
        if not item.strip():
            continue
        name, sep, role = item.partition("=")
        name, role = name.strip().strip("\"'«»").strip(), _fold(role.strip().strip("\"'"))
        if not sep or not name or not role:
            raise InputFormatError(f"--roles: {item.strip()!r} is not NAME=ROLE", hint=hint)
        r = role if role in SPEAKERS else role_of(role)
        if r is None:
            raise InputFormatError(f"--roles: role {role!r} for {name!r} is not agent or customer", hint=hint)
        key = _fold(name)
        if out.get(key, r) != r:
            raise InputFormatError(f"--roles: {name!r} is given both roles", hint=hint)
        out[key] = r
        out.typed.setdefault(key, name)
    return out


def _plausible_label(label: str) -> bool:
    r = _role_rules()
    label = label.strip()
    return (0 < len(label) <= r["max_label_chars"] and len(label.split()) <= r["max_label_words"]
            and not re.search(r"[.!?,;\"«»]", label) and _fold(label) not in r["_not_speakers"])


def _given_keys(labels: list[str], given: dict[str, str]) -> dict[str, str]:
    """label -> key of `given` naming it: the whole label, else the one label holding all the key's words."""
    out: dict[str, str] = {}
    if not given:
        return out
    for lb in labels:
        if _fold(lb) in given:
            out[lb] = _fold(lb)
    for key in given:
        if key in out.values():
            continue
        words = set(key.split())
        holders = [lb for lb in labels if lb not in out and words <= set(_fold(lb).split())]
        if len(holders) == 1:
            out[holders[0]] = key
    return out


def _evidence(labels: list[str], texts: dict[str, list[str]], first: str, language: str | None) -> dict[str, float]:
    try:
        from .roles import channel_evidence
    except ImportError:  # roles stage not available: the agent answers an incoming call first
        return {lb: (1.0 if lb == first else 0.0) for lb in labels}
    return {lb: channel_evidence(texts.get(lb, []), language, first=(lb == first))[0] for lb in labels}


def _sure(diff: float) -> float:
    """Confidence of a decision taken on an evidence difference; inferred roles never claim more than 0.8."""
    return round(min(1.0 / (1.0 + math.exp(-abs(diff))), 0.8), 3)


def _joint_roles(labels: list[str], unknown: list[str], known: dict[str, str], scores: dict[str, float],
                 sequence: list[str]) -> tuple[dict[str, str], dict[str, float]]:
    """The roles of the `unknown` labels that best fit both the agent evidence and turn-taking.

    fit = sum over labels of (+score if agent else -score, around the mean score)
        + TURN_TAKING_WEIGHT * sum over neighbouring turns of two different speakers of (+1 when
          they are of different sides, -1 when of the same side)
    over every assignment with both sides present. A quiet second agent who answers the customer's
    questions is an agent by turn-taking even when a greeting made the first agent's evidence tower
    over it. Returns (best assignment, per label: how much worse the best fit with that label's
    role flipped is, the margin its confidence comes from)."""
    center = sum(scores[lb] for lb in labels) / len(labels)
    pairs: dict[tuple[str, str], int] = {}
    for x, y in zip(sequence, sequence[1:]):
        if x != y:
            pairs[(x, y)] = pairs.get((x, y), 0) + 1

    def fit(roles: dict[str, str]) -> float:
        ev = sum((scores[lb] - center) * (1 if roles[lb] == "agent" else -1) for lb in labels)
        turns = sum(n * (1 if roles[x] != roles[y] else -1) for (x, y), n in pairs.items())
        return ev + TURN_TAKING_WEIGHT * turns

    def ranked(roles: dict[str, str]) -> tuple[float, int]:
        # a tie goes to the assignment whose agent speaks earliest (the agent answers the call)
        return fit(roles), -min(labels.index(lb) for lb in labels if roles[lb] == "agent")

    candidates: list[dict[str, str]] = []
    if len(unknown) <= MAX_JOINT_SPEAKERS:
        for bits in range(2 ** len(unknown)):
            roles = {**known, **{lb: "agent" if bits >> k & 1 else "customer" for k, lb in enumerate(unknown)}}
            if len(set(roles.values())) == 2:
                candidates.append(roles)
    else:
        # too many to try all: start from the evidence alone and flip one label at a time while it helps
        roles = {**known, **{lb: "agent" if scores[lb] > center else "customer" for lb in unknown}}
        improved = True
        while improved:
            improved = False
            for lb in unknown:
                other = {**roles, lb: "customer" if roles[lb] == "agent" else "agent"}
                if len(set(other.values())) == 2 and (len(set(roles.values())) < 2 or ranked(other) > ranked(roles)):
                    roles, improved = other, True
        candidates = [roles] + [{**roles, lb: "customer" if roles[lb] == "agent" else "agent"} for lb in unknown]
        candidates = [c for c in candidates if len(set(c.values())) == 2]
    results = sorted(((ranked(r), r) for r in candidates), key=lambda x: x[0], reverse=True)
    (best_fit, _), best = results[0]
    margins = {}
    for lb in unknown:
        flipped = [f for (f, _), r in results if r[lb] != best[lb]]
        # half the fit lost by flipping it: the evidence difference between the two sides, as for two speakers
        margins[lb] = (best_fit - max(flipped)) / 2 if flipped else 3.0
    return best, margins


def decide_roles(sequence: list[str], texts: dict[str, list[str]], language: str | None,
                 given: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    """Role of each speaker label of one call.

    `sequence`: the label of every turn in time order; `texts`: label -> its turns' texts;
    `given`: `parse_roles_option` output, which wins over everything. Then a role word in the label
    decides (rules/import_roles.json). One label left opposite one known side takes the other side.
    Otherwise the labels left (names, "Speaker 1", "spk_0") are decided together (`_joint_roles`)
    from nlp.roles' agent evidence (greeting with the company, agent vs customer phrases, speaking
    first) and turn-taking (neighbouring turns of two speakers are usually of two sides), so a
    trainer who joins, a second agent or a second customer gets a side too. Any number of speakers
    is fine; both sides are always present.
    Returns ({label: 'agent'|'customer'}, provenance for `source.roles`: method, confidence in [0, 1]
    (<= 0.8 when inferred), labels, and per speaker how it was decided). Raises InputFormatError
    for a single speaker with no role.
    """
    labels = list(dict.fromkeys(sequence))
    if not labels:
        raise InputFormatError("no turns with text")
    roles: dict[str, str] = {}
    how: dict[str, dict[str, Any]] = {}
    keys = _given_keys(labels, given or {})
    for lb in labels:
        if lb in keys:
            roles[lb] = (given or {})[keys[lb]]
            how[lb] = {"by": "given"}
        elif (r := role_of(lb)):
            roles[lb] = r
            how[lb] = {"by": "label"}
    unknown = [lb for lb in labels if lb not in roles]
    known_roles = set(roles.values())
    prov: dict[str, Any]
    if not unknown:
        bys = {h["by"] for h in how.values()}
        prov = {"method": "given" if bys == {"given"} else "labels", "confidence": 1.0}
    elif len(labels) == 1:
        raise InputFormatError(f"only one speaker ({labels[0]!r}) and no role",
                               hint="each side needs its own speaker label or channel: prefix text lines with "
                               "roles ('Менеджер:' / 'Клиент:', 'Agent:' / 'Customer:'), recognise stereo "
                               "calls per channel, or name the role with --roles")
    else:
        scores = _evidence(labels, texts, sequence[0], language)
        if len(unknown) == 1 and len(known_roles) == 1:
            other = "customer" if "agent" in known_roles else "agent"
            roles[unknown[0]] = other
            how[unknown[0]] = {"by": "other-side", "confidence": 0.9}
            prov = {"method": "other-side", "confidence": 0.9}
        else:
            best, margins = _joint_roles(labels, unknown, roles, scores, sequence)
            for lb in unknown:
                roles[lb] = best[lb]
                how[lb] = {"by": "evidence", "score": round(scores[lb], 2), "confidence": _sure(margins[lb])}
            confs = [h["confidence"] for lb, h in how.items() if h["by"] == "evidence"]
            prov = {"method": "text-evidence", "confidence": min(confs) if confs else 0.8}
    prov["labels"] = {lb: roles[lb] for lb in labels}
    if len(labels) > 2 or any(h["by"] == "evidence" for h in how.values()):
        prov["speakers"] = {lb: {"role": roles[lb], **how.get(lb, {"by": "label"})} for lb in labels}
    if keys:
        prov["given"] = sorted(set(keys.values()))
    return roles, prov


# ---- timestamps ---------------------------------------------------------------------------
def parse_timestamp(ts: str | None) -> float | None:
    """Seconds of 'm:ss', 'mm:ss', 'h:mm:ss' with optional ',fff' / '.fff'; None when it is not one."""
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


def _seconds(v: Any, scale: float = 1.0) -> float | None:
    """A JSON time: a number (times `scale`), '12.5', '0.879999999s' (protobuf Duration) or
    {'seconds': .., 'nanos': ..}; None when absent or not a time."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        try:
            x = float(v) * scale
        except OverflowError:  # a JSON integer of hundreds of digits
            return None
        return x if math.isfinite(x) else None
    if isinstance(v, dict):
        try:
            x = float(v.get("seconds", 0)) + float(v.get("nanos", 0)) / 1e9
        except (TypeError, ValueError, OverflowError):
            return None
        return x if math.isfinite(x) else None
    if isinstance(v, str):
        s = v.strip().rstrip("s")
        try:
            x = float(s)
        except ValueError:
            return parse_timestamp(v)
        x *= scale
        return x if math.isfinite(x) else None
    return None


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
        raise InputFormatError("binary data, not a text transcript",
                               hint="give call JSON, .txt, .srt, .vtt, .docx or a speech service's JSON")
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


def _read_docx(path: Path) -> str:
    """The paragraphs of a Word transcript (Teams and Google Meet downloads), one a line."""
    try:
        import docx
    except ImportError:
        raise InputFormatError("reading DOCX transcripts needs python-docx",
                               hint="pip install python-docx, or save the transcript as .txt") from None
    try:
        doc = docx.Document(str(path))
    except Exception as e:  # python-docx raises zipfile/KeyError/ValueError on broken files
        raise InputFormatError(f"cannot open DOCX: {e}", hint="check the file opens in Word") from None
    return "\n".join(p.text for p in doc.paragraphs)


def _json_values(text: str) -> Any:
    """One JSON value, or a list of the values of a JSON-lines / concatenated-JSON file (as Yandex
    SpeechKit v3 getRecognition streams its results)."""
    try:
        return _json_values_unguarded(text)
    except RecursionError:  # json's C decoder recurses once per level of nesting
        raise InputFormatError("JSON nested too deeply to be a transcript",
                               hint="give the JSON a speech service or `callbridge export` wrote") from None
    except ValueError as e:  # a number of more than 4300 digits (Python's int conversion limit)
        raise InputFormatError(f"unreadable JSON value: {str(e)[:80]}") from None


def _json_values_unguarded(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as first_error:
        dec = json.JSONDecoder()
        values, i, n = [], 0, len(text)
        while True:
            while i < n and text[i] in " \t\r\n\ufeff":
                i += 1
            if i >= n:
                break
            try:
                value, i = dec.raw_decode(text, i)
            except json.JSONDecodeError:
                e = first_error if not values else json.JSONDecodeError("invalid JSON value", text, i)
                raise InputFormatError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
            values.append(value)
        if len(values) < 2:
            e = first_error
            raise InputFormatError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        return values


def _calls_from_json(path: Path, data: Any, given: dict[str, str] | None = None) -> list[Call]:
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
                d["turns"] = [_map_json_speaker(t, given) for t in d["turns"]]
        call = call_from_dict(d, None if many else str(path))
        if many:
            call.call_id = str(d["call_id"])
        calls.append(call)
    return calls


def _map_json_speaker(t: Any, given: dict[str, str] | None = None) -> Any:
    if isinstance(t, dict) and isinstance(t.get("speaker"), str):
        sp = t["speaker"].strip().lower()
        if sp not in SPEAKERS:
            role = (given or {}).get(_fold(t["speaker"])) or role_of(t["speaker"])
            if role:
                t = {**t, "speaker": role}
    return t


# ---- speech services' JSON ----------------------------------------------------------------
FORMAT_NAMES = {
    "json": "call JSON", "text": "dialogue text", "srt": "SRT subtitles", "vtt": "WebVTT subtitles",
    "otter": "speaker-and-time text (Otter, Teams)", "zoom-txt": "Zoom transcript text",
    "amazon-transcribe": "Amazon Transcribe JSON", "amazon-call-analytics": "Amazon Transcribe Call Analytics JSON",
    "whisper": "Whisper JSON", "whisperx": "WhisperX JSON", "whisper-cpp": "whisper.cpp JSON",
    "yandex-v2": "Yandex SpeechKit v2 JSON", "yandex-v3": "Yandex SpeechKit v3 JSON",
}
# Words of one speaker further apart than this start a new phrase; phrases of all speakers are
# then ordered by start, so a short "угу" over a long turn splits it instead of vanishing into it.
PHRASE_GAP_S = 1.0
_V3_KEYS = ("final", "finalRefinement", "partial", "eouUpdate", "audioCursors", "statusCode", "result")


@dataclass
class _RawTurn:
    label: str | None
    text: str
    start: float | None = None
    end: float | None = None


def _json_kind(data: Any) -> str | None:
    """Which tool wrote this JSON, by its keys; None when no known shape matches."""
    if isinstance(data, list):
        dicts = [d for d in data if isinstance(d, dict)]
        if dicts and any(any(k in d for k in _V3_KEYS) for d in dicts):
            return "yandex-v3"
        return "json"
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("turns"), list):
        return "json"
    if isinstance(data.get("Transcript"), list):
        return "amazon-call-analytics"
    res = data.get("results")
    if isinstance(res, dict) and any(k in res for k in ("transcripts", "items", "channel_labels", "speaker_labels",
                                                           "audio_segments")):
        return "amazon-transcribe"
    if "jobName" in data or "TranscriptionJobName" in data:
        return "amazon-transcribe"
    if isinstance(data.get("transcription"), list):
        return "whisper-cpp"
    if isinstance(data.get("segments"), list):
        segs = [s for s in data["segments"] if isinstance(s, dict)]
        diarized = any(s.get("speaker") is not None for s in segs) or any(
            isinstance(w, dict) and w.get("speaker") is not None for s in segs for w in _list(s.get("words")))
        return "whisperx" if diarized or "word_segments" in data else "whisper"
    resp = data.get("response") if isinstance(data.get("response"), dict) else data
    if isinstance(resp.get("chunks"), list):
        return "yandex-v2"
    if any(k in data for k in _V3_KEYS):
        return "yandex-v3"
    if "done" in data and ("createdAt" in data or "modifiedAt" in data):
        return "yandex-v2"  # an Operation object: the recognition is not finished or failed
    if "turns" in data or "call_id" in data:
        return "json"
    return None


def _join_words(words: list[str]) -> str:
    return re.sub(r"\s+([,.!?;:…])", r"\1", " ".join(w.strip() for w in words if w and w.strip())).strip()


_Word = tuple[str, float | None, float | None, str]  # (speaker label, start, end, word)


def _phrases(words: list[_Word]) -> list[_RawTurn]:
    """(label, start, end, word) -> phrases: one speaker's words, split at pauses of PHRASE_GAP_S."""
    by_label: dict[str, list[_Word]] = {}
    for w in words:
        by_label.setdefault(w[0], []).append(w)
    out: list[_RawTurn] = []
    for label, ws in by_label.items():
        cur: list[_Word] = []
        for w in ws:
            if cur and w[1] is not None and cur[-1][2] is not None and w[1] - cur[-1][2] >= PHRASE_GAP_S:
                out.append(_RawTurn(label, _join_words([x[3] for x in cur]), cur[0][1], cur[-1][2]))
                cur = []
            cur.append(w)
        if cur:
            out.append(_RawTurn(label, _join_words([x[3] for x in cur]), cur[0][1], cur[-1][2]))
    return out


def _in_time_order(pieces: list[_RawTurn]) -> list[_RawTurn]:
    """Pieces sorted by start (untimed ones keep their place after the previous), consecutive
    pieces of one speaker joined into one turn."""
    keyed, last = [], 0.0
    for i, p in enumerate(pieces):
        if p.start is not None:
            last = p.start
        keyed.append((last, i, p))
    turns: list[_RawTurn] = []
    for _, _, p in sorted(keyed, key=lambda x: (x[0], x[1])):
        if not p.text.strip():
            continue
        if turns and turns[-1].label == p.label:
            turns[-1].text = f"{turns[-1].text} {p.text}".strip()
            if p.end is not None:
                turns[-1].end = p.end if turns[-1].end is None else max(turns[-1].end, p.end)
        else:
            turns.append(_RawTurn(p.label, p.text.strip(), p.start, p.end))
    return turns


def _list(v: Any) -> list:
    """`v` when it is a JSON array, else []: a field of the wrong type is skipped like a missing one."""
    return v if isinstance(v, list) else []


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _amazon(data: dict) -> list[_RawTurn]:
    status = data.get("status") or data.get("TranscriptionJobStatus")
    res = data.get("results")
    if not isinstance(res, dict):
        if status and str(status).upper() != "COMPLETED":
            raise InputFormatError(f"the job's status is {status!r}, so it has no results",
                                   hint="download the transcript once the job is COMPLETED")
        raise InputFormatError("no 'results' object", hint="give the JSON that the job wrote to its output bucket")
    segs = res.get("audio_segments")
    if isinstance(segs, list) and any(isinstance(s, dict) and (s.get("speaker_label") or s.get("channel_label"))
                                      for s in segs):
        # the service's own phrases, each with its speaker or channel
        pieces = [_RawTurn(str(s.get("speaker_label") or s.get("channel_label")), str(s.get("transcript") or ""),
                           _seconds(s.get("start_time")), _seconds(s.get("end_time")))
                  for s in segs if isinstance(s, dict) and (s.get("speaker_label") or s.get("channel_label"))]
        return _in_time_order(pieces)
    items = [it for it in _list(res.get("items")) if isinstance(it, dict)]
    chans = (res.get("channel_labels") or {}).get("channels") if isinstance(res.get("channel_labels"), dict) else None
    spk = res.get("speaker_labels") if isinstance(res.get("speaker_labels"), dict) else None
    if any(it.get("channel_label") or it.get("speaker_label") for it in items):
        words = _amazon_words(items, lambda it: it.get("channel_label") or it.get("speaker_label"))
    elif isinstance(chans, list) and chans:
        words = []
        for n, ch in enumerate(chans):
            if isinstance(ch, dict):
                lb = str(ch.get("channel_label") or f"ch_{n}")
                words += _amazon_words([it for it in _list(ch.get("items")) if isinstance(it, dict)],
                                       lambda it, lb=lb: lb)
    elif spk and isinstance(spk.get("segments"), list):
        at: dict[str, str] = {}
        spans: list[tuple[float, float, str]] = []
        for seg in spk["segments"]:
            if not isinstance(seg, dict) or not seg.get("speaker_label"):
                continue
            lb = str(seg["speaker_label"])
            s0, s1 = _seconds(seg.get("start_time")), _seconds(seg.get("end_time"))
            if s0 is not None and s1 is not None:
                spans.append((s0, s1, lb))
            for it in _list(seg.get("items")):
                if isinstance(it, dict) and it.get("start_time") is not None:
                    at[str(it["start_time"])] = lb

        def speaker_of(it: dict) -> str | None:
            t = it.get("start_time")
            if t is None:
                return None
            if str(t) in at:
                return at[str(t)]
            x = _seconds(t)
            return next((lb for s0, s1, lb in spans if x is not None and s0 <= x <= s1), None)

        words = _amazon_words(items, speaker_of)
    else:
        if not items:
            raise InputFormatError("no recognised words (results.items is empty)",
                                   hint="check the job's audio and language settings")
        raise InputFormatError("no speaker or channel labels, so agent and customer cannot be told apart",
                               hint="rerun the job with ChannelIdentification=true (stereo calls) or "
                               "ShowSpeakerLabels=true with MaxSpeakerLabels=2, or import a transcript with "
                               "role prefixes")
    if not words:
        raise InputFormatError("no recognised words with a speaker or channel label in the results")
    return _in_time_order(_phrases(words))


def _amazon_words(items: list[dict], label_of: Callable[[dict], Any]) -> list[_Word]:
    words: list[list[Any]] = []
    for it in items:
        alts = _list(it.get("alternatives"))
        content = str(alts[0].get("content", "")) if alts and isinstance(alts[0], dict) else ""
        if not content:
            continue
        if it.get("type") == "punctuation":
            if words:
                words[-1][3] += content  # "Марина" + "." belong together
            continue
        lb = label_of(it)
        if lb is None:
            if not words:
                continue
            lb = words[-1][0]  # an unlabelled word stays with the speaker before it
        words.append([str(lb), _seconds(it.get("start_time")), _seconds(it.get("end_time")), content])
    return [tuple(w) for w in words]  # type: ignore[misc]


def _amazon_call_analytics(data: dict) -> list[_RawTurn]:
    pieces = []
    for seg in data["Transcript"]:
        if not isinstance(seg, dict):
            continue
        role = seg.get("ParticipantRole")
        if not role:
            raise InputFormatError("a Transcript entry has no ParticipantRole")
        pieces.append(_RawTurn(str(role), str(seg.get("Content") or ""), _seconds(seg.get("BeginOffsetMillis"), 0.001),
                               _seconds(seg.get("EndOffsetMillis"), 0.001)))
    return _in_time_order(pieces)


def _spk(d: dict) -> str | None:
    """A segment's or word's speaker as text; 0 is a speaker too."""
    v = d.get("speaker")
    return None if v is None or str(v).strip() == "" else str(v).strip()


def _whisper(data: dict) -> list[_RawTurn]:
    pieces: list[_RawTurn] = []
    for s in data["segments"]:
        if not isinstance(s, dict):
            continue
        start, end = _seconds(s.get("start")), _seconds(s.get("end"))
        words = [w for w in _list(s.get("words")) if isinstance(w, dict)]
        speakers = {_spk(w) for w in words if _spk(w) is not None}
        if len(speakers) > 1:
            # diarization changed speaker inside the segment: follow the words
            cur = _spk(s)
            run: list[dict] = []
            for w in words + [{"speaker": "\x00end"}]:
                sp = _spk(w) if _spk(w) is not None else cur
                if run and sp != cur:
                    pieces.append(_RawTurn(str(cur), _join_words([str(x.get("word", "")) for x in run]),
                                           _seconds(run[0].get("start")), _seconds(run[-1].get("end"))))
                    run = []
                cur = sp
                run.append(w)
            continue
        sp = _spk(s) if _spk(s) is not None else (next(iter(speakers)) if speakers else None)
        pieces.append(_RawTurn(sp, str(s.get("text") or "").strip(), start, end))
    if not pieces:
        raise InputFormatError("no segments with text")
    if all(p.label is None for p in pieces):
        # some tools write the speaker into the text: "SPEAKER_00: ...", "Agent: ..."
        parsed = [_parse_line_label(p.text) for p in pieces]
        if sum(1 for lb, *_ in parsed if lb and _plausible_label(lb)) >= 0.8 * len(pieces):
            for p, (lb, _s, _e, body) in zip(pieces, parsed):
                if lb and _plausible_label(lb):
                    p.label, p.text = lb, body
        else:
            raise InputFormatError(f"{len(pieces)} segments with times but no speaker labels (Whisper does not tell "
                                   "speakers apart)",
                                   hint="diarize with WhisperX (segments get \"speaker\"), or transcribe the "
                                   "recording with `callbridge transcribe`, which uses the stereo channels")
    for i, p in enumerate(pieces):
        if p.label is None:  # a segment diarization left unassigned continues the speaker before it
            p.label = next((q.label for q in reversed(pieces[:i]) if q.label),
                           next((q.label for q in pieces[i + 1:] if q.label), None))
    return _in_time_order(pieces)


def _whisper_cpp(data: dict) -> list[_RawTurn]:
    segs = []
    for s in data["transcription"]:
        if isinstance(s, dict):
            off = s.get("offsets") if isinstance(s.get("offsets"), dict) else {}
            segs.append({"start": _seconds(off.get("from"), 0.001), "end": _seconds(off.get("to"), 0.001),
                         "text": s.get("text", ""), "speaker": s.get("speaker")})
    return _whisper({"segments": segs})


def _alt_text(alt: dict) -> tuple[str, float | None, float | None]:
    words = [w for w in _list(alt.get("words")) if isinstance(w, dict)]
    text = str(alt.get("text") or "") or _join_words([str(w.get("text") or w.get("word") or "") for w in words])
    start = _seconds(alt.get("startTimeMs"), 0.001)
    end = _seconds(alt.get("endTimeMs"), 0.001)
    if words:
        w0, w1 = words[0], words[-1]
        if start is None:
            start = _seconds(w0.get("startTimeMs"), 0.001) if "startTimeMs" in w0 else _seconds(w0.get("startTime"))
        if end is None:
            end = _seconds(w1.get("endTimeMs"), 0.001) if "endTimeMs" in w1 else _seconds(w1.get("endTime"))
    return text.strip(), start, end


def _yandex_v2(data: dict) -> list[_RawTurn]:
    resp = data.get("response") if isinstance(data.get("response"), dict) else data
    chunks = resp.get("chunks")
    if not isinstance(chunks, list):
        err = data.get("error")
        if isinstance(err, dict):
            raise InputFormatError(f"the recognition failed: {err.get('message') or err}")
        if data.get("done") is False:
            raise InputFormatError("the recognition is not finished (\"done\": false), so there are no results yet",
                                   hint="fetch the operation again once \"done\" is true")
        raise InputFormatError("no 'chunks' in the response")
    pieces = []
    for ch in chunks:
        if not isinstance(ch, dict) or not _list(ch.get("alternatives")):
            continue
        alt = ch["alternatives"][0]
        if not isinstance(alt, dict):
            continue
        text, start, end = _alt_text(alt)
        pieces.append(_RawTurn(f"channel {ch.get('channelTag', '1')}", text, start, end))
    if not pieces:
        raise InputFormatError("no recognised text in the chunks")
    return _in_time_order(pieces)


def _yandex_v3(data: Any) -> list[_RawTurn]:
    msgs = data if isinstance(data, list) else [data]
    finals: dict[tuple[str, str], _RawTurn] = {}
    last: dict[str, tuple[str, str]] = {}
    refined: list[tuple[tuple[str, str] | None, str, _RawTurn]] = []
    partial = 0
    for k, m in enumerate(msgs):
        if not isinstance(m, dict):
            continue
        m = m.get("result", m) if isinstance(m.get("result"), dict) else m
        ch = str(m.get("channelTag") or "0")
        if isinstance(m.get("final"), dict):
            fin = m["final"]
            alts = [a for a in _list(fin.get("alternatives")) if isinstance(a, dict)]
            if not alts:
                continue
            ch = str(fin.get("channelTag") or ch)
            idx = str(_dict(m.get("audioCursors")).get("finalIndex", f"#{k}"))
            text, start, end = _alt_text(alts[0])
            finals[(ch, idx)] = _RawTurn(f"channel {ch}", text, start, end)
            last[ch] = (ch, idx)
        elif isinstance(m.get("finalRefinement"), dict):
            fr = m["finalRefinement"]
            nt = fr.get("normalizedText") if isinstance(fr.get("normalizedText"), dict) else {}
            alts = [a for a in _list(nt.get("alternatives")) if isinstance(a, dict)]
            if not alts:
                continue
            ch = str(nt.get("channelTag") or ch)
            key = (ch, str(fr["finalIndex"])) if fr.get("finalIndex") is not None else last.get(ch)
            text, start, end = _alt_text(alts[0])
            refined.append((key, ch, _RawTurn(f"channel {ch}", text, start, end)))
        elif "partial" in m:
            partial += 1
    for key, ch, r in refined:
        # the normalised text (punctuation, digits) replaces the raw final it refines
        if key is not None and key in finals:
            f = finals[key]
            f.text = r.text or f.text
            f.start = f.start if f.start is not None else r.start
            f.end = f.end if f.end is not None else r.end
        else:
            finals[(ch, f"r{len(finals)}")] = r
    if not finals:
        if partial:
            raise InputFormatError(f"only {partial} partial results and no final ones",
                                   hint="save every message of getRecognition, including 'final' / "
                                   "'finalRefinement'")
        raise InputFormatError("no 'final' or 'finalRefinement' results")
    return _in_time_order(list(finals.values()))


_JSON_PARSERS: dict[str, Callable[[Any], list[_RawTurn]]] = {
    "amazon-transcribe": _amazon, "amazon-call-analytics": _amazon_call_analytics, "whisper": _whisper,
    "whisperx": _whisper, "whisper-cpp": _whisper_cpp, "yandex-v2": _yandex_v2, "yandex-v3": _yandex_v3,
}


# ---- text ---------------------------------------------------------------------------------
# "Марина Кузнецова  0:06" (Otter; Teams and Meet .docx downloads) and "[Марина] 10:15:32" (Zoom)
_HEAD_NAME_TIME = re.compile(rf"^\s*(?P<label>[^\W\d_][^:\[\]<>{{}}]{{0,59}}?)\s+(?P<ts>{_TS})\s*$")
_HEAD_BRACKET_TIME = re.compile(rf"^\s*\[(?P<label>[^\]]{{1,60}})\]\s+(?P<ts>{_TS})\s*$")
_ONLY_TS = re.compile(rf"^\s*[\[(]?\s*({_TS})\s*[\])]?\s*$")


def _head(line: str) -> tuple[str, str, str] | None:
    """(label, time, kind) of a speaker-and-time line, else None."""
    for rx, kind in ((_HEAD_BRACKET_TIME, "zoom-txt"), (_HEAD_NAME_TIME, "otter")):
        m = rx.match(line)
        if m and _plausible_label(m.group("label")) and not _sentence_start(m.group("label")):
            return m.group("label").strip(), m.group("ts"), kind
    return None


def _sentence_start(label: str) -> bool:
    """True for a 'label' that is really the start of a sentence ("Перезвоню в" before "10:30")."""
    return bool(re.search(r"\s(?:в|во|к|на|до|после|с|at|by|to|till|until|from|around|about)$", label.strip(), re.I))


def _boilerplate(line: str) -> bool:
    return any(rx.search(line) for rx in _role_rules()["_boilerplate"])


def parse_blocks(text: str, given: dict[str, str] | None = None) -> tuple[list[Turn], dict[str, Any], str] | None:
    """Turns of a transcript whose turns start with a speaker-and-time line and continue on the
    lines below it (Otter, Teams/Meet downloads, Zoom's saved transcript):

        Марина Кузнецова  0:06            [Марина Кузнецова] 10:15:32
        Здравствуйте, ...                 Здравствуйте, ...

    Returns (turns, role provenance, 'otter' | 'zoom-txt'), or None when the text is not laid out so.
    Times of day (Zoom) become seconds from the first turn.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = {i: h for i, ln in enumerate(lines) if ln.strip() and (h := _head(ln))}

    def laid_out(heads: dict[int, tuple[str, str, str]]) -> bool:
        followed = sum(1 for i in heads if i + 1 < len(lines) and lines[i + 1].strip() and (i + 1) not in heads)
        return len(heads) >= 2 and followed >= 0.8 * len(heads)

    # Where blocks are set apart by blank lines (Otter), a line inside a block that merely ends
    # in a time ("Встреча 10:30") is text, not a speaker.
    after_blank = {i: h for i, h in found.items() if i == 0 or not lines[i - 1].strip()}
    heads = after_blank if laid_out(after_blank) else found
    if not laid_out(heads):
        return None
    prefixed = sum(1 for i, ln in enumerate(lines) if i not in heads and ln.strip()
                   and (lb := _parse_line_label(ln)[0]) and _plausible_label(lb))
    if prefixed >= len(heads):
        return None
    raw: list[_RawTurn] = []
    skipped = 0
    for i, ln in enumerate(lines):
        if i in heads:
            label, ts, _k = heads[i]
            raw.append(_RawTurn(label, "", parse_timestamp(ts)))
        elif ln.strip():
            if not raw or _boilerplate(ln):
                skipped += 1  # a title or date line before the first turn, an export notice
                continue
            raw[-1].text = f"{raw[-1].text} {ln.strip()}".strip()
    kind = "zoom-txt" if sum(1 for h in heads.values() if h[2] == "zoom-txt") > len(heads) / 2 else "otter"
    starts = [t.start for t in raw if t.start is not None]
    offset = 0.0
    if starts and starts[0] >= 3600:
        offset = starts[0]  # a time of day, not an offset into the call
    prev = None
    for t in raw:
        if t.start is not None:
            t.start -= offset
            if prev is not None and t.start < prev - 1800:
                t.start += 86400  # past midnight
            prev = t.start
    raw = _merge_same_speaker([t for t in raw if t.text])
    if not raw:
        raise InputFormatError("speaker lines but no text under them")
    turns, prov = _assign_roles(raw, _lang_of(raw), given)
    if skipped:
        prov["skipped_lines"] = skipped
    if offset:
        prov["clock_start"] = round(offset, 3)
    return turns, prov, kind


def _merge_same_speaker(raw: list[_RawTurn]) -> list[_RawTurn]:
    out: list[_RawTurn] = []
    for t in raw:
        if out and out[-1].label == t.label:
            out[-1].text = f"{out[-1].text} {t.text}".strip()
            out[-1].end = t.end if t.end is not None else out[-1].end
        else:
            out.append(t)
    return out


def _lang_of(raw: list[_RawTurn]) -> str:
    from .language import detect_language

    return detect_language(" ".join(t.text for t in raw[:20]))


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


def _assign_roles(raw: list[_RawTurn], language_hint: str | None,
                  given: dict[str, str] | None = None) -> tuple[list[Turn], dict[str, Any]]:
    raw = [t for t in raw if t.text and t.text.strip()]
    if not raw:
        raise InputFormatError("no turns with text")
    sequence = [str(t.label) for t in raw]
    texts: dict[str, list[str]] = {}
    for t in raw:
        texts.setdefault(str(t.label), []).append(t.text)
    roles, provenance = decide_roles(sequence, texts, language_hint, given)
    turns = [Turn(roles[str(t.label)], t.text.strip(), t.start, t.end) for t in raw]
    return turns, provenance


def _name_like(label: str) -> bool:
    """'Анна', 'Mary Ann Smith', 'Speaker 3', 'SPEAKER_01': how people and diarizers name speakers."""
    words = label.split()
    return bool(words) and len(words) <= 3 and (
        all(w[:1].isupper() for w in words if w[:1].isalpha())
        or bool(re.match(r"(?i)^(speaker|спикер)[\s_]*\d+$", label)))


def parse_dialogue(text: str, given: dict[str, str] | None = None) -> tuple[list[Turn], dict[str, Any]]:
    """Turns of a plain-text dialogue with role prefixes (see the module doc).

    A line holding only a time ("00:05:00", as Google Meet writes every few minutes) times the next
    turn; export notices ("Transcription ended after ...") and up to `MAX_HEADER_LINES` title lines
    before the first turn are skipped and counted in the provenance's `skipped_lines`.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    parsed = [(_parse_line_label(ln) if ln.strip() and not _ONLY_TS.match(ln) else None) for ln in lines]
    counts: dict[str, int] = {}
    for p in parsed:
        if p and p[0] and _plausible_label(p[0]):
            counts[p[0]] = counts.get(p[0], 0) + 1
    keys = _given_keys(list(counts), given or {})
    n_text = sum(1 for ln in lines if ln.strip() and not _ONLY_TS.match(ln))
    consistent = n_text and sum(counts.values()) >= 0.8 * n_text
    # A speaker is a label with a role word or named in --roles, or one used at least twice; in a
    # file where (almost) every line is labelled, also a name used once (a trainer's one remark).
    speakers = {lb for lb in counts if role_of(lb) or lb in keys or counts[lb] >= 2
                or (consistent and _name_like(lb))}
    known_roles = ({role_of(lb) for lb in speakers if role_of(lb)}
                   | {(given or {})[keys[lb]] for lb in speakers if lb in keys})
    if len(known_roles) == 2:
        # both sides are named by role: another label must look like a person to be a speaker,
        # else it is text ("Итак: три окна")
        speakers = {lb for lb in speakers if role_of(lb) or lb in keys or _name_like(lb)}
    raw: list[_RawTurn] = []
    pending_start: float | None = None
    first_unlabelled: tuple[int, str] | None = None
    skipped = 0
    for n, (ln, p) in enumerate(zip(lines, parsed), 1):
        if not ln.strip():
            continue
        m = _ONLY_TS.match(ln)
        if m:
            pending_start = parse_timestamp(m.group(1))
            continue
        if _boilerplate(ln):
            skipped += 1
            continue
        label, start, end, body = p
        if label is not None and label in speakers:
            raw.append(_RawTurn(label, body, start if start is not None else pending_start, end))
            pending_start = None
        elif raw:
            # a line without a speaker prefix continues the previous turn
            raw[-1].text = f"{raw[-1].text} {ln.strip()}".strip()
        else:
            if re.match(r"^\s*(?:#|//|title:|date:|дата:|звонок)", ln, re.I):
                skipped += 1
                continue  # a header line before the dialogue starts
            if first_unlabelled is None:
                first_unlabelled = (n, ln.strip())
            skipped += 1
    if not raw or (first_unlabelled and (skipped > MAX_HEADER_LINES or len(raw) < 2)):
        if first_unlabelled:
            n, ln = first_unlabelled
            raise InputFormatError(f"line {n} has no speaker prefix: {ln[:60]!r}",
                                   hint="start each turn with a role, e.g. 'Менеджер: …' / 'Клиент: …' or "
                                   "'Agent: …' / 'Customer: …'")
        raise InputFormatError("no dialogue lines with a speaker prefix found",
                               hint="start each turn with a role, e.g. 'Менеджер: …' / 'Клиент: …' or "
                               "'Agent: …' / 'Customer: …'")
    turns, prov = _assign_roles(raw, _lang_of(raw), given)
    if skipped:
        prov["skipped_lines"] = skipped
    return turns, prov


def parse_subtitles(text: str, given: dict[str, str] | None = None) -> tuple[list[Turn], dict[str, Any]]:
    """Turns of an SRT or WebVTT file with speaker tags (see the module doc)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n\s*\n", text.strip())
    cues: list[tuple[float, float, str]] = []
    for b in blocks:
        lines = b.split("\n")
        if lines and lines[0].strip().upper().startswith("WEBVTT"):
            lines = lines[1:]
            while lines and re.match(r"^[\w-]+:", lines[0].strip()) and "-->" not in lines[0]:
                lines = lines[1:]  # header fields: "Kind: captions", "Language: ru"
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
    # "Name: text" counts as a speaker when the name is short, has a role word, is named in
    # --roles, or recurs (Zoom writes full names: "Mary Ann Smith: ...")
    counts: dict[str, int] = {}
    for _s, _e, body in cues:
        for line in body.split("\n"):
            lab = _parse_line_label(html.unescape(_TAGS.sub("", line)).strip())[0]
            if lab:
                counts[lab] = counts.get(lab, 0) + 1
    keys = _given_keys(list(counts), given or {})
    prefix_ok = {lb for lb, n in counts.items() if _plausible_label(lb)
                 and (role_of(lb) or lb in keys or len(lb.split()) <= 2 or n >= 2 or _name_like(lb))}
    raw: list[_RawTurn] = []
    any_tag = False
    for start, end, body in cues:
        parts = _cue_parts(body, prefix_ok)
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
                               hint="mark speakers with <v Agent>, 'Agent:', '[Customer]' or a '(Name)' line "
                               "at the start of a cue")
    if raw and raw[0].label == "":
        # text before the first tag belongs to the first tagged speaker
        first = next(t.label for t in raw if t.label)
        raw[0].label = first
        if len(raw) > 1 and raw[1].label == first:
            raw[1].text = f"{raw[0].text} {raw[1].text}"
            raw[1].start = raw[0].start
            raw.pop(0)
    return _assign_roles(raw, _lang_of(raw), given)


_NAME_LINE = re.compile(r"^[\[(](?P<label>[^\])]{1,40})[\])]\s*:?\s*(?P<text>.*)$")


def _cue_parts(body: str, prefix_ok: set[str] | None = None) -> list[tuple[str | None, str]]:
    """(label or None, clean text) pieces of one cue; a new piece starts at each speaker tag:
    `<v Name>`, a '(Name)' / '[Name]' line or prefix, or 'Name:' for a name in `prefix_ok`."""
    parts: list[tuple[str | None, str]] = []
    pending: str | None = None
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
        clean = re.sub(r"^[-–—]\s+", "", clean)
        if label is None:
            nm = _NAME_LINE.match(clean)
            if nm and _plausible_label(nm.group("label")) and (
                    role_of(nm.group("label")) or nm.group("label").strip()[:1].isupper()):
                label, clean = nm.group("label").strip(), nm.group("text").strip()
            elif nm and not nm.group("text").strip():
                continue  # "(смеётся)", "[музыка]": a sound, not speech
        if label is None:
            lab, _s, _e, rest = _parse_line_label(clean)
            if lab is not None and (lab in prefix_ok if prefix_ok is not None else
                                    _plausible_label(lab) and (role_of(lab) or len(lab.split()) <= 2)):
                label, clean = lab, rest
        if label is not None and not clean:
            pending = label  # a "(Name)" line: the speaker of the lines below
            continue
        if label is None and pending is not None:
            label, pending = pending, None
        if not clean:
            continue
        if label is None and parts:
            parts[-1] = (parts[-1][0], f"{parts[-1][1]} {clean}")
        else:
            parts.append((label, clean))
    return parts


def _sniff(text: str, suffix: str) -> str:
    """'json', 'subtitles' or 'text' by content; the suffix only decides for .json/.jsonl."""
    s = text.lstrip("\ufeff \t\r\n")
    if suffix in (".json", ".jsonl") or s.startswith("{"):
        return "json"
    if s.startswith("["):
        try:
            _json_values(s)
            return "json"
        except InputFormatError:
            pass  # "[Марина] 10:15:32" or "[00:05] Менеджер: ...": text
    if s[:6].upper() == "WEBVTT":
        return "subtitles"
    head = [ln for ln in s.split("\n")[:40] if ln.strip()]
    if sum(1 for ln in head if "-->" in ln) >= max(1, len(head) // 6):
        return "subtitles"
    return "text"


def _calls_from_file(path: Path, given: dict[str, str] | None = None) -> tuple[list[Call], str]:
    """The calls in one transcript file and its format (a key of FORMAT_NAMES), by content.

    Raises InputFormatError; its message starts with the detected format's name when that is not
    the call JSON or a plain dialogue."""
    suffix = path.suffix.lower()
    text = _read_docx(path) if suffix == ".docx" else _read_text(path)
    if not text.strip():
        raise InputFormatError("the file is empty")
    kind = _sniff(text, suffix)
    fmt = "json" if kind == "json" else kind
    try:
        if kind == "json":
            data = _json_values(text)
            fmt = _json_kind(data) or "unknown-json"
            if fmt == "json":
                return _calls_from_json(path, data, given), "json"
            if fmt == "unknown-json":
                keys = ", ".join(list(data)[:8]) if isinstance(data, dict) else type(data).__name__
                raise InputFormatError(f"JSON of an unknown layout (top level: {keys})",
                                       hint="callbridge reads the call format (\"turns\"), Amazon Transcribe, "
                                       "Whisper/WhisperX and Yandex SpeechKit JSON")
            try:
                raw = _JSON_PARSERS[fmt](data)
            except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
                # the keys said which tool wrote it, but a field deeper down has another shape
                raise InputFormatError(f"the JSON's layout differs from that format's ({type(e).__name__}: "
                                       f"{str(e)[:80]})", hint="give the file as the service wrote it") from None
            turns, prov = _assign_roles(raw, _lang_of(raw), given)
        elif kind == "subtitles":
            fmt = "vtt" if text.lstrip("\ufeff \t\r\n")[:6].upper() == "WEBVTT" or suffix == ".vtt" else "srt"
            turns, prov = parse_subtitles(text, given)
        else:
            blocks = parse_blocks(text, given)
            if blocks is not None:
                turns, prov, fmt = blocks
            else:
                fmt = "text"
                turns, prov = parse_dialogue(text, given)
    except InputFormatError as e:
        if fmt not in ("json", "text", "unknown-json"):
            e.message = f"{FORMAT_NAMES.get(fmt, fmt)}: {e.message}"
        raise
    return [Call(path.stem, turns, source={"roles": prov})], fmt


# ---- public -------------------------------------------------------------------------------
def is_transcript_file(path: str | os.PathLike) -> bool:
    """True for a file `import` reads by its type (json, jsonl, txt, srt, vtt, docx); hidden files excluded."""
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


def _settings_hash(given: dict[str, str] | None = None) -> str:
    rules = RULES_PATH.read_bytes()
    roles = json.dumps(sorted((given or {}).items()), ensure_ascii=False).encode()
    return hashlib.sha1(IMPORT_VERSION.encode() + rules + (roles if given else b"")).hexdigest()[:16]


def import_paths(paths: Iterable[str | os.PathLike], store, metadata: Any = None,
                 log: Callable[[str], None] | None = None, roles: dict[str, str] | str | None = None) -> ImportSummary:
    """Import transcript files (or folders of them) into `store`.

    `metadata`: a CRM table from `nlp.metadata.read_metadata`, or the path of its CSV/XLSX; rows
    are merged into the calls they match (by call_id, file name or stem).
    `roles`: speaker name -> 'agent'/'customer' overrides, as `parse_roles_option` returns or its
    "Name=agent,Name=customer" text; a name no file uses is reported in `summary.warnings`.
    """
    from .language import detect_language
    from .metadata import apply_metadata, read_metadata, row_finder
    from .store import DiskFullError

    t0 = time.time()
    log = log or (lambda m: None)
    store.lock("import")  # one writer per store: a second run is refused, not interleaved
    table = read_metadata(metadata) if isinstance(metadata, (str, os.PathLike)) else metadata
    given = parse_roles_option(roles) if isinstance(roles, str) else RolesOption(
        roles or {}, typed=getattr(roles, "typed", None))
    summary = ImportSummary()
    summary.warnings += [f"metadata: {w}" for w in getattr(table, "warnings", None) or []]
    files = expand_transcript_inputs(paths)
    find_row = row_finder(table) if table else None
    shash = _settings_hash(given)
    named: set[str] = set()
    seen_ids: dict[str, str] = {}
    used_keys: set[str] = set()
    for i, f in enumerate(files, 1):
        stem_id = store.call_id_for(f.stem)  # a recorder's "<date>_<phone>_<name>" stem gets a pseudonym
        if not f.exists():
            _fail(summary, store, f, stem_id, "no such file", log)
            continue
        try:
            sha = file_sha256(f)
            calls, fmt = _calls_from_file(f, given)
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
            named.update((call.source.get("roles") or {}).get("given") or [])
            key = find_row(original, str(f)) if find_row else None
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
            except DiskFullError:
                raise  # every later file would fail the same way: stop, the store keeps what is saved
            except (CallbridgeError, OSError, ValueError) as e:
                _fail(summary, store, f, cid, f"cannot save: {e}", log)
                continue
            summary.imported.append(ImportResult(str(f), cid, "imported", format=fmt, n_turns=len(call.turns)))
            log(f"[{i}/{len(files)}] {_shown(f, cid)}: {len(call.turns)} turns, {call.language}")
    if files:
        summary.unused_roles = [(k, given.typed.get(key, key)) for k, key in enumerate(given, 1) if key not in named]
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
