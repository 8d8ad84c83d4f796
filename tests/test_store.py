import json
import sqlite3

import numpy as np
import pytest

from nlp.callio import read_call, write_call
from nlp.errors import InputFormatError, StoreError
from nlp.store import SCHEMA_VERSION, Store
from nlp.types import Call, Statement, Turn


def _call(cid="c1"):
    return Call(cid, [Turn("agent", "Добрый день", 0.0, 1.2), Turn("customer", "Сколько стоит кухня?", 1.5, 3.0)],
                "ru", {"agent": "Ирина", "outcome": "won"})


def test_store_roundtrip_and_schema(tmp_path):
    with Store(tmp_path / "s") as st:
        st.save_call(_call(), "imported", audio_sha256="h", settings_hash="x")
        assert st.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        back = st.get_call("c1")
        assert back.turns[1].text == "Сколько стоит кухня?" and back.metadata["agent"] == "Ирина"
        assert st.is_done("c1", "h", "x") and not st.is_done("c1", "h", "y")
        on_disk = json.loads((tmp_path / "s/transcripts/c1.json").read_text())
        assert on_disk["turns"][0]["start"] == 0.0
        assert st.integrity_check() == []
        # saving again replaces, never duplicates
        st.save_call(_call(), "imported")
        assert st.db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 2


def test_store_rejects_newer_schema(tmp_path):
    Store(tmp_path / "s").close()
    db = sqlite3.connect(tmp_path / "s/callbridge.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "s")


def test_statements_and_vectors(tmp_path):
    with Store(tmp_path / "s") as st:
        st.save_call(_call(), "imported")
        st.replace_statements([Statement("c1", 1, "question", "Сколько стоит кухня?")])
        st.replace_statements([Statement("c1", 1, "opening", "Сколько стоит кухня?")])
        rows = st.statements()
        assert [s.kind for _, s in rows] == ["opening"]
        st.put_vectors({"a": np.ones(4, dtype=np.float32)}, "m")
        got = st.get_vectors(["a", "b"], "m")
        assert list(got) == ["a"] and got["a"].shape == (4,)


def test_read_call_errors_name_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputFormatError, match="bad.json.*invalid JSON"):
        read_call(bad)
    bad.write_text(json.dumps({"call_id": "x", "turns": [{"speaker": "robot", "text": "hi"}]}))
    with pytest.raises(InputFormatError, match="speaker"):
        read_call(bad)


def test_write_read_call(tmp_path):
    write_call(_call(), tmp_path / "c.json")
    assert read_call(tmp_path / "c.json").turns[0].speaker == "agent"


def test_empty_call_is_valid(tmp_path):
    p = tmp_path / "e.json"
    p.write_text(json.dumps({"call_id": "e", "turns": []}))
    assert read_call(p).turns == []


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    from nlp.fileutil import atomic_path, file_sha256

    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]
    with atomic_path(target) as tmp:
        open(tmp, "w").write("new")
    assert target.read_text() == "new"
    assert file_sha256(target) == "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"
