"""Read and write the call JSON format, with errors that name the file and the field."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputFormatError
from .fileutil import atomic_write_text
from .types import SPEAKERS, Call, Turn, Word

_SPEAKER_ALIASES = {"agent": "agent", "customer": "customer", "client": "customer",
                    "operator": "agent", "manager": "agent", "caller": "customer"}


def call_from_dict(d: Any, path: str | None = None) -> Call:
    """Validate a parsed call JSON object and build a `Call`."""
    where = path or "<call>"
    if not isinstance(d, dict):
        raise InputFormatError("a call must be a JSON object with 'call_id' and 'turns'", path=where,
                               hint="see the call format in README.md")
    turns_raw = d.get("turns")
    if not isinstance(turns_raw, list):
        raise InputFormatError("field 'turns' is missing or not a list", path=where,
                               hint="each call needs \"turns\": [{\"speaker\": \"agent\", \"text\": \"...\"}]")
    call_id = d.get("call_id")
    if call_id is None and path:
        call_id = Path(path).stem
    if not isinstance(call_id, (str, int)) or str(call_id).strip() == "":
        raise InputFormatError("field 'call_id' is missing or empty", path=where)
    turns: list[Turn] = []
    for i, t in enumerate(turns_raw):
        if not isinstance(t, dict):
            raise InputFormatError(f"turn {i} is not an object", path=where)
        sp = str(t.get("speaker", "")).strip().lower()
        sp = _SPEAKER_ALIASES.get(sp, sp)
        if sp not in SPEAKERS:
            raise InputFormatError(f"turn {i}: speaker {t.get('speaker')!r} is not 'agent' or 'customer'",
                                   path=where)
        text = t.get("text")
        if not isinstance(text, str):
            raise InputFormatError(f"turn {i}: 'text' is missing or not a string", path=where)
        words = None
        if isinstance(t.get("words"), list):
            words = [Word(str(w.get("word", "")), _opt_float(w.get("start", 0.0), where, i) or 0.0,
                          _opt_float(w.get("end", 0.0), where, i) or 0.0, _probability(w.get("probability")))
                     for w in t["words"] if isinstance(w, dict)]
        turns.append(Turn(sp, text, _opt_float(t.get("start"), where, i), _opt_float(t.get("end"), where, i),
                          words))
    meta = d.get("metadata") or {}
    if not isinstance(meta, dict):
        raise InputFormatError("field 'metadata' must be an object", path=where)
    source = d.get("source") or {}
    if not isinstance(source, dict):
        raise InputFormatError("field 'source' must be an object", path=where)
    lang = d.get("language")
    return Call(str(call_id), turns, str(lang) if lang else None, dict(meta), dict(source))


def _opt_float(v: Any, where: str, i: int) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        x = math.nan
    if not math.isfinite(x) or isinstance(v, bool):
        raise InputFormatError(f"turn {i}: time {str(v)[:40]!r} is not a number of seconds", path=where) from None
    return x


def _probability(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def read_call(path: str | os.PathLike) -> Call:
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputFormatError("not UTF-8 text", path=str(p), hint="save the file as UTF-8") from None
    except OSError as e:
        raise InputFormatError(f"cannot read file: {e.strerror}", path=str(p)) from None
    try:
        d = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputFormatError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", path=str(p)) from None
    return call_from_dict(d, str(p))


def iter_call_files(inputs: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Call JSON files among `inputs` (files or folders, recursive), sorted, each once."""
    seen: set[Path] = set()
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            files = sorted(x for x in p.rglob("*.json") if x.is_file())
        elif p.exists():
            files = [p]
        else:
            raise InputFormatError("no such file or folder", path=str(p))
        for f in files:
            r = f.resolve()
            if r not in seen:
                seen.add(r)
                yield f


def read_calls(inputs: Iterable[str | os.PathLike]) -> list[Call]:
    return [read_call(f) for f in iter_call_files(inputs)]


def write_call(call: Call, path: str | os.PathLike) -> None:
    atomic_write_text(path, json.dumps(call.to_dict(), ensure_ascii=False, indent=1) + "\n")
