"""CRM metadata: reading CSV/XLSX in Russian and English spellings, value normalisation, clear
errors for bad files, and joining to stored calls by call_id, file name or stem."""

from pathlib import Path

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
    ("", "empty"),
    ("call_id;outcome\na;won;x;y\nb;lost;1;2\nc;won\n", "2 of 3 rows have more cells than the header"),
])
def test_files_with_a_wrong_structure_fail_with_a_clear_reason(tmp_path, text, needle):
    p = write(tmp_path / "m.csv", text)
    with pytest.raises(InputFormatError) as e:
        read_metadata(p)
    assert needle in str(e.value) and str(p) in str(e.value)


@pytest.mark.parametrize("text,kept,needle", [
    ("call_id,outcome\na,maybe\nb,won\n", {"a": {"outcome": "pending"}, "b": {"outcome": "won"}},
     "column 'outcome': 'maybe' is not a won or lost stage: read as pending (row 2)"),
    ("call_id,amount\na,lots\nb,5\n", {"a": {}, "b": {"amount": 5}}, "amount 'lots' is not a number: left out (row 2)"),
    ("call_id,date\na,31.02.2026\n", {"a": {}}, "not a valid date"),
    ("call_id,date\na,yesterday\n", {"a": {}}, "not a date"),
    ("call_id,outcome\na,won\na,lost\n", {"a": {"outcome": "won"}},
     "'a' already appears in row 2: the later row is skipped (row 3)"),
    ("call_id,outcome\n,won\nb,lost\n", {"b": {"outcome": "lost"}}, "key column 'call_id' is empty: row skipped (row 2)"),
    ("call_id;outcome\na;won;x\nb;lost\nc;won\n", {"b": {"outcome": "lost"}, "c": {"outcome": "won"}},
     "more cells than the header's 2 columns"),
])
def test_a_bad_value_in_a_row_warns_and_keeps_the_rest(tmp_path, text, kept, needle):
    p = write(tmp_path / "m.csv", text)
    seen = []
    t = read_metadata(p, warn=seen.append)
    assert dict(t) == kept
    assert any(needle in w for w in t.warnings), t.warnings
    assert seen == t.warnings


def test_problems_are_grouped_by_kind_with_their_rows(tmp_path):
    rows = "".join(f"r{i},КП отправлено,{i}\n" for i in range(30)) + "x,??,1\ny,lost,x\n"
    t = read_metadata(write(tmp_path / "m.csv", "call_id,outcome,amount\n" + rows))
    assert len(t) == 32 and t["r5"] == {"outcome": "pending", "amount": 5} and t["y"] == {"outcome": "lost"}
    stage = [w for w in t.warnings if "КП отправлено" in w]
    assert len(stage) == 1 and "rows 2, 3, 4, 5, 6, 7, 8, 9 and 22 more" in stage[0]
    assert any("'??'" in w and "row 32" in w for w in t.warnings)
    assert any("amount 'x'" in w and "row 33" in w for w in t.warnings)
    assert any("metadata.json" in w for w in t.warnings)  # says where to map a custom stage


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


# copies of the handed field cases (shared/data/field/), so the tests run anywhere
FIELD = Path(__file__).parent / "data" / "field"


def test_field_amocrm_export_system_stages_budget_and_creation_date():
    # amoCRM deal export: cp1251, ';', system stages, a custom stage, 'Бюджет', 'Дата создания'
    t = read_metadata(FIELD / "amocrm-statuses" / "amocrm-leads.csv")
    assert t["18345601"] == {"agent": "Марина Кузнецова", "outcome": "won", "amount": 36000,
                             "date": "2026-09-14T10:15", "Название сделки": "Абонемент годовой"}
    assert t["18345602"]["outcome"] == "lost" and t["18345602"]["amount"] == 0
    assert t["18345602"]["date"] == "2026-09-15T12:40"
    assert t["18345603"]["outcome"] == "pending" and "amount" not in t["18345603"]
    assert any("'отправлено предложение'" in w and "pending" in w and "row 4" in w for w in t.warnings)


def test_field_amocrm_calls_join_by_deal_id_on_import(tmp_path):
    from nlp.importers import import_paths

    case = FIELD / "amocrm-statuses"
    with Store(tmp_path / "s") as st:
        s = import_paths([case / "calls"], st, metadata=case / "amocrm-leads.csv")
        assert len(s.imported) == 3 and not s.failed and s.metadata_matched == 3
        by_deal = {Path(st.db.execute("SELECT source_path FROM calls WHERE call_id=?", (c,)).fetchone()[0]).stem:
                   st.get_call(c).metadata for c in st.call_ids()}
    assert {k: v["outcome"] for k, v in by_deal.items()} == {"18345601": "won", "18345602": "lost",
                                                               "18345603": "pending"}
    assert by_deal["18345601"]["amount"] == 36000 and by_deal["18345603"]["agent"] == "Игорь Белов"
    assert any("отправлено предложение" in w for w in s.warnings) and "warning:" in s.text()


