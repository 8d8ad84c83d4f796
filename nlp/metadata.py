"""CRM metadata: read a CSV (or XLSX) of calls and join it to the stored calls.

`read_metadata(path)` returns `{key: fields}` where `key` is the row's call_id, deal id or file
name and `fields` holds the known CRM fields in canonical form (`date` ISO, `outcome` one of won/
lost/pending, `amount` a number, `agent`/`lead_source`/`campaign` strings) plus every other column
as it was written. Column names and outcome words are data (`rules/metadata.json`): Russian and
English CRM exports (amoCRM/Kommo, Bitrix24, HubSpot, Salesforce, ...) use many spellings.

The file is read before any work starts. A file whose structure is wrong (no key column, not a
table, undecodable, most rows longer than the header) stops the run with InputFormatError. A bad
value in a row never does: a stage that is not a won/lost one (a pipeline's own stage) reads as
pending, a date or amount that cannot be read is left out, a row with no key or a repeated key is
skipped; each kind of problem becomes one line in the table's `warnings`, with its rows.

`apply_metadata(store, table)` merges each row into the call whose call_id, source file name or
file stem equals the key (case-insensitive as a fallback); a numeric key of 5+ digits (a CRM deal
id) also matches a file stem holding it as a separate number ("18345601_2.mp3").
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from .errors import InputFormatError
from .types import METADATA_FIELDS, OUTCOMES

RULES_PATH = Path(__file__).with_name("rules") / "metadata.json"
MAX_WARNINGS = 20          # kinds of problems listed; the rest are counted
MAX_ROWS_LISTED = 8
_SPACES = re.compile(r"[\W_]+")
# Bitrix24 stage ids carry the pipeline: "C3:WON", "C3:LOSE"
_PIPELINE_PREFIX = re.compile(r"^\s*C\d+:", re.I)
# Excel stores dates as days since 1899-12-30; 20000..80000 is 1954..2119
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:[.,]\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_DEAL_ID = re.compile(r"\d{5,}")


class MetadataTable(dict):
    """`{key: fields}` as `read_metadata` returns it, plus `warnings`: one line per kind of problem
    found in the rows (which rows, what was done instead)."""

    def __init__(self, *args: Any, warnings: list[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = list(warnings or [])


@lru_cache(maxsize=1)
def _rules() -> dict[str, Any]:
    d = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    outcomes = {}
    for outcome, words in d["outcomes"].items():
        for w in words:
            outcomes[_norm_word(w)] = outcome
    d["_outcomes"] = outcomes
    return d


def _norm_word(s: str) -> str:
    return _SPACES.sub(" ", _PIPELINE_PREFIX.sub("", str(s)).strip().lower().replace("ё", "е")).strip()


def _norm_header(s: str) -> str:
    return " ".join(str(s).replace("\ufeff", "").strip().lower().replace("ё", "е").split())


def _bare_header(s: str) -> str:
    """A header without its unit: 'Бюджет, руб.' / 'Сумма (₽)' / 'Amount (USD)' -> the name alone."""
    # the bracket's body excludes openers too, so a header of many '(' is read in linear time
    h = re.sub(r"\s*[(\[][^()\[\]]*[)\]]\s*", " ", _norm_header(s))
    return h.split(",")[0].strip()


# ---- reading ------------------------------------------------------------------------------
def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputFormatError(f"cannot read metadata file: {e.strerror}", path=str(path)) from None
    if not raw.strip():
        raise InputFormatError("the metadata file is empty", path=str(path),
                               hint="the first row must name the columns, e.g. call_id,date,agent,outcome")
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFormatError("not a text CSV file (binary data)", path=str(path),
                               hint="save the table as CSV (UTF-8) or XLSX")
    text = None
    for enc in ("utf-8-sig", "utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "cp1251"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise InputFormatError("cannot decode the metadata file", path=str(path), hint="save it as UTF-8")
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delim = dialect.delimiter
    except csv.Error:
        # Excel in Russian locales writes ';'
        first = sample.splitlines()[0] if sample else ""
        delim = max(",;\t", key=first.count)
    try:
        # newline="" lets the csv module see a lone \r as a line end, as it expects
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if any(c.strip() for c in r)]
    except csv.Error as e:  # an unterminated quote, a field over csv's size limit
        raise InputFormatError(f"not a readable CSV table: {e}", path=str(path),
                               hint="save the table as CSV (UTF-8) or XLSX from the CRM or a spreadsheet") from None
    if not rows:
        raise InputFormatError("the metadata file has no rows", path=str(path))
    return rows[0], rows[1:]


def _read_xlsx(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a damaged or non-XLSX file
        raise InputFormatError(f"cannot open the workbook: {e}", path=str(path),
                               hint="save the table as XLSX or CSV") from None
    ws = wb.worksheets[0]
    rows = []
    for r in ws.iter_rows(values_only=True):
        cells = ["" if c is None else _cell_text(c) for c in r]
        if any(c.strip() for c in cells):
            rows.append(cells)
    wb.close()
    if not rows:
        raise InputFormatError("the first sheet of the workbook is empty", path=str(path))
    return rows[0], rows[1:]


def _cell_text(c: Any) -> str:
    if isinstance(c, datetime):
        # Excel stores dates as datetimes at midnight
        return c.date().isoformat() if (c.hour, c.minute, c.second) == (0, 0, 0) else c.isoformat(timespec="minutes")
    if isinstance(c, float) and c.is_integer():
        return str(int(c))
    return str(c)


def _find_columns(header: list[str], path: Path) -> tuple[int, dict[str, int]]:
    """(key column, {field: column}) by the aliases of rules/metadata.json, exact names first,
    then names without their unit ('Бюджет, руб.')."""
    rules = _rules()
    exact = [_norm_header(h) for h in header]
    bare = [_bare_header(h) for h in header]

    def find(aliases: list[str], taken: set[int]) -> int | None:
        for names in (exact, bare):
            for alias in aliases:
                for i, name in enumerate(names):
                    if name == alias and i not in taken:
                        return i
        return None

    key_col = find(rules["key_columns"], set())
    if key_col is None:
        raise InputFormatError(f"no key column among {', '.join(repr(h) for h in header[:12])}", path=str(path),
                               hint="name the column holding the call id, deal id or recording file name "
                               "'call_id', 'id' or 'file'")
    field_cols: dict[str, int] = {}
    for field in METADATA_FIELDS:
        i = find(rules["columns"][field], {key_col, *field_cols.values()})
        if i is not None:
            field_cols[field] = i
    return key_col, field_cols


class _Problems:
    """Row problems grouped by what went wrong, so 10 000 rows of one custom stage make one line."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}

    def add(self, what: str, row: int) -> None:
        self.rows.setdefault(what, []).append(row)

    def count(self, prefix: str) -> int:
        return sum(len(r) for w, r in self.rows.items() if w.startswith(prefix))

    def lines(self) -> list[str]:
        out = []
        for what, rows in list(self.rows.items())[:MAX_WARNINGS]:
            shown = ", ".join(map(str, rows[:MAX_ROWS_LISTED]))
            more = f" and {len(rows) - MAX_ROWS_LISTED} more" if len(rows) > MAX_ROWS_LISTED else ""
            out.append(f"{what} (row{'s' if len(rows) > 1 else ''} {shown}{more})")
        if len(self.rows) > MAX_WARNINGS:
            out.append(f"... and {len(self.rows) - MAX_WARNINGS} more kinds of problems")
        return out


