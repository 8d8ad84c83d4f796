"""The store: one folder holding an SQLite database and every call as a JSON file.

Layout of `DIR`:
  callbridge.db               SQLite (WAL): calls, turns, metadata, processing state, errors,
                              statements, vector cache, themes, script adherence
  transcripts/<call_id>.json  each call in the call format (written atomically)

Writes happen in transactions, and a call's JSON is renamed into place before its rows are
committed: a run killed at any point leaves either the old state or the new one, never half.
The schema carries a version (`PRAGMA user_version`); `MIGRATIONS` is append-only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .fileutil import atomic_write_text
from .errors import StoreError
from .types import Call, Statement, Turn

DEFAULT_STORE = "./callbridge-data"
LOCK_NAME = "callbridge.lock"
STALE_TEMP_S = 60.0          # a temp file this old in transcripts/ was left by a killed run

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_SQLITE_FULL, _SQLITE_IOERR = 13, 10


class StoreBusyError(StoreError):
    """Another callbridge run (another process) holds the store."""


class DiskFullError(StoreError):
    """A write to the store failed: no space left, a file size limit, or a failing disk."""


def is_disk_full(e: BaseException) -> bool:
    """True for an OSError of a full disk, quota or file size limit, or SQLite's SQLITE_FULL /
    SQLITE_IOERR (what SQLite reports when a write comes back short)."""
    if isinstance(e, OSError):
        return e.errno in _FULL_ERRNOS
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR)
        return any(w in str(e) for w in ("database or disk is full", "disk I/O error"))
    return False


def disk_full_error(e: BaseException, path: str | os.PathLike) -> DiskFullError:
    """The error to show for `e` (see is_disk_full) while writing under `path`."""
    what = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else str(e)
    return DiskFullError(f"cannot write to the store (is the disk full?): {what}", path=str(path),
                         hint="free disk space (or raise the file size limit), then rerun the same command: "
                         "finished work is kept and skipped")

# Each entry upgrades the schema by one version. Never edit a released entry: append a new one.
MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE calls (
        call_id        TEXT PRIMARY KEY,
        source_path    TEXT,
        audio_sha256   TEXT,
        settings_hash  TEXT,
        status         TEXT NOT NULL,          -- transcribed | imported
        language       TEXT,
        duration       REAL,
        metadata_json  TEXT NOT NULL DEFAULT '{}',
        source_json    TEXT NOT NULL DEFAULT '{}', -- role decision, model, channels...
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL
    );
    CREATE TABLE turns (
        call_id  TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
        idx      INTEGER NOT NULL,
        speaker  TEXT NOT NULL,
        start    REAL,
        "end"    REAL,
        text     TEXT NOT NULL,
        words_json TEXT,
        PRIMARY KEY (call_id, idx)
    );
    CREATE TABLE errors (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id     TEXT,
        source_path TEXT,
        stage       TEXT NOT NULL,
        message     TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE INDEX errors_call ON errors(call_id);
    CREATE TABLE statements (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id     TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
        turn        INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        text        TEXT NOT NULL,
        confidence  REAL,
        language    TEXT,
        start       REAL,
        char_start  INTEGER
    );
    CREATE INDEX statements_call ON statements(call_id);
    CREATE INDEX statements_kind ON statements(kind);
    CREATE TABLE vectors (
        text_hash TEXT NOT NULL,
        model     TEXT NOT NULL,
        dim       INTEGER NOT NULL,
        vector    BLOB NOT NULL,
        PRIMARY KEY (text_hash, model)
    );
    CREATE TABLE themes (
        kind        TEXT NOT NULL,
        theme_id    TEXT NOT NULL,
        label       TEXT NOT NULL,
        n_statements INTEGER NOT NULL,
        n_calls     INTEGER NOT NULL,
        share_calls REAL NOT NULL,
        emerging    INTEGER NOT NULL DEFAULT 0,
        info_json   TEXT NOT NULL DEFAULT '{}',  -- quotes, top terms, labels per language
        PRIMARY KEY (kind, theme_id)
    );
    CREATE TABLE statement_themes (
        statement_id INTEGER PRIMARY KEY REFERENCES statements(id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        theme_id     TEXT NOT NULL,
        outlier      INTEGER NOT NULL DEFAULT 0,
        score        REAL
    );
    CREATE TABLE script_steps (
        step_id  TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        title    TEXT NOT NULL,
        examples_json TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE adherence (
        call_id  TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
        step_id  TEXT NOT NULL,
        present  INTEGER NOT NULL,
        score    REAL NOT NULL,
        evidence TEXT,
        turn     INTEGER,
        start    REAL,
        PRIMARY KEY (call_id, step_id)
    );
    CREATE TABLE coverage (
        kind        TEXT NOT NULL,
        theme_id    TEXT NOT NULL,
        label       TEXT NOT NULL,
        covered     INTEGER NOT NULL,       -- 1 when some script step addresses the theme
        best_step   TEXT,
        score       REAL,
        n_calls     INTEGER NOT NULL,
        n_lost      INTEGER NOT NULL,
        n_won       INTEGER NOT NULL,
        lift_lost   REAL,                   -- share of lost calls with it / share of won calls with it
        info_json   TEXT NOT NULL DEFAULT '{}',  -- quotes
        PRIMARY KEY (kind, theme_id)
    );
    CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # v2: pseudonymous call ids. A call whose file name or id may hold personal data (a call
    # recorder's "<date>_<phone>_<contact>" stem) is stored under a pseudonym; this table is the
    # only place that keeps the original.
    """
    CREATE TABLE call_aliases (
        call_id     TEXT PRIMARY KEY,          -- the pseudonym every table and output uses
        original    TEXT NOT NULL UNIQUE,      -- the id the file name or the call JSON gave
        created_at  REAL NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class Store:
    """A callbridge workspace folder. Use as a context manager or call `close()`."""

    def __init__(self, path: str | Path = DEFAULT_STORE, create: bool = True):
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError("no store here", path=str(self.path),
                                 hint="run `callbridge transcribe` or `callbridge import` with --store first")
            self.path.mkdir(parents=True)
        elif not self.path.is_dir():
            raise StoreError("store path exists and is not a folder", path=str(self.path))
        self.transcripts_dir = self.path / "transcripts"
        self.transcripts_dir.mkdir(exist_ok=True)
        self.db_path = self.path / "callbridge.db"
        self._lock = None
        try:
            self.db = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            if is_disk_full(e):
                raise disk_full_error(e, self.db_path) from None
            raise StoreError(f"cannot open database: {e}", path=str(self.db_path),
                             hint="the file may be damaged; restore it from a backup or move it away") from None

    # ---- housekeeping -------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"store schema v{version} is newer than this callbridge (v{SCHEMA_VERSION})",
                             path=str(self.db_path), hint="upgrade callbridge")
        for v in range(version, SCHEMA_VERSION):
            # executescript() commits on its own, so the migration carries its own transaction.
            try:
                self.db.executescript("BEGIN IMMEDIATE;" + MIGRATIONS[v] + f";PRAGMA user_version={v + 1};COMMIT;")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one). A write that fails for lack of
        space raises DiskFullError; the transaction is rolled back, so the store keeps its last
        committed state."""
        if self.db.in_transaction:
            yield self.db
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:  # SQLite may have rolled back already after an I/O error
                    self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
        except sqlite3.Error as e:
            if is_disk_full(e):
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise disk_full_error(e, self.db_path) from None
            raise

    def _write_json(self, path: Path, data: Any) -> None:
        try:
            atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        except OSError as e:
            if is_disk_full(e):
                raise disk_full_error(e, path) from None
            raise

    def lock(self, command: str) -> None:
        """Hold the store for this process until `close()`, as `command` (shown to others).

        A second run on the same store from another process gets StoreBusyError naming the run
        that holds it, before it has done anything. Within one process the lock is shared
        (`pipeline.run` locks, then the stages it calls lock again). The operating system drops
        the lock (flock) when its process ends, however it ends, so a killed run never leaves the
        store locked. Temp files a killed run left in transcripts/ are removed here.
        """
        if self._lock is not None:
            return
        from filelock import FileLock, Timeout

        path = self.path / LOCK_NAME
        # One instance per path in this process (is_singleton) and a counter: re-entrant across
        # Store objects and threads; fallback_to_soft=False so a lock is never a marker file that
        # a killed run would leave behind.
        lk = FileLock(path, timeout=0, is_singleton=True, thread_local=False, fallback_to_soft=False)
        try:
            first = not lk.is_locked
            lk.acquire()
        except Timeout:
            try:
                owner = path.read_text(encoding="utf-8").strip()
            except OSError:
                owner = ""
            raise StoreBusyError(f"the store is in use by another callbridge run ({owner or 'unknown process'})",
                                 path=str(self.path), hint="wait for that run to finish, or give this one "
                                 "another --store") from None
        except OSError as e:
            if is_disk_full(e):
                raise disk_full_error(e, path) from None
            raise StoreError(f"cannot lock the store: {e.strerror or e}", path=str(path),
                             hint="the store must be on a file system that supports file locks") from None
        self._lock = lk
        if first:
            try:
                with open(path, "r+", encoding="utf-8") as f:
                    f.truncate(0)
                    f.write(f"pid {os.getpid()} on {socket.gethostname()}, callbridge {command}, since "
                            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}\n")
            except OSError:
                pass  # the lock holds without the note
            now = time.time()
            for tmp in self.transcripts_dir.glob(".*.tmp"):
                try:
                    if now - tmp.stat().st_mtime > STALE_TEMP_S:
                        tmp.unlink()
                except OSError:
                    pass

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite and by cross-checking rows with transcript files; [] when clean."""
        problems = [r[0] for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in self.db.execute("PRAGMA foreign_key_check")]
        for r in self.db.execute("SELECT call_id FROM calls"):
            if not self.transcript_path(r[0]).exists():
                problems.append(f"call {r[0]}: transcript file missing")
        return problems

    def get_kv(self, key: str, default: str | None = None) -> str | None:
        r = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return r[0] if r else default

    def set_kv(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (key, value))

    # ---- pseudonymous call ids -----------------------------------------------------------
    def _pseudonym_key(self) -> bytes:
        key = self.get_kv("pseudonym_key")
        if key is None:
            import secrets

            with self.transaction() as db:
                db.execute("INSERT OR IGNORE INTO kv(key, value) VALUES ('pseudonym_key', ?)",
                           (secrets.token_hex(32),))
            key = self.get_kv("pseudonym_key")
        return bytes.fromhex(key or "")

    def call_id_for(self, original: str) -> str:
        """The call id to store and show for `original` (a file stem or a call JSON's id): itself,
        or, when it may hold personal data (`nlp.redact.personal_id`), its pseudonym
        `call-xxxxxxxxxx` (HMAC of the original under this store's secret key: the same file always
        gets the same id here). The pair is recorded in `call_aliases`."""
        from .redact import personal_id, pseudonym

        original = str(original)
        cache = self.__dict__.setdefault("_alias_cache", {})
        if original in cache:
            return cache[original]
        r = self.db.execute("SELECT call_id FROM call_aliases WHERE original=? OR call_id=?",
                            (original, original)).fetchone()
        if r is not None:
            cache[original] = r[0]
            return r[0]
        if not personal_id(original):
            cache[original] = original
            return original
        key = self._pseudonym_key()
        with self.transaction() as db:
            r = db.execute("SELECT call_id FROM call_aliases WHERE original=?", (original,)).fetchone()
            pid = r[0] if r else None
            salt = 0
            while pid is None:
                cand = pseudonym(original if not salt else f"{original}\x00{salt}", key)
                taken = db.execute("SELECT 1 FROM call_aliases WHERE call_id=? UNION SELECT 1 FROM calls"
                                   " WHERE call_id=?", (cand, cand)).fetchone()
                if taken is None:
                    db.execute("INSERT INTO call_aliases(call_id, original, created_at) VALUES (?,?,?)",
                               (cand, original, time.time()))
                    pid = cand
                salt += 1
        cache[original] = pid
        return pid

    def original_id(self, call_id: str) -> str:
        """The id `call_id` stands for: the original of a pseudonym, else `call_id` itself."""
        r = self.db.execute("SELECT original FROM call_aliases WHERE call_id=?", (str(call_id),)).fetchone()
        return r[0] if r else call_id

    def aliases(self) -> dict[str, str]:
        """original -> pseudonym for every pseudonymised call id (personal data: show with care)."""
        return {r[0]: r[1] for r in self.db.execute("SELECT original, call_id FROM call_aliases ORDER BY call_id")}

    # ---- calls --------------------------------------------------------------------------
    def transcript_path(self, call_id: str) -> Path:
        safe = call_id.replace("/", "_").replace("\\", "_")
        return self.transcripts_dir / f"{safe}.json"

    def save_call(self, call: Call, status: str, *, source_path: str | None = None,
                  audio_sha256: str | None = None, settings_hash: str | None = None) -> None:
        """Insert or replace a call with its turns. JSON first, then one transaction for the rows.

        A call id that may hold personal data is replaced by its pseudonym (`call_id_for`; the
        caller's `call` object is updated), so no table or file name of the store but
        `call_aliases` ever holds it."""
        call.call_id = self.call_id_for(call.call_id)
        self._write_json(self.transcript_path(call.call_id), call.to_dict())
        now = time.time()
        with self.transaction() as db:
            old = db.execute("SELECT created_at FROM calls WHERE call_id=?", (call.call_id,)).fetchone()
            db.execute("DELETE FROM calls WHERE call_id=?", (call.call_id,))
            db.execute(
                "INSERT INTO calls(call_id, source_path, audio_sha256, settings_hash, status, language, duration,"
                " metadata_json, source_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (call.call_id, source_path, audio_sha256, settings_hash, status, call.language, call.duration,
                 json.dumps(call.metadata, ensure_ascii=False, default=str),
                 json.dumps(call.source, ensure_ascii=False, default=str), old[0] if old else now, now))
            db.executemany(
                'INSERT INTO turns(call_id, idx, speaker, start, "end", text, words_json) VALUES (?,?,?,?,?,?,?)',
                [(call.call_id, i, t.speaker, t.start, t.end, t.text,
                  json.dumps([w.__dict__ for w in t.words]) if t.words else None)
                 for i, t in enumerate(call.turns)])
            db.execute("DELETE FROM errors WHERE call_id=?", (call.call_id,))

    def is_done(self, call_id: str, audio_sha256: str, settings_hash: str) -> bool:
        r = self.db.execute("SELECT audio_sha256, settings_hash FROM calls WHERE call_id=?", (call_id,)).fetchone()
        return bool(r) and r[0] == audio_sha256 and r[1] == settings_hash and self.transcript_path(call_id).exists()

    def call_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT call_id FROM calls ORDER BY call_id")]

    def get_call(self, call_id: str) -> Call:
        r = self.db.execute("SELECT * FROM calls WHERE call_id=?", (call_id,)).fetchone()
        if r is None:
            raise StoreError(f"no call {call_id!r} in the store", path=str(self.path))
        turns = [Turn(t["speaker"], t["text"], t["start"], t["end"])
                 for t in self.db.execute('SELECT speaker, start, "end", text FROM turns WHERE call_id=? ORDER BY idx',
                                          (call_id,))]
        return Call(r["call_id"], turns, r["language"], json.loads(r["metadata_json"]), json.loads(r["source_json"]))

    def iter_calls(self) -> Iterator[Call]:
        for cid in self.call_ids():
            yield self.get_call(cid)

    def update_metadata(self, call_id: str, metadata: dict[str, Any]) -> bool:
        """Merge CRM fields into a stored call (rows and JSON file). False if the call is unknown."""
        try:
            call = self.get_call(call_id)
        except StoreError:
            return False
        call.metadata.update(metadata)
        self._write_json(self.transcript_path(call_id), call.to_dict())
        with self.transaction() as db:
            db.execute("UPDATE calls SET metadata_json=?, updated_at=? WHERE call_id=?",
                       (json.dumps(call.metadata, ensure_ascii=False, default=str), time.time(), call_id))
        return True

    def calls_frame(self):
        """One row per call: call_id, language, duration, status and every metadata field as a column."""
        import pandas as pd

        rows = []
        for r in self.db.execute("SELECT call_id, language, duration, status, metadata_json, source_path FROM calls"):
            d = {"call_id": r[0], "language": r[1], "duration": r[2], "status": r[3], "source_path": r[5]}
            d.update(json.loads(r[4]))
            rows.append(d)
        return pd.DataFrame(rows)

    # ---- errors -------------------------------------------------------------------------
    def record_error(self, stage: str, message: str, *, call_id: str | None = None,
                     source_path: str | None = None) -> None:
        if call_id is not None:
            call_id = self.call_id_for(call_id)
        with self.transaction() as db:
            if call_id is not None:
                db.execute("DELETE FROM errors WHERE call_id=? AND stage=?", (call_id, stage))
            db.execute("INSERT INTO errors(call_id, source_path, stage, message, created_at) VALUES (?,?,?,?,?)",
                       (call_id, source_path, stage, message, time.time()))

    def errors(self, stage: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT call_id, source_path, stage, message, created_at FROM errors"
        args: tuple = ()
        if stage:
            q += " WHERE stage=?"
            args = (stage,)
        return [dict(r) for r in self.db.execute(q + " ORDER BY id", args)]

    # ---- statements ---------------------------------------------------------------------
    def replace_statements(self, statements: Sequence[Statement], call_ids: Iterable[str] | None = None) -> None:
        """Replace the statements of `call_ids` (default: the calls present in `statements`)."""
        ids = set(call_ids) if call_ids is not None else {s.call_id for s in statements}
        with self.transaction() as db:
            db.executemany("DELETE FROM statements WHERE call_id=?", [(c,) for c in ids])
            db.executemany(
                "INSERT INTO statements(call_id, turn, kind, text, confidence, language, start, char_start)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(s.call_id, s.turn, s.kind, s.text, s.confidence, s.language, s.start, s.char_start)
                 for s in statements])

    def statements(self, kind: str | None = None) -> list[tuple[int, Statement]]:
        """(row id, Statement) pairs, ordered by call and turn."""
        q = "SELECT * FROM statements"
        args: tuple = ()
        if kind:
            q += " WHERE kind=?"
            args = (kind,)
        out = []
        for r in self.db.execute(q + " ORDER BY call_id, turn, id", args):
            out.append((r["id"], Statement(r["call_id"], r["turn"], r["kind"], r["text"], r["confidence"],
                                           r["language"], r["start"], r["char_start"])))
        return out

    # ---- vector cache -------------------------------------------------------------------
    def get_vectors(self, texts: Sequence[str], model: str) -> dict[str, np.ndarray]:
        """Cached vectors by text for `model`; texts not cached are absent from the result."""
        out: dict[str, np.ndarray] = {}
        by_hash = {text_hash(t): t for t in texts}
        keys = list(by_hash)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT text_hash, dim, vector FROM vectors WHERE model=? AND text_hash IN ({','.join('?' * len(chunk))})"
            for h, dim, blob in self.db.execute(q, (model, *chunk)):
                out[by_hash[h]] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return out

    def put_vectors(self, vectors: dict[str, np.ndarray], model: str) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO vectors(text_hash, model, dim, vector) VALUES (?,?,?,?)",
                           [(text_hash(t), model, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                            for t, v in vectors.items()])
