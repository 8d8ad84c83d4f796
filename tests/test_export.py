"""Export: JSON (re-importable), CSV and Parquet, both languages, redacted by default."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from nlp.errors import InputFormatError
from nlp.export import export_store, format_for
from nlp.importers import import_paths
from nlp.store import Store
from nlp.types import Call, Turn

RU_PII = "Меня зовут Иван Петров, телефон +7 916 123-45-67, почта ivan.petrov@mail.ru"
EN_PII = "My name is John Smith, call me at (415) 555-0199 or john.smith@example.com"


@pytest.fixture
def store(tmp_path):
    st = Store(tmp_path / "store")
    st.save_call(Call("ru-01", [Turn("agent", "Добрый день, компания Светлый дом.", 0.0, 2.5),
                                Turn("customer", RU_PII, 3.0, 8.123456)], "ru",
                      {"date": "2026-09-14", "agent": "Дмитрий", "outcome": "won", "amount": 85000,
                       "client_phone": "+7 916 123-45-67", "city": "Москва"}), "imported")
    st.save_call(Call("en-01", [Turn("agent", "Thanks for calling BrightHome Windows.", 0.0, 2.0),
                                Turn("customer", EN_PII, 2.5, 7.0),
                                Turn("customer", "<script>alert(1)</script> how much?", 7.5, 9.0)], "en",
                      {"date": "2026-09-10", "agent": "Sarah", "outcome": "lost"}), "imported")
    yield st
    st.close()


def leaks(text: str) -> list[str]:
    secrets = ["916 123-45-67", "ivan.petrov@mail.ru", "Иван", "Петров", "555-0199", "john.smith@example.com",
               "John Smith"]
    return [s for s in secrets if s in text]


def test_json_export_is_redacted_and_reimportable(store, tmp_path):
    out = tmp_path / "out" / "calls.json"
    res = export_store(store, out)
    assert res.format == "json" and res.n_calls == 2 and res.n_turns == 5 and res.redacted
    text = out.read_text(encoding="utf-8")
    assert leaks(text) == []
    data = json.loads(text)
    ru = next(c for c in data if c["call_id"] == "ru-01")
    assert ru["turns"][1]["text"] == "Меня зовут [имя], телефон [телефон], почта [email]"
    assert ru["metadata"]["client_phone"] == "[телефон]" and ru["metadata"]["agent"] == "Дмитрий"
    assert "source" not in ru
    # the export goes back in with `import`
    with Store(tmp_path / "again") as st2:
        s = import_paths([out], st2)
        assert len(s.imported) == 2 and st2.get_call("en-01").metadata["outcome"] == "lost"
        assert st2.get_call("ru-01").turns[1].text.startswith("Меня зовут [имя]")


def test_csv_and_parquet_rows(store, tmp_path):
    res = export_store(store, tmp_path / "turns.csv")
    assert res.format == "csv" and res.n_turns == 5
    raw = (tmp_path / "turns.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Cyrillic right
    df = pd.read_csv(tmp_path / "turns.csv", encoding="utf-8-sig")
    assert list(df.columns[:7]) == ["call_id", "turn", "speaker", "start", "end", "text", "language"]
    assert {"date", "agent", "outcome", "amount", "client_phone", "city"} <= set(df.columns)
    assert "lead_source" not in df.columns  # no empty CRM columns
    assert leaks(df.to_csv()) == []
    row = df[(df.call_id == "ru-01") & (df.turn == 1)].iloc[0]
    assert row.end == 8.123 and row.speaker == "customer" and row.agent == "Дмитрий" and row.amount == 85000
    assert "<script>alert(1)</script> how much?" in df.text.tolist()  # text, not rendered: nothing to escape in CSV

    res = export_store(store, tmp_path / "x.bin", fmt="parquet")
    pq = pd.read_parquet(tmp_path / "x.bin")
    assert len(pq) == 5 and res.format == "parquet"
    assert pq.sort_values(["call_id", "turn"]).text.tolist() == df.sort_values(["call_id", "turn"]).text.tolist()


def test_no_redact_keeps_text(store, tmp_path):
    export_store(store, tmp_path / "raw.json", redact=False)
    text = (tmp_path / "raw.json").read_text(encoding="utf-8")
    assert "ivan.petrov@mail.ru" in text and "John Smith" in text


def test_empty_store_exports_empty_files(tmp_path):
    with Store(tmp_path / "empty") as st:
        assert export_store(st, tmp_path / "e.json").n_calls == 0
        assert json.loads((tmp_path / "e.json").read_text()) == []
        res = export_store(st, tmp_path / "e.csv")
        assert res.n_turns == 0 and pd.read_csv(tmp_path / "e.csv", encoding="utf-8-sig").empty
        assert export_store(st, tmp_path / "e.parquet").n_turns == 0


def test_formats_and_bad_targets(store, tmp_path):
    assert format_for("a.CSV", None) == "csv" and format_for("a.txt", None) == "json"
    assert format_for("a.csv", "parquet") == "parquet"
    with pytest.raises(InputFormatError, match="unknown export format"):
        format_for("a.csv", "xml")
    with pytest.raises(InputFormatError, match="is a folder"):
        export_store(store, tmp_path)


def test_cli_export(store, tmp_path):
    from cli import app

    store.close()
    r = CliRunner().invoke(app, ["export", "--store", str(tmp_path / "store"), "--format", "csv",
                                 "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 0, r.output
    assert "2 calls, 5 turns (csv, redacted)" in r.output
    r = CliRunner().invoke(app, ["export", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o.json"),
                                 "--no-redact"])
    assert r.exit_code == 0 and "NOT redacted" in r.output
    assert "ivan.petrov@mail.ru" in (tmp_path / "o.json").read_text(encoding="utf-8")
    r = CliRunner().invoke(app, ["export", "--store", str(tmp_path / "none"), "--out", str(tmp_path / "n.json")])
    assert r.exit_code == 2 and "no store here" in r.output
    r = CliRunner().invoke(app, ["export", "--store", str(tmp_path / "store"), "--format", "xml",
                                 "--out", str(tmp_path / "o.xml")])
    assert r.exit_code == 2 and "unknown export format" in r.output