def read_metadata(csv_path: str | Path | dict, warn: Callable[[str], None] | None = None) -> MetadataTable:
    """`{call_id, deal id or file name: {field: value}}` from a CRM CSV/XLSX, with `.warnings`.

    Raises InputFormatError only when the file's structure is wrong (see the module doc); problems
    in single rows become warnings (also passed to `warn`, one line each). A table already read is
    returned as it is, so callers may read the file early and pass the table on.
    """
    if isinstance(csv_path, dict):
        return csv_path if isinstance(csv_path, MetadataTable) else MetadataTable(csv_path)
    path = Path(csv_path)
    if not path.exists():
        raise InputFormatError("metadata file not found", path=str(path))
    header, rows = _read_rows(path)
    key_col, field_cols = _find_columns(header, path)
    extra_cols = [i for i in range(len(header)) if i != key_col and i not in field_cols.values()
                  and header[i].strip()]
    # a second 'amount' column (or 'Amount' beside 'sum') keeps its raw text under its own name; it
    # must not replace the converted value of the column read as the field
    extra_names = {i: header[i].strip() if header[i].strip().lower() not in (*METADATA_FIELDS, "call_id")
                   else f"{header[i].strip()} (column {i + 1})" for i in extra_cols}
    day_first = _date_order([r[field_cols["date"]] for r in rows
                             if "date" in field_cols and len(r) > field_cols["date"]])
    table = MetadataTable()
    first_row: dict[str, int] = {}
    problems = _Problems()
    key_name = header[key_col].strip()
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            problems.add(f"more cells than the header's {len(header)} columns (an unquoted separator "
                         "inside a value?): row skipped", n)
            continue
        row = row + [""] * (len(header) - len(row))
        key = row[key_col].strip()
        if not key:
            problems.add(f"the key column '{key_name}' is empty: row skipped", n)
            continue
        if key in first_row:
            problems.add(f"{key!r} already appears in row {first_row[key]}: the later row is skipped", n)
            continue
        first_row[key] = n
        fields: dict[str, Any] = {}
        for field, i in field_cols.items():
            value = row[i].strip()
            if not value:
                continue
            col = header[i].strip()
            if field == "outcome":
                fields[field] = _outcome_or_pending(value, col, n, problems)
                continue
            try:
                fields[field] = _CONVERT[field](value, day_first)
            except ValueError as e:
                problems.add(f"column '{col}': {e}: left out", n)
        for i in extra_cols:
            value = row[i].strip()
            if value:
                fields[extra_names[i]] = value
        table[key] = fields
    misshapen = problems.count("more cells than")
    if rows and misshapen > len(rows) / 2:
        raise InputFormatError(f"{misshapen} of {len(rows)} rows have more cells than the header has columns",
                               path=str(path), hint="check the separator, and quote values that contain it")
    table.warnings = problems.lines()
    if any(w.startswith("column") and "read as pending" in w for w in table.warnings):
        table.warnings.append("to count a pipeline's own stage as won or lost, add it to 'outcomes' in "
                              f"{RULES_PATH}")
    for w in table.warnings if warn else []:
        warn(w)
    return table


