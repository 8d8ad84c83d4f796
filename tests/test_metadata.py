"""CRM metadata: reading CSV/XLSX in Russian and English spellings, value normalisation, clear
errors for bad files, and joining to stored calls by call_id, file name or stem."""

import pytest

from nlp.errors import InputFormatError
from nlp.metadata import apply_metadata, normalize_outcome, read_metadata
from nlp.store import Store
from nlp.types import Call, Turn


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_english_csv(tmp_path):
    p = write(tmp_path / "m.csv", "call_id,date,agent,lead_source,campaign,outcome,amount,city\n"
              "en-01,2026-09-10,Sarah,google_ads,energy,won,\"$8,400\",Denver\n"
              "en-02,2026-09-18,Mike,facebook,,Closed Lost,,\n")
    t = read_metadata(p)
    assert t["en-01"] == {"date": "2026-09-10", "agent": "Sarah", "lead_source": "google_ads", "campaign": "energy",
                          "outcome": "won", "amount": 8400, "city": "Denver"}
    assert t["en-02"] == {"date": "2026-09-18", "agent": "Mike", "lead_source": "facebook", "outcome": "lost"}


def test_russian_excel_csv_semicolon_cp1251(tmp_path):
    p = write(tmp_path / "m.csv", "Файл;Дата звонка;Менеджер;Источник;Кампания;Результат;Сумма;Комментарий\n"
              "rec_001.mp3;14.09.2026;Ирина;Яндекс.Директ;осень;Успех;54 000,50 руб.;перезвонить в пятницу\n"
              "rec_002.mp3;15.09.2026 10:30;Олег;Авито;;в работе;;\n"
              "rec_003.mp3;16.09.2026;Олег;Авито;;отказ;0;\n", encoding="cp1251")
    t = read_metadata(p)
    assert t["rec_001.mp3"] == {"date": "2026-09-14", "agent": "Ирина", "lead_source": "Яндекс.Директ",
                                "campaign": "осень", "outcome": "won", "amount": 54000.5,
                                "Комментарий": "перезвонить в пятницу"}
    assert t["rec_002.mp3"]["date"] == "2026-09-15T10:30" and t["rec_002.mp3"]["outcome"] == "pending"
    assert t["rec_003.mp3"]["outcome"] == "lost" and t["rec_003.mp3"]["amount"] == 0


def test_month_first_dates_when_the_column_shows_it(tmp_path):
    p = write(tmp_path / "m.csv", "call_id,date\na,09/14/2026\nb,09/03/2026\n")
    t = read_metadata(p)
    assert t["a"]["date"] == "2026-09-14" and t["b"]["date"] == "2026-09-03"


def test_xlsx(tmp_path):
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["call_id", "date", "outcome", "amount", "note"])
    ws.append(["ru-01", datetime(2026, 9, 14), "won", 54000, "VIP"])
    ws.append(["ru-02", "15.09.2026", "lost", None, None])
    wb.save(tmp_path / "m.xlsx")
    t = read_metadata(tmp_path / "m.xlsx")
    assert t["ru-01"] == {"date": "2026-09-14", "outcome": "won", "amount": 54000, "note": "VIP"}
    assert t["ru-02"] == {"date": "2026-09-15", "outcome": "lost"}


@pytest.mark.parametrize("text,needle", [
    ("name,outcome\nx,won\n", "no key column"),
    ("call_id,outcome\na,maybe\nb,won\n", "row 2, column 'outcome': outcome 'maybe' is not won, lost or pending"),
    ("call_id,amount\na,lots\n", "amount 'lots' is not a number"),
    ("call_id,date\na,31.02.2026\n", "not a valid date"),
    ("call_id,date\na,yesterday\n", "not a date"),
    ("call_id,outcome\na,won\na,lost\n", "'a' already appears in row 2"),
    ("call_id,outcome\n,won\n", "key column 'call_id' is empty"),
    ("", "empty"),
])
def test_bad_files_fail_with_a_clear_reason(tmp_path, text, needle):
    p = write(tmp_path / "m.csv", text)
    with pytest.raises(InputFormatError) as e:
        read_metadata(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_every_problem_is_listed_at_once(tmp_path):
    p = write(tmp_path / "m.csv", "call_id,outcome,amount\na,won,1\nb,??,2\nc,lost,x\n")
    with pytest.raises(InputFormatError) as e:
        read_metadata(p)
    assert "row 3" in str(e.value) and "row 4" in str(e.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(InputFormatError, match="not found"):
        read_metadata(tmp_path / "nope.csv")
    p = tmp_path / "b.csv"
    p.write_bytes(b"\x00\x01\x02\x03" * 100)
    with pytest.raises(InputFormatError, match="binary"):
        read_metadata(p)
    p = tmp_path / "broken.xlsx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputFormatError, match="cannot open the workbook"):
        read_metadata(p)


def test_header_only_file_gives_an_empty_table(tmp_path):
    assert read_metadata(write(tmp_path / "m.csv", "call_id,outcome\n")) == {}


@pytest.mark.parametrize("word,outcome", [("WON", "won"), ("Closed-Won", "won"), ("успешно", "won"), ("Сделка", "won"),
                                           ("Отказ", "lost"), ("closed_lost", "lost"), ("нет", "lost"),
                                           ("In Progress", "pending"), ("перезвонить", "pending"), ("думает", "pending")])
def test_outcome_synonyms(word, outcome):
    assert normalize_outcome(word) == outcome


def test_apply_by_call_id_file_name_and_stem(tmp_path):
    with Store(tmp_path / "s") as st:
        for cid, src in [("ru-01", "/calls/ru-01.ogg"), ("rec_002", "/x/rec_002.mp3"), ("EN-03", None),
                         ("other", "/x/other.wav")]:
            st.save_call(Call(cid, [Turn("agent", "Добрый день"), Turn("customer", "Здравствуйте")], "ru"),
                         "imported", source_path=src)
        table = {"ru-01": {"outcome": "won"}, "rec_002.mp3": {"outcome": "lost"},
                 "en-03": {"outcome": "pending"}, "nobody": {"outcome": "won"},
                 "calls/other.wav": {"agent": "Ирина"}}
        matched, unmatched = apply_metadata(st, table)
        assert matched == 4 and unmatched == ["nobody"]
        assert st.get_call("ru-01").metadata == {"outcome": "won"}
        assert st.get_call("rec_002").metadata == {"outcome": "lost"}
        assert st.get_call("EN-03").metadata == {"outcome": "pending"}  # case-insensitive fallback
        assert st.get_call("other").metadata == {"agent": "Ирина"}
        assert st.calls_frame().set_index("call_id").loc["ru-01", "outcome"] == "won"
        # merged, not replaced: a second table adds fields
        apply_metadata(st, {"ru-01": {"amount": 5}})
        assert st.get_call("ru-01").metadata == {"outcome": "won", "amount": 5}
        assert apply_metadata(st, {}) == (0, [])
        assert st.integrity_check() == []


def test_sample_metadata_reads():
    from pathlib import Path

    t = read_metadata(Path(__file__).resolve().parents[1] / "data" / "sample" / "metadata.csv")
    assert len(t) >= 6 and {v["outcome"] for v in t.values()} == {"won", "lost", "pending"}
