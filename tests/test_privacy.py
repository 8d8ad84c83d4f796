"""Privacy everywhere: personal data in file names (call recorders' "<date>_<phone>_<contact>" stems),
numbers dictated over several turns, surnames, spelled e-mails and names in theme labels never reach an
output with redaction on (report, tables, exports, statements, gap CSVs, printed lines, call ids), and
do with --no-redact. The handed field case and invented calls in both languages go through the real CLI."""

from __future__ import annotations

import json
import re
import sqlite3
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from nlp.redact import (PSEUDONYM_RE, Redactor, find_pii_turns, personal_id, pseudonym, redact, redact_turns,
                        safe_message, safe_path)
from nlp.store import MIGRATIONS, Store

FIELD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "field" / "pii-in-filename"
FIELD_NAME = "20260915_094210.552+0300_out_+79031112233_Анна Смирнова.txt"

SCRIPT = """# Скрипт / Script
## greeting: Приветствие / Greeting
- Здравствуйте, студия, меня зовут
- Thanks for calling, this is
## name: Имя / Name
- Как вас зовут?
- Who am I speaking with?
## contact: Контакт / Contact
- Продиктуйте номер телефона
- What's the best number to reach you?
"""

# Invented calls: every kind of personal data, in Russian and English, in the file names and the turns.
RU_NAME = "20260920_101500_in_+79165554433_Олег Кравцов.txt"
RU_CALL = """Менеджер: Здравствуйте, студия «Окна Плюс», меня зовут Дарья. Как вас зовут?
Клиент: Меня зовут Олег Кравцов. Сколько стоит остекление балкона?
Менеджер: От сорока тысяч рублей. Продиктуйте номер телефона, пожалуйста.
Клиент: Восемь девятьсот шестнадцать
Менеджер: Да
Клиент: пятьсот пятьдесят пять, сорок четыре, тридцать три.
Менеджер: Записала. А почта есть?
Клиент: Можно прислать договор на почту олег точка кравцов собака яндекс точка ру?
Менеджер: Конечно. Как будете платить?
Клиент: Можно оплатить с номера 5500 0000 0000 0004? Или карта 4276 3800 1234 5679 подойдёт?
Менеджер: Подойдёт. Для договора нужны документы.
Клиент: Паспорт серия 4510 номер 654321 подойдёт? И нужен ли мой ИНН 500100732259?
Менеджер: Да, и СНИЛС.
Клиент: СНИЛС 112-233-445 95, этого хватит? Звоните на +7 916 555-44-33, если что.
"""
EN_NAME = "John Kowalski_20260921_143000.txt"
EN_CALL = """Agent: Thanks for calling BrightSun Solar, this is Megan. Who am I speaking with?
Customer: My name is Zoltan Kowalczyk. Can you send a quote for a six kilowatt system?
Agent: Sure. What's the best number to reach you?
Customer: It's four one five, five five five
Agent: uh-huh
Customer: zero one four two.
Agent: Got it. And your email?
Customer: Could you send it to zoltan dot kowalczyk at gmail dot com? Or to zk.solar@example.org?
Agent: Will do, Mr. Kowalczyk. How would you like to pay the deposit?
Customer: Can I pay with my card 4276 3800 1234 5679? Or use 4111 1111 1111 1111 instead?
Agent: Either works. We also need an ID for the permit.
Customer: Is my passport number 533112244 enough? Do you need my social security number 123-45-6789?
Agent: The passport is enough. My colleague will call you back at (415) 555-0142.
"""
SECRETS = {
    "ru": ["79165554433", "916 555-44-33", "Олег", "Кравцов", "пятьсот пятьдесят пять", "олег точка кравцов",
           "5500 0000 0000 0004", "4276 3800 1234 5679", "654321", "500100732259", "112-233-445 95", "Дарья"],
    "en": ["Kowalski", "Zoltan", "Kowalczyk", "four one five", "zero one four two", "zoltan dot kowalczyk",
           "zk.solar@example.org", "4276 3800 1234 5679", "4111 1111 1111 1111", "533112244", "123-45-6789",
           "555-0142", "Megan"],
}
TAGS = ["[телефон]", "[имя]", "[email]", "[карта]", "[паспорт]", "[ИНН]", "[СНИЛС]",
        "[phone]", "[name]", "[card]", "[passport]", "[SSN]"]