def _outcome_or_pending(value: str, column: str, row: int, problems: _Problems) -> str:
    try:
        return normalize_outcome(value)
    except ValueError:
        # A pipeline's own stage ("КП отправлено") means the deal is still open
        problems.add(f"column '{column}': {value!r} is not a won or lost stage: read as pending", row)
        return "pending"


# ---- values -------------------------------------------------------------------------------
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
                 "%Y/%m/%d", "%Y.%m.%d")
_DMY = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _date_order(values: list[str]) -> bool:
    """True when a column of d/m/y dates is day-first (any first part > 12), False when month-first."""
    firsts, seconds = set(), set()
    for v in values:
        m = _DMY.match(v.strip())
        if m:
            firsts.add(int(m.group(1)))
            seconds.add(int(m.group(2)))
    if seconds and max(seconds) > 12 and not (firsts and max(firsts) > 12):
        return False
    return True  # day-first, as in Russia and most of the world, unless the column proves otherwise


def _to_date(value: str, day_first: bool = True) -> str:
    v = value.strip()
    if _EXCEL_SERIAL.match(v):
        days = float(v.replace(",", "."))
        if 20000 <= days <= 80000:
            dt = _EXCEL_EPOCH + timedelta(days=days)
            return dt.strftime("%Y-%m-%d") if days.is_integer() else dt.strftime("%Y-%m-%dT%H:%M")
    if re.fullmatch(r"(?:19|20)\d{6}", v):
        try:
            return datetime.strptime(v, "%Y%m%d").strftime("%Y-%m-%d")
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None
    iso = v[:-6] if re.search(r"[+-]\d\d:\d\d$", v) else v.rstrip("Z")
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(iso.split(".")[0] if "T" in iso or " " in iso else iso, fmt)
            return dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == dt.second == 0 and ":" not in iso \
                else dt.strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            continue
    m = _DMY.match(v)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        d, mo = (a, b) if day_first else (b, a)
        try:
            dt = datetime(y, mo, d, int(m.group(4) or 0), int(m.group(5) or 0))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid date") from None
        return dt.strftime("%Y-%m-%dT%H:%M") if m.group(4) else dt.strftime("%Y-%m-%d")
    raise ValueError(f"{value!r} is not a date (use 2026-09-14, 14.09.2026 or an Excel date number)")


def normalize_outcome(value: str) -> str:
    """'won'/'lost'/'pending' for an outcome word in English or Russian; ValueError otherwise."""
    o = _rules()["_outcomes"].get(_norm_word(value))
    if o is None:
        raise ValueError(f"outcome {value!r} is not won, lost or pending")
    return o


