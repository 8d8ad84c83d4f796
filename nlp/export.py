"""Export the store's calls: JSON (a list of calls in the call format, re-importable with
`callbridge import`), or one row per turn as CSV (UTF-8 with BOM, so Excel opens Cyrillic right)
or Parquet.

Text passes through PII redaction (`nlp.redact.Redactor`) unless `redact=False`: turn texts (with
the whole call as context: a number dictated over several turns goes too) and the free CRM columns
(anything beyond date, agent, lead_source, campaign, outcome, amount, which are the company's own
business data). Call ids are shown as the store keeps them (pseudonyms for ids that held personal
data); `redact=False` shows the original ids. Word timings are not exported: they repeat the text
unredacted.
Files are written to a temporary name and renamed, so a failed export leaves no half file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fileutil import atomic_path, atomic_write_text
from .errors import InputFormatError
from .types import METADATA_FIELDS, Call

FORMATS = ("json", "csv", "parquet")
TURN_COLUMNS = ["call_id", "turn", "speaker", "start", "end", "text", "language"]


@dataclass
class ExportResult:
    path: Path
    format: str
    n_calls: int
    n_turns: int
    redacted: bool


def format_for(out: str | os.PathLike, fmt: str | None) -> str:
    """The export format: given, else from the output's suffix, else json."""
    if fmt:
        f = fmt.lower().lstrip(".")
        if f not in FORMATS:
            raise InputFormatError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
        return f
    suffix = Path(out).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "json"


def _redactor(store, enabled: bool):
    from .redact import Redactor

    return Redactor(store, enabled)


def _clean_call(call: Call, red) -> Call:
    lang = call.language if call.language in ("ru", "en") else None
    for t, text in zip(call.turns, red.turns([t.text for t in call.turns], lang)):
        t.text = text
        t.words = None
    meta = {}
    for k, v in call.metadata.items():
        meta[k] = red.text(v, lang) if isinstance(v, str) and k not in METADATA_FIELDS else v
    call.metadata = meta
    call.call_id = red.call_id(call.call_id)
    return call


def turn_rows(store, redact: bool = True) -> tuple[list[dict[str, Any]], int]:
    """One dict per turn with the call's metadata as columns; and the number of calls."""
    red = _redactor(store, redact)
    rows: list[dict[str, Any]] = []
    n = 0
    for call in store.iter_calls():
        n += 1
        call = _clean_call(call, red)
        meta = {k: v for k, v in call.metadata.items() if k not in TURN_COLUMNS}
        for i, t in enumerate(call.turns):
            rows.append({"call_id": call.call_id, "turn": i, "speaker": t.speaker, "start": _r(t.start), "end": _r(t.end),
                         "text": t.text, "language": call.language, **meta})
    return rows, n


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(TURN_COLUMNS) + [f for f in METADATA_FIELDS]
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def export_store(store, out: str | os.PathLike, fmt: str | None = None, redact: bool = True) -> ExportResult:
    """Write the store's calls to `out` as json, csv or parquet (see the module doc)."""
    fmt = format_for(out, fmt)
    path = Path(out)
    if path.is_dir():
        raise InputFormatError("the export target is a folder", path=str(path),
                               hint=f"give a file name such as {path / ('calls.' + fmt)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        red = _redactor(store, redact)
        calls = [_clean_call(c, red).to_dict() for c in store.iter_calls()]
        for c in calls:
            c.pop("source", None)  # processing details and local paths are not part of the export
        atomic_write_text(path, json.dumps(calls, ensure_ascii=False, indent=1) + "\n")
        return ExportResult(path, fmt, len(calls), sum(len(c["turns"]) for c in calls), redact)
    import pandas as pd

    rows, n_calls = turn_rows(store, redact)
    df = pd.DataFrame(rows, columns=_columns(rows))
    df = df[[c for c in df.columns if c in TURN_COLUMNS or df[c].notna().any()]]  # no empty CRM columns
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            # mixed-type CRM columns (numbers in some rows, text in others) become text
            for c in df.columns:
                if df[c].dtype == object:
                    df[c] = df[c].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v)
                                      if not isinstance(v, str) else v)
            df.to_parquet(tmp, index=False)
    return ExportResult(path, fmt, n_calls, len(df), redact)
