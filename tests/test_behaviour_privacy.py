"""Personal data of every kind, said with and without a cue word, inside what customers say (so it
reaches quotes and statement tables, not only the transcript), through every output of the real
CLI: the report (HTML, Markdown, CSV tables, workbook), the statements file, the gap tables and the
exports (JSON, CSV, Parquet). With redaction on none of it is there; with --no-redact it is (so the
test can fail). Also: a card number said without "card" is still a card (the Luhn rule), not a phone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from nlp.redact import PSEUDONYM_RE, find_pii, luhn_ok, redact
from nlp.store import Store
from nlp.types import Statement

# (secret, kind, with a cue word?) — every kind of nlp.redact.KINDS, in both languages where it exists
RU_CALL = """Менеджер: Здравствуйте, окна «Светлый дом», слушаю вас.
Клиент: Здравствуйте, меня зовут Олег Смирнов, хочу поменять окна в квартире.
Менеджер: Почему решили менять окна сейчас?
Клиент: Дети пошли в школу, а у нас дует из всех щелей, Кравцова из соседней квартиры уже поменяла.
Менеджер: Что для вас важно?
Клиент: Нужно, чтобы договор был на ИНН 500100732259, и счёт на организацию 7707083893 тоже нужен.
Менеджер: Понимаю. Как будете оплачивать?
Клиент: Нужно списать предоплату с 4111 1111 1111 1111, а остаток с карты 5500 0000 0000 0004.
Менеджер: Хорошо. Для договора нужны документы.
Клиент: Мне надо подумать, паспорт серия 4510 номер 654321 я вам не дам, а 45 12 765432 это старый.
Менеджер: А СНИЛС?
Клиент: Это лишнее, СНИЛС 112-233-445 95 вам не нужен, и страховой номер 11223344595 тоже.
Менеджер: Как с вами связаться?
Клиент: Мне нужно, чтобы звонили на +7 916 555-44-33 или на телефон 325-47-80, и писали на oleg.smirnov@yandex.ru.
Менеджер: Записала. А мобильный продиктуете?
Клиент: Восемь девятьсот шестнадцать
Менеджер: Да
Клиент: семьсот двадцать два, восемнадцать, ноль девять.
Клиент: Слишком дорого, мой муж Игорь Кравцов против такой цены.
"""
EN_CALL = """Agent: Thanks for calling BrightSun Solar, how can I help?
Customer: Hi, my name is Zoltan Kowalczyk, I want a quote for solar panels.
Agent: What made you look into solar now?
Customer: Our power bill doubled and my neighbour Karen said her panels paid off in five years.
Agent: What matters most to you?
Customer: We need the contract to show my social security number 123456789, and 123-45-6789 is my wife's.
Agent: How would you like to pay?
Customer: I need to pay the deposit with 4111 1111 1111 1111, or my card 5500-0000-0000-0004.
Agent: We also need an ID for the permit.
Customer: I'm not sure about sending my passport number 533112244 over the phone, that worries me.
Agent: Understood. How do we reach you?
Customer: We need you to call (415) 555-0199 in the evening, or reach me at 555-0142, or write to zk.solar@example.org.
Agent: Will do. And your cell?
Customer: It's six two eight, nine one seven
Agent: uh-huh
Customer: three three eight one.
Customer: That's too expensive, my wife Megan Kowalczyk will say no to that price.
"""
SECRETS = {
    # kind: [(secret, with cue)]
    "name": [("Олег", True), ("Смирнов", True), ("Кравцова", False), ("Игорь", False), ("Zoltan", True),
             ("Kowalczyk", True), ("Karen", False), ("Megan", False)],
    "inn": [("500100732259", True), ("7707083893", False)],
    "card": [("4111 1111 1111 1111", False), ("5500 0000 0000 0004", True), ("5500-0000-0000-0004", True)],
    "passport": [("654321", True), ("765432", False), ("533112244", True)],
    "snils": [("112-233-445 95", False), ("11223344595", True)],
    "ssn": [("123456789", True), ("123-45-6789", False)],
    "phone": [("916 555-44-33", False), ("325-47-80", True), ("555-0199", False), ("555-0142", True),
              # dictated over three turns, the cue in the agent's question
              ("семьсот двадцать два", True), ("ноль девять", True), ("six two eight", True), ("three three eight one", True),
              # in the recorder's file names
              ("79165554433", False), ("79031112233", False)],
    "email": [("oleg.smirnov@yandex.ru", False), ("zk.solar@example.org", False)],
}
# call recorders' file names: "<date>_<time>_<direction>_<phone>_<contact>"; the call ids become pseudonyms
FILES = {"20260920_101500_in_+79165554433_Олег Смирнов.txt": RU_CALL,
         "Zoltan Kowalczyk_20260921_143000_+79031112233.txt": EN_CALL}
ALL = [s for pairs in SECRETS.values() for s, _ in pairs]
SCRIPT = "# Script\n## greeting: Greeting\n- Thanks for calling\n- Здравствуйте\n## need: Needs\n- What matters most to you?\n- Что для вас важно?\n"


def output_text(path: Path) -> str:
    if path.suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        return "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                         for c in row if c is not None)
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_csv(index=False)
    return path.read_bytes().decode("utf-8", errors="replace")


def outputs(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): output_text(p) for p in sorted(root.rglob("*")) if p.is_file()}


def found(texts: dict[str, str], secrets) -> dict[str, list[str]]:
    """secret -> the outputs it is in (case-insensitive)."""
    return {s: [n for n, t in texts.items() if s.lower() in t.lower()] for s in secrets
            if any(s.lower() in t.lower() for t in texts.values())}


def cli(*args) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    return r.output


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """One store (import, extract, themes), then every output with redaction on (statements file, gap
    tables, report, exports) and the report and exports with it off."""
    root = tmp_path_factory.mktemp("pii")
    (root / "calls").mkdir()
    for name, text in FILES.items():
        (root / "calls" / name).write_text(text, encoding="utf-8")
    (root / "script.md").write_text(SCRIPT, encoding="utf-8")
    store = root / "store"
    said = [cli("import", root / "calls", "--store", store),
            cli("extract", "--store", store, "--out", root / "on" / "statements.jsonl")]
    # The shipped extractor leaves dictated numbers out of statements (they are no motive, need or
    # objection), so only names would reach the report. A user's own model may keep them: every
    # customer turn becomes a statement here, so each kind of data is in a quote.
    with Store(store) as st:
        stmts = []
        for cid in st.call_ids():
            call = st.get_call(cid)
            cust = [i for i, t in enumerate(call.turns) if t.speaker == "customer"]
            stmts += [Statement(cid, i, ("motive", "need", "objection")[k % 3], call.turns[i].text, 0.9,
                                call.language, call.turns[i].start, 0) for k, i in enumerate(cust)]
        st.replace_statements(stmts)
    said.append(cli("themes", "--store", store, "--vectors", "tfidf"))
    out = {}
    said.append(cli("gaps", "--store", store, "--script", root / "script.md", "--out", root / "on" / "gaps"))
    for mode, flag in (("on", []), ("off", ["--no-redact"])):
        o = root / mode
        said.append(cli("report", "--store", store, "--out", o / "report", *flag))
        for fmt in ("json", "csv", "parquet"):
            said.append(cli("export", "--store", store, "--out", o / f"calls.{fmt}", *flag))
        out[mode] = outputs(o)
    return out, said


DICTATED = ("семьсот двадцать два", "ноль девять", "six two eight", "three three eight one")
THEME_TERM_FILES = ("report/tables/themes.csv", "report/report.xlsx")


# A theme's label and terms are cut from its statements' lemmas; pieces of a number dictated over
# several turns ("ноль девять") are unrecognisable there, so redacted outputs drop number-only terms.
def test_theme_terms_carry_no_piece_of_a_number_dictated_over_turns(chain):
    out, _ = chain
    assert found({k: out["on"][k] for k in THEME_TERM_FILES}, DICTATED) == {}


REPORT_FILES = ("report/report.html", "report/report.md", "report/tables/statements.csv", "report/report.xlsx")


def test_no_kind_of_personal_data_in_any_output_with_redaction_on(chain):
    out, said = chain
    assert {"report/report.html", "report/report.md", "report/report.xlsx", "report/tables/statements.csv",
            "report/tables/quotes.csv", "statements.jsonl", "calls.json", "calls.csv", "calls.parquet",
            "gaps/adherence.csv"} <= set(out["on"]), sorted(out["on"])
    leaks = found(out["on"], ALL)
    assert leaks == {}
    assert found({f"line{i}": s for i, s in enumerate(said)}, ALL) == {}
    assert found(out["on"], ["Олег Смирнов", "Zoltan Kowalczyk"]) == {}
    ids = set(re.findall(r"call-[a-z]{10}", out["on"]["calls.csv"]))
    assert len(ids) == 2 and all(PSEUDONYM_RE.match(c) for c in ids)
    assert all(c in out["on"]["report/tables/statements.csv"] for c in ids)
    tags = ["[телефон]", "[имя]", "[email]", "[карта]", "[паспорт]", "[ИНН]", "[СНИЛС]", "[phone]", "[name]",
            "[card]", "[passport]", "[SSN]"]
    assert [t for t in tags if t not in out["on"]["calls.json"]] == []


def test_every_secret_is_in_the_outputs_with_no_redact(chain):
    out, _ = chain
    exports = {k: v for k, v in out["off"].items() if k.startswith("calls.")}
    for name, text in exports.items():
        missing = [s for s in ALL if s.lower() not in text.lower()]
        assert missing == [], (name, missing)


def test_the_report_shows_what_customers_said_and_redacts_it(chain):
    """The statements with personal data reach the report when redaction is off, so the check that they
    are gone when it is on means something; names with and without a cue word included."""
    out, _ = chain
    off_report = {k: out["off"][k] for k in REPORT_FILES}
    in_report = found(off_report, ALL)
    kinds_in_report = {k for k, pairs in SECRETS.items() for s, _ in pairs if s in in_report}
    # Measured: all the secrets said in the calls are in tables/statements.csv and report.xlsx with
    # --no-redact, 22 of them in report.html/.md (the rest are in no theme's top quotes). Bound: every
    # kind, names with and without a cue word, all of them in the statement table, 20 in report.md.
    assert kinds_in_report == set(SECRETS), sorted(set(SECRETS) - kinds_in_report)
    names = dict(SECRETS["name"])
    assert any(names[s] for s in in_report if s in names) and any(not names[s] for s in in_report if s in names)
    table = out["off"]["report/tables/statements.csv"].lower()
    said_in_calls = [s for s in ALL if s.lower() in (RU_CALL + EN_CALL).lower()]
    assert [s for s in said_in_calls if s.lower() not in table] == []
    assert len(found({"md": out["off"]["report/report.md"]}, ALL)) >= 20
    on_report = {k: out["on"][k] for k in REPORT_FILES}
    # report.xlsx holds the themes sheet: the known leak of test_theme_terms_carry_no_piece_of_... aside
    assert found(on_report, [s for s in in_report if s not in DICTATED]) == {}
    assert found({k: v for k, v in on_report.items() if k != "report/report.xlsx"}, in_report) == {}
    md = out["on"]["report/report.md"].replace("\\[", "[").replace("\\]", "]")  # Markdown escapes brackets
    for tag in ("[имя]", "[name]", "[карта]", "[card]", "[телефон]", "[ИНН]", "[паспорт]", "[SSN]"):
        assert tag in md, tag
    table = out["on"]["report/tables/statements.csv"]
    for tag in ("[имя]", "[name]", "[карта]", "[card]", "[телефон]", "[phone]", "[email]", "[ИНН]", "[паспорт]",
                "[passport]", "[СНИЛС]", "[SSN]"):
        assert tag in table, tag


@pytest.mark.parametrize("text,lang,tag", [
    ("Спишите предоплату с 4111 1111 1111 1111, так удобнее.", "ru", "[карта]"),
    ("Оплачу с 4276 3800 1234 5679 сразу.", "ru", "[карта]"),
    ("Charge the deposit to 5500 0000 0000 0004 please.", "en", "[card]"),
    ("Take it from 4242-4242-4242-4242 today.", "en", "[card]"),
])
def test_card_number_without_a_cue_word_is_a_card_by_luhn(text, lang, tag):
    digits = re.sub(r"\D", "", re.search(r"\d[\d -]{12,}\d", text).group())
    assert luhn_ok(digits)  # the test's own premise: a valid card number
    assert re.search(r"карт|card|visa|master|\bмир\b", text.split(digits[:4])[0], re.I) is None  # no cue
    assert [k for _, _, k in find_pii(text)] == ["card"]
    out = redact(text, lang)
    assert tag in out and digits[:4] not in out and "[телефон]" not in out and "[phone]" not in out


def test_sixteen_digits_failing_luhn_without_a_cue_are_no_card():
    # the reference: 4111 1111 1111 1112 fails Luhn (the valid one ends in 1), and nothing says "card"
    assert not luhn_ok("4111111111111112")
    assert "card" not in [k for _, _, k in find_pii("Order 4111 1111 1111 1112 shipped.")]