_CURRENCY = re.compile(r"(?i)(?:руб(?:лей|ля|ль)?\.?|р\.|₽|usd|eur|rub|\$|€|£|dollars?)")


def _to_amount(value: str, day_first: bool = True) -> int | float:
    v = _CURRENCY.sub("", value).strip().replace("\u00a0", " ").replace("\u202f", " ")
    neg = v.startswith("-")
    v = v.lstrip("-").strip()
    if not re.fullmatch(r"[\d\s.,']+", v) or not re.search(r"\d", v):
        raise ValueError(f"amount {value!r} is not a number")
    v = v.replace(" ", "").replace("'", "")
    if "," in v and "." in v:
        # the last separator is the decimal one: 1,234.50 or 1.234,50
        dec = "." if v.rfind(".") > v.rfind(",") else ","
        v = v.replace("," if dec == "." else ".", "").replace(",", ".")
    elif "," in v:
        parts = v.split(",")
        v = v.replace(",", "") if len(parts) > 2 or len(parts[-1]) == 3 else v.replace(",", ".")
    elif v.count(".") > 1 or (v.count(".") == 1 and len(v.split(".")[-1]) == 3 and len(v) > 4):
        v = v.replace(".", "")  # 1.234.567 thousands separators
    try:
        x = float(v)
    except ValueError:
        raise ValueError(f"amount {value!r} is not a number") from None
    x = -x if neg else x
    return int(x) if x.is_integer() else round(x, 2)


def _to_text(value: str, day_first: bool = True) -> str:
    return " ".join(value.split())


_CONVERT = {"date": _to_date, "agent": _to_text, "lead_source": _to_text, "campaign": _to_text,
            "outcome": lambda v, _d=True: normalize_outcome(v), "amount": _to_amount}


# ---- joining ------------------------------------------------------------------------------
def match_keys(call_id: str, source_path: str | None) -> list[str]:
    """The keys a CRM row may use for a call: its id, its recording's file name and stem."""
    keys = [call_id]
    if source_path:
        p = Path(source_path)
        keys += [p.name, p.stem]
    return keys


class _Index:
    def __init__(self, table: dict[str, dict[str, Any]]):
        self.exact: dict[str, str] = {}
        self.loose: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        for key in table:
            for k in (key, Path(key).name, Path(key).stem):
                self.exact.setdefault(k, key)
                self.loose.setdefault(k.lower(), key)
            if _DEAL_ID.fullmatch(key.strip()):
                self.ids[key.strip()] = key

    def find(self, candidates: list[str]) -> str | None:
        for c in candidates:
            if c in self.exact:
                return self.exact[c]
        for c in candidates:
            if c.lower() in self.loose:
                return self.loose[c.lower()]
        if self.ids:
            # a CRM deal id inside a recording's name: "18345601_2.mp3", "deal-18345601 (call 2).txt"
            for c in candidates:
                hits = {self.ids[t] for t in re.findall(r"\d+", c) if t in self.ids}
                if len(hits) == 1:
                    return hits.pop()
        return None


def find_row(table: dict[str, dict[str, Any]], call_id: str, source_path: str | None = None) -> str | None:
    """The table key matching a call, or None. For many calls use `row_finder` (indexes once)."""
    return _Index(table).find(match_keys(call_id, source_path))


def row_finder(table: dict[str, dict[str, Any]]) -> Callable[[str, str | None], str | None]:
    """`find_row` for one table and many calls: the table is indexed once (a 10,000-row CRM
    export against 10,000 calls is then linear, not 10^8 steps)."""
    index = _Index(table)
    return lambda call_id, source_path=None: index.find(match_keys(call_id, source_path))


def apply_metadata(store, table: dict[str, dict[str, Any]]) -> tuple[int, list[str]]:
    """Merge CRM rows into the stored calls. Returns (calls matched, table keys that matched no call)."""
    if not table:
        return 0, []
    index = _Index(table)
    used: set[str] = set()
    matched = 0
    rows = store.db.execute("SELECT call_id, source_path FROM calls ORDER BY call_id").fetchall()
    for call_id, source_path in rows:
        key = index.find(match_keys(call_id, source_path))
        if key is None:
            continue
        if store.update_metadata(call_id, dict(table[key])):
            matched += 1
            used.add(key)
    return matched, [k for k in table if k not in used]