FIELD_SECRETS = ["79031112233", "+7 903", "903 111", "9031112233", "Смирнова", "Анна", "Марина"]


def output_text(path: Path) -> str:
    """Everything a person could read in an output file, whatever its format."""
    if path.suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        return "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                         for c in row if c is not None)
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_csv(index=False)
    return path.read_bytes().decode("utf-8", errors="replace")


def outputs(root: Path, store: Path) -> dict[str, str]:
    """Every file under `root` except the store (the private workspace that keeps the originals)."""
    return {str(p.relative_to(root)): output_text(p) for p in sorted(root.rglob("*"))
            if p.is_file() and store not in p.parents}


def leaks(texts: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    return [(name, s) for name, t in texts.items() for s in secrets if s.lower() in t.lower()]


def cli(args: list[str], log: dict[str, str]) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    log[" ".join(map(str, args[:1])) + f"#{len(log)}"] = r.output  # stdout and stderr together
    return r.output


def run_chain(inputs: Path, work: Path, redact_on: bool) -> tuple[dict[str, str], dict[str, str], Path]:
    """import → extract → themes → gaps → report → export (json, csv, parquet) through the CLI."""
    store, out = work / "store", work / "out"
    work.mkdir(parents=True, exist_ok=True)
    (work / "script.md").write_text(SCRIPT, encoding="utf-8")
    nr = [] if redact_on else ["--no-redact"]
    said: dict[str, str] = {}
    cli(["import", inputs, "--store", store], said)
    cli(["extract", "--store", store, "--out", out / "statements.jsonl", *nr], said)
    cli(["themes", "--store", store, "--vectors", "tfidf"], said)
    cli(["gaps", "--store", store, "--script", work / "script.md", "--out", out / "gaps", *nr], said)
    cli(["report", "--store", store, "--out", out / "report", *nr], said)
    for fmt in ("json", "csv", "parquet"):
        cli(["export", "--store", store, "--out", out / f"calls.{fmt}", *nr], said)
    return outputs(out, store), said, store


# ---- the handed field case ---------------------------------------------------------------------
@pytest.mark.slow  # three CLI chains and `run` (~20 s); personal file names: tests/test_behaviour_privacy.py
@pytest.mark.skipif(not FIELD.is_dir(), reason="field data not present")
def test_field_case_phone_and_name_in_file_name_reach_no_output(tmp_path):
    files, said, store = run_chain(FIELD, tmp_path / "on", redact_on=True)
    assert {"report/report.html", "report/report.md", "report/report.xlsx", "report/tables/quotes.csv",
            "calls.json", "calls.csv", "calls.parquet", "statements.jsonl", "gaps/adherence.csv"} <= set(files)
    assert leaks(files, FIELD_SECRETS) == [] and leaks(said, FIELD_SECRETS) == []
    with Store(store) as st:
        (pid,) = st.call_ids()
        assert PSEUDONYM_RE.match(pid) and st.aliases() == {Path(FIELD_NAME).stem: pid}
        assert st.transcript_path(pid).exists() and not any("Смирнова" in p.name for p in st.path.rglob("*"))
    # the pseudonym is what people see, the same one in every output
    for name in ("report/report.md", "report/tables/quotes.csv", "calls.csv", "statements.jsonl",
                 "gaps/adherence.csv"):
        assert pid in files[name], name
    # the mapping is in the store, for who may see it
    mapping = cli(["ids", "--store", store], {})
    assert pid in mapping and "79031112233" in mapping and "Анна Смирнова" in mapping
    # a rerun keeps the id (skip, metadata and themes stay stable)
    cli(["import", FIELD, "--store", store], said)
    with Store(store) as st:
        assert st.call_ids() == [pid]

    # `run`: every stage in one go, its progress display included
    said = {}
    cli(["run", FIELD, "--out", tmp_path / "run", "--script", tmp_path / "on" / "script.md"], said)
    files = outputs(tmp_path / "run", tmp_path / "run" / "store")
    assert "report.html" in files and "script-gaps/adherence.csv" in files
    assert leaks(files, FIELD_SECRETS) == [] and leaks(said, FIELD_SECRETS) == []

    files, _, _ = run_chain(FIELD, tmp_path / "off", redact_on=False)
    stem = Path(FIELD_NAME).stem
    for name in ("report/report.md", "report/tables/quotes.csv", "calls.json", "calls.csv", "statements.jsonl",
                 "gaps/adherence.csv"):
        assert stem in files[name], name
    assert "Марина" in files["calls.json"]


# ---- every kind, invented, both languages ------------------------------------------------------
@pytest.mark.slow  # two whole CLI chains (~30 s); the fast version is tests/test_behaviour_privacy.py
def test_every_kind_in_every_output_redacted_and_kept_with_no_redact(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    (calls / RU_NAME).write_text(RU_CALL, encoding="utf-8")
    (calls / EN_NAME).write_text(EN_CALL, encoding="utf-8")
    secrets = SECRETS["ru"] + SECRETS["en"]

    on, said, store = run_chain(calls, tmp_path / "on", redact_on=True)
    assert leaks(on, secrets) == [] and leaks(said, secrets) == []
    assert leaks(on, ["+79165554433", "Олег Кравцов", "John Kowalski"]) == []
    export = on["calls.json"]
    assert all(tag in export for tag in TAGS), [t for t in TAGS if t not in export]
    with Store(store) as st:
        ids = st.call_ids()
        assert len(ids) == 2 and all(PSEUDONYM_RE.match(c) for c in ids)
        n_statements = len(st.statements())
    statements = [json.loads(x) for x in on["statements.jsonl"].splitlines()]
    assert len(statements) == n_statements and {s["call_id"] for s in statements} <= set(ids)

    off, _, _ = run_chain(calls, tmp_path / "off", redact_on=False)
    # with --no-redact everything is there: the test above could have failed
    assert [s for s in secrets if s.lower() not in off["calls.json"].lower()] == []
    assert "Олег Кравцов" in off["report/report.md"] and "John Kowalski" in off["report/tables/quotes.csv"]
    kept_in_report = [s for s in secrets if s.lower() in off["report/report.md"].lower()]
    assert len(kept_in_report) >= 5, kept_in_report  # quotes carry personal data when not redacted


def test_import_lines_and_failures_show_no_personal_file_names(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / RU_NAME).write_text(RU_CALL, encoding="utf-8")
    bad = d / "2026-09-22 10-00-00 Мария Кузнецова +7 926 111-22-33.txt"
    bad.write_text("просто текст без ролей\nещё строка", encoding="utf-8")
    r = CliRunner().invoke(app, ["import", str(d), "--store", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
    assert leaks({"out": r.output}, ["Кузнецова", "Мария", "926", "Кравцов", "79165554433"]) == []
    assert "FAILED" in r.output and re.search(r"\[call-[a-z]{10}\]\.txt", r.output)
    with Store(tmp_path / "st") as st:
        failed = st.errors("import")
        assert len(failed) == 1 and PSEUDONYM_RE.match(failed[0]["call_id"])
        assert st.aliases()[bad.stem] == failed[0]["call_id"]
        assert bad.name in failed[0]["source_path"]  # the store keeps it, for `callbridge ids`
    # the report's failed-files table: call id, path and message, none personal (an import-only store has
    # nothing to report: statements first)
    r = CliRunner().invoke(app, ["extract", "--store", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "st"), "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert failed[0]["call_id"] in html and failed[0]["call_id"] in md
    assert leaks({"html": html, "md": md}, ["Кузнецова", "Мария", "926 111", "Кравцов", "79165554433"]) == []


# ---- pseudonymous ids --------------------------------------------------------------------------
@pytest.mark.parametrize("stem", [
    Path(FIELD_NAME).stem,
    "Анна Смирнова_260915_094210",                       # Samsung: contact, date, time
    "Call@+79031112233(0079031112233)_20260915094210",   # ACR-style
    "+7 903 111-22-33_20260915",
    "8-903-11-22-33",
    "Kowalski_20260915_094210",
    "Zoltan Kowalczyk",
    "John_Smith",
    "call_4155550199",
    "rec jane.doe@example.com 2026-09-15",
])
def test_personal_stems(stem):
    assert personal_id(stem)


@pytest.mark.parametrize("stem", ["ru-kitchen-001", "hv-0a76782d", "18345601", "call-0914-b", "min-gain",
                                  "otter-call-0919-long", "call_20260915_094210_in", "rec_2026-09-15_09-42-10",
                                  "Запись звонка 2026-09-15 09-42-10", "en-windows-01", "call-kqzdtrwbmh"])
def test_ordinary_ids_stay(stem):
    assert not personal_id(stem)


def test_pseudonym_is_keyed_stable_and_never_personal():
    a = pseudonym("20260915_+79031112233_Анна", b"k1")
    assert a == pseudonym("20260915_+79031112233_Анна", b"k1") != pseudonym("20260915_+79031112233_Анна", b"k2")
    assert PSEUDONYM_RE.match(a) and not personal_id(a)
    many = {pseudonym(f"+7903{i:07d}", b"k") for i in range(2000)}
    assert len(many) == 2000 and not any(personal_id(p) for p in list(many)[:200])


def test_store_mapping_migration_and_safety_net(tmp_path):
    # a v1 store (before pseudonyms) upgrades in place
    db = tmp_path / "old" / "callbridge.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.executescript(MIGRATIONS[0] + ";PRAGMA user_version=1;")
    con.close()
    with Store(tmp_path / "old") as st:
        assert st.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert st.aliases() == {}
        from nlp.types import Call, Turn

        call = Call("Анна Смирнова_260915_094210", [Turn("agent", "Здравствуйте"), Turn("customer", "Добрый день")])
        st.save_call(call, "imported")  # the safety net: no personal id reaches a table or a file name
        pid = call.call_id
        assert PSEUDONYM_RE.match(pid) and st.call_ids() == [pid]
        assert st.call_id_for("Анна Смирнова_260915_094210") == pid == st.call_id_for(pid)
        assert st.original_id(pid) == "Анна Смирнова_260915_094210" and st.original_id("x") == "x"
        assert st.call_id_for("ru-kitchen-001") == "ru-kitchen-001"
        st.record_error("import", "bad", call_id="+79031112233_Иван")
        assert PSEUDONYM_RE.match(st.errors()[0]["call_id"])
        names = " ".join(p.name for p in st.path.rglob("*"))
        assert "Анна" not in names
        key = st.get_kv("pseudonym_key")
    with Store(tmp_path / "old") as st:  # stable across sessions
        assert st.get_kv("pseudonym_key") == key and st.call_id_for("Анна Смирнова_260915_094210") == pid


def test_safe_path_and_message():
    p = f"/data/calls/{FIELD_NAME}"
    assert safe_path(p, "call-bbbbbbbbbb") == "/data/calls/[call-bbbbbbbbbb].txt"
    assert safe_path("/data/Анна Смирнова/rec1.amr") == "/data/[…]/rec1.amr"
    assert safe_path("rel/ru-kitchen-001.json") == "rel/ru-kitchen-001.json"
    msg = safe_message(f"Invalid data found when processing input: '{p}'", p, "call-bbbbbbbbbb")
    assert "Смирнова" not in msg and "79031112233" not in msg and "[call-bbbbbbbbbb].txt" in msg


def test_redactor_off_shows_originals_and_on_maps_old_ids(tmp_path):
    with Store(tmp_path / "st") as st:
        pid = st.call_id_for("+79031112233_Иван")
        off, on = Redactor(st, enabled=False), Redactor(st, enabled=True)
        assert off.call_id(pid) == "+79031112233_Иван" and on.call_id(pid) == pid
        # an id kept from an older store is mapped at the output boundary
        assert PSEUDONYM_RE.match(on.call_id("Мария Кузнецова_260915_094210"))
        assert on.message("call_id '+79031112233_Иван' was already imported") == f"call_id '{pid}' was already imported"
    assert PSEUDONYM_RE.match(Redactor().call_id("+79031112233_Иван")) and Redactor().call_id("ru-1") == "ru-1"


# ---- numbers over several turns, surnames, spelled e-mails ------------------------------------
@pytest.mark.parametrize("turns,secrets,tag", [
    (["Продиктуйте номер, пожалуйста.", "восемь девятьсот три", "да", "один один один два два три три", "Спасибо."],
     ["восемь девятьсот три", "один один один два два три три"], "[телефон]"),
    (["Ваш телефон?", "Восемь, девятьсот двадцать шесть.", "Так, записываю.", "Семьсот семьдесят семь, ноль ноль, "
      "сорок два."], ["девятьсот двадцать шесть", "семьсот семьдесят семь"], "[телефон]"),
    (["What's the best number to reach you?", "It's five five five.", "Uh-huh.", "One two three four.", "Thanks!"],
     ["five five five", "One two three four"], "[phone]"),
    (["Can I get a callback number?", "Sure, 212", "okay", "555 0188"], ["212", "555 0188"], "[phone]"),
])
def test_phone_dictated_over_several_turns(turns, secrets, tag):
    out = redact_turns(turns)
    joined = "\n".join(out)
    assert not [s for s in secrets if s in joined] and tag in joined, out
    # the listener's turn and the turns around stay as they were
    assert out[0] == turns[0] and out[2] == turns[2]
    # each turn alone is not enough: the call's context found it
    assert any(s in redact(t) for t in turns for s in secrets)


def test_short_numbers_over_turns_are_not_phones():
    turns = ["Сколько стоит?", "Тридцать шесть тысяч рублей.", "А за полгода?", "Двадцать две тысячи.",
             "How many windows?", "Six.", "ok", "And two doors, three hundred dollars each."]
    assert redact_turns(turns) == turns


@pytest.mark.parametrize("text,secrets,tag", [
    ("Меня зовут Анна Смирнова, хочу абонемент.", ["Анна", "Смирнова"], "[имя]"),
    ("Добрый день, меня зовут Гульнара Абдрахманова-Сафина.", ["Гульнара", "Абдрахманова"], "[имя]"),
    ("меня зовут олег кравцов, по поводу окон", ["олег", "кравцов"], "[имя]"),
    ("Моя фамилия Тимофеев, запишите.", ["Тимофеев"], "[имя]"),
    ("My name is John Kowalski and I need a quote.", ["John", "Kowalski"], "[name]"),
    ("hi, my name is zoltan kowalczyk, calling about solar", ["zoltan", "kowalczyk"], "[name]"),
    ("My last name is Przybylski, with a P.", ["Przybylski"], "[name]"),
    ("My name is Anna-Maria O'Neill.", ["Anna-Maria", "O'Neill"], "[name]"),
])
def test_first_name_and_surname_after_a_cue(text, secrets, tag):
    out = redact(text)
    assert not [s for s in secrets if s in out] and tag in out, out


def test_surname_said_once_is_masked_in_later_turns():
    turns = ["Who am I speaking with?", "My name is Zoltan Kowalczyk.", "Thanks, Mr. Kowalczyk.",
             "Yes, kowalczyk with a k-o-w.", "Как вас зовут?", "Меня зовут Олег Кравцов.", "Кравцов, записала."]
    out = " ".join(redact_turns(turns))
    assert "owalczyk" not in out and "Zoltan" not in out and "Кравцов" not in out and "Олег" not in out, out
    assert "with a" in out and "записала" in out


@pytest.mark.parametrize("text,secret,tag", [
    ("Пишите на иван точка петров собака яндекс точка ру, пожалуйста.", "иван точка петров", "[email]"),
    ("почта марина подчёркивание эс собака мейл точка ру", "собака мейл", "[email]"),
    ("send it to john dot smith at gmail dot com please", "john dot smith", "[email]"),
    ("my email is k dot lee dot 77 at outlook dot com", "lee dot 77", "[email]"),
])
def test_spelled_email(text, secret, tag):
    out = redact(text)
    assert secret not in out and tag in out, out


# ---- names in theme labels and terms ----------------------------------------------------------
def test_theme_labels_and_terms_never_carry_a_name(tmp_path):
    from nlp.themes import build_themes, cluster_texts
    from nlp.types import Call, Statement, Turn

    friend = ["My friend Karen uses your service and loves it.", "Karen said you were the best in town.",
              "My friend Karen recommended you to me.", "My neighbour Karen told me about you, she uses it.",
              "Karen uses you every month, so I'm calling.", "Karen, my friend, said the price is fair."]
    other = ["The price is too high for us right now.", "It is too expensive, the price is a lot.",
             "The price seems high compared to others.", "I think the price is too much for me."]
    ru = ["Мне Анна Смирнова посоветовала ваш клуб.", "Подруга Анна ходит к вам и советует.",
          "Анна Смирнова сказала, что у вас хорошие тренеры.", "Меня к вам Анна направила, подруга."]
    texts = friend + other + ru
    with Store(tmp_path / "st") as st:
        stmts = []
        for i, t in enumerate(texts):
            cid = f"c{i:02d}"
            st.save_call(Call(cid, [Turn("agent", "Hello"), Turn("customer", t)], "ru" if i >= 10 else "en"),
                         "imported")
            stmts.append(Statement(cid, 1, "motive", t, 0.9, "ru" if i >= 10 else "en", None, 0))
        st.replace_statements(stmts)
        build_themes(st, kinds=["motive"], vectors="tfidf")
        rows = st.db.execute("SELECT label, info_json FROM themes").fetchall()
    assert rows
    for label, info in rows:  # quotes stay verbatim in the store; the report redacts them
        info = json.loads(info)
        words = " ".join([label] + info["terms"] + list(info["labels"].values())
                         + [t for v in info["terms_by_language"].values() for t in v]).lower()
        assert not re.search(r"karen|анн|смирнов", words), (label, info["terms"])
    labels = cluster_texts(texts, vectors="tfidf").theme_labels
    assert labels and not re.search(r"karen|анн|смирнов", " ".join(labels.values()).lower()), labels


def test_report_terms_of_an_old_store_are_cleaned(tmp_path):
    """A store themed before names were kept out of terms: the report still shows none."""
    from nlp.report import build_report
    from nlp.types import Call, Statement, Turn

    with Store(tmp_path / "st") as st:
        st.save_call(Call("c1", [Turn("agent", "Hi"), Turn("customer", "My friend Karen uses you.")], "en"),
                     "imported")
        st.replace_statements([Statement("c1", 1, "motive", "My friend Karen uses you.", 0.9, "en", 1.0, 0)])
        (sid,) = [i for i, _ in st.statements()]
        info = {"terms": ["friend karen", "karen use", "friend"], "labels": {"en": "friend karen / karen use"},
                "quotes": [{"call_id": "c1", "turn": 1, "start": 1.0, "text": "My friend Karen uses you."}]}
        with st.transaction() as db:
            db.execute("INSERT INTO themes VALUES ('motive', '0', 'friend karen / karen use', 1, 1, 1.0, 0, ?)",
                       (json.dumps(info),))
            db.execute("INSERT INTO statement_themes VALUES (?, 'motive', '0', 0, 0.9)", (sid,))
        res = build_report(st, tmp_path / "rep", lang="en")
        texts = [res.md.read_text(encoding="utf-8"), res.html.read_text(encoding="utf-8")]
        texts += [p.read_text(encoding="utf-8") for p in res.csv]
        assert not any("karen" in t.lower() for t in texts)
        res = build_report(st, tmp_path / "rep2", lang="en", redact=False)
        assert "Karen" in res.md.read_text(encoding="utf-8")


def test_quote_redacted_with_its_call_as_context(tmp_path):
    from nlp.types import Call, Turn

    with Store(tmp_path / "st") as st:
        st.save_call(Call("c1", [Turn("agent", "Ваш номер?"), Turn("customer", "восемь девятьсот три"),
                                 Turn("agent", "да"), Turn("customer", "один один один два два три три, звоните вечером")],
                          "ru"), "imported")
        red = Redactor(st)
        quote = "один один один два два три три, звоните вечером"
        assert redact(quote) == quote  # alone it is not a phone number
        assert red.text(quote, call_id="c1", turn=3) == "[телефон], звоните вечером"
        assert red.text(quote, call_id="c1") == "[телефон], звоните вечером"
        assert Redactor(st, enabled=False).text(quote, call_id="c1") == quote


def test_turn_spans_stay_inside_their_turns():
    turns = ["Номер?", "8 916", "ага", "123 45 67", "", "Спасибо"]
    spans = find_pii_turns(turns)
    for t, ss in zip(turns, spans):
        for a, b, _ in ss:
            assert 0 <= a < b <= len(t)
    assert spans[1] and spans[3] and not spans[2] and not spans[5]


def test_company_names_after_name_cues_stay():
    for text in ["uh the company name is fossil gas", "My business name is Kowalski Plumbing.",
                 "Название компании Ромашка, запишите."]:
        assert redact(text) == text
    assert redact("the company name is Acme, and my name is jasper quill") == \
        "the company name is Acme, and my name is [name]"


def test_transcribed_recordings_get_pseudonyms_and_print_none(tmp_path):
    """The recordings path: a call recorder's file name never reaches the store's ids or the printed lines."""
    from test_transcribe import EnergyRecognizer, dialogue, write_wav

    from nlp.transcribe import TranscribeOptions, Transcriber, transcribe_paths

    d = tmp_path / "rec"
    d.mkdir()
    good = write_wav(d / "20260915_094210_out_+79031112233_Анна Смирнова.wav", dialogue())
    (d / "Мария Кузнецова_260916_101010.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    logs: list[str] = []
    with Store(tmp_path / "st") as st:
        tr = Transcriber(TranscribeOptions(), recognizer=EnergyRecognizer())
        s = transcribe_paths([d], st, transcriber=tr, log=logs.append)
        assert len(s.done) == 1 and len(s.failed) == 1
        ids = st.call_ids()
        assert len(ids) == 1 and PSEUDONYM_RE.match(ids[0]) and st.aliases()[good.stem] == ids[0]
        assert PSEUDONYM_RE.match(st.errors("transcribe")[0]["call_id"])
        said = "\n".join(logs + [s.text()])
        assert leaks({"log": said}, ["79031112233", "Смирнова", "Анна", "Кузнецова", "Мария"]) == [], said
        assert f"[{ids[0]}].wav" in said
        s2 = transcribe_paths([d], st, transcriber=tr, log=logs.append)
        assert [r.call_id for r in s2.skipped] == ids  # the pseudonym is stable: a rerun skips