def test_bitrix24_export_stages_and_ids(tmp_path):
    # Bitrix24 deal export as Excel saves it in a Russian locale: cp1251, ';', stage names and stage ids
    p = write(tmp_path / "deals.csv",
              "ID;Название;Стадия сделки;Сумма;Валюта;Дата создания;Ответственный\n"
              "70011;Кухня угловая;Сделка успешна;184 500,00;RUB;03.10.2026 11:02:00;Пётр Смирнов\n"
              "70012;Шкаф;Сделка провалена;0;RUB;04.10.2026;Пётр Смирнов\n"
              "70013;Диван;Замер назначен;52 000;RUB;46300;Анна Котова\n"
              "70014;Стол;C2:WON;9 900;RUB;05.10.2026;Анна Котова\n"
              "70015;Стул;LOSE;;RUB;05.10.2026;Анна Котова\n", encoding="cp1251")
    t = read_metadata(p)
    assert [t[k]["outcome"] for k in ("70011", "70012", "70013", "70014", "70015")] == \
        ["won", "lost", "pending", "won", "lost"]
    assert t["70011"]["amount"] == 184500 and t["70011"]["date"] == "2026-10-03T11:02"
    assert t["70013"]["date"] == "2026-10-05"  # an Excel serial date
    assert t["70011"]["Валюта"] == "RUB"
    assert [w for w in t.warnings if "Замер назначен" in w]


@pytest.mark.parametrize("word,outcome", [
    ("Успешно реализовано", "won"), ("Закрыто и не реализовано", "lost"), ("Сделка успешна", "won"),
    ("Сделка провалена", "lost"), ("Closed - won", "won"), ("Closed - lost", "lost"), ("Closed · Won", "won"),
    ("closedlost", "lost"), ("WON", "won"), ("LOSE", "lost"), ("C12:LOSE", "lost"), ("142", "won"), ("143", "lost"),
    ("Первичный контакт", "pending"), ("Переговоры", "pending"), ("Incoming leads", "pending"),
])
def test_crm_system_stages(word, outcome):
    assert normalize_outcome(word) == outcome


def test_english_crm_export_with_units_in_headers_and_serial_dates(tmp_path):
    p = write(tmp_path / "kommo.csv", "Deal ID,Lead title,Stage,\"Budget, USD\",Date created,Responsible user\n"
              "500123,Roof repair,Closed - won,\"12,400\",46279,Dana Whitfield\n"
              "500124,Gutters,Closed - lost,0,46280.5,Dana Whitfield\n"
              "500125,Siding,Estimate sent,\"8,000\",2026-09-16,Sam Ortega\n")
    t = read_metadata(p)
    assert t["500123"] == {"outcome": "won", "amount": 12400, "date": "2026-09-14", "agent": "Dana Whitfield",
                           "Lead title": "Roof repair"}
    assert t["500124"]["date"] == "2026-09-15T12:00" and t["500124"]["outcome"] == "lost"
    assert t["500125"]["outcome"] == "pending" and len(t.warnings) == 2  # the stage, and where to map it


def test_xlsx_with_excel_serial_dates_as_numbers(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["ID", "Статус", "Бюджет", "Дата создания"])
    ws.append([18345611, "Успешно реализовано", 36000, 46279])  # the date cell formatted as a number
    ws.append([18345612, "Закрыто и не реализовано", None, 46280.75])
    wb.save(tmp_path / "amo.xlsx")
    t = read_metadata(tmp_path / "amo.xlsx")
    assert t["18345611"] == {"outcome": "won", "amount": 36000, "date": "2026-09-14"}
    assert t["18345612"] == {"outcome": "lost", "date": "2026-09-15T18:00"}


def test_deal_id_inside_a_recording_name_joins(tmp_path):
    with Store(tmp_path / "s") as st:
        for cid, src in [("c1", "/rec/18345601_2026-09-14.mp3"), ("c2", "/rec/deal-18345602 (2).ogg"),
                         ("c3", "/rec/18345601-18345602.wav"), ("c4", "/rec/1834560.wav")]:
            st.save_call(Call(cid, [Turn("agent", "Добрый день"), Turn("customer", "Здравствуйте")], "ru"),
                         "imported", source_path=src)
        matched, unmatched = apply_metadata(st, {"18345601": {"outcome": "won"}, "18345602": {"outcome": "lost"}})
        assert matched == 2 and unmatched == []
        assert st.get_call("c1").metadata == {"outcome": "won"} and st.get_call("c2").metadata == {"outcome": "lost"}
        assert st.get_call("c3").metadata == {} and st.get_call("c4").metadata == {}  # two ids / a different number


def test_field_amocrm_run_warns_and_keeps_going(tmp_path):
    # `run` with the amoCRM export: the custom stage is a warning, not an abort; the rest joins
    from typer.testing import CliRunner

    from cli import app

    case = FIELD / "amocrm-statuses"
    r = CliRunner().invoke(app, ["run", str(case / "calls"), "--metadata", str(case / "amocrm-leads.csv"),
                                 "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "metadata: warning: column 'Статус': 'отправлено предложение'" in r.output and "3 calls matched" in r.output
    with Store(tmp_path / "out" / "store", create=False) as st:
        frame = st.calls_frame().set_index("call_id")
    assert sorted(frame["outcome"]) == ["lost", "pending", "won"]
    assert (tmp_path / "out" / "report.html").exists()
