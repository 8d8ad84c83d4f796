"""Report: numbers, escaping, redaction and exports, on a store filled with realistic rows.

The store is filled directly (calls with CRM metadata, statements, themes, statement_themes,
script_steps, adherence, coverage) so these tests do not depend on the other stages. The browser
checks live in test_report_browser.py.
"""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from nlp.errors import InputFormatError
from nlp.report import build_report, dominant_language, md_escape
from nlp.report import charts
from nlp.report.analysis import fisher_exact_p, lost_won_stats, norm_outcome
from nlp.store import Store
from nlp.types import Call, Statement, Turn

HOSTILE_SCRIPT = "<script>window.__pwned=1</script>"
HOSTILE_IMG = '<img src=x onerror="window.__pwned=2">'
PHONE = {"ru": "+7 916 123-45-67", "en": "+1 415 555 0199"}
EMAIL = {"ru": "ivan.petrov@mail.ru", "en": "john.smith@example.com"}

# kind -> theme id -> (label, statement texts); a business per language
THEMES = {
    "ru": {
        "opening": {"price": ("Сколько стоит кухня", ["Здравствуйте, сколько стоит кухня под ключ?",
                                                      "Хотела узнать цену на угловую кухню"]),
                    "measure": ("Вызвать замерщика", ["Можно вызвать замерщика на субботу?",
                                                      "Хочу записаться на бесплатный замер"])},
        "motive": {"move": ("Переезд в новую квартиру", ["Мы переезжаем в новую квартиру",
                                                         "Купили квартиру, нужна кухня"]),
                   "old": ("Старая кухня развалилась", ["Старая кухня совсем развалилась",
                                                        "Фасады отклеились, надоело"])},
        "need": {"fast": ("Быстрая сборка", ["Нужно, чтобы собрали за неделю", "Важно успеть до ремонта"]),
                 "storage": ("Много места для хранения", ["Нужно много ящиков для посуды",
                                                          "Хочется побольше места для хранения"]),
                 "installment": ("Рассрочка", ["Хотим в рассрочку", "Можно платить частями?"])},
        "objection": {"expensive": ("Дорого", ["Дороговато, у конкурентов дешевле", "Это слишком дорого для нас"]),
                      "think": ("Надо посоветоваться", ["Мне нужно посоветоваться с мужем", "Я подумаю и перезвоню"]),
                      "wait": ("Долго ждать", ["Шесть недель ждать — это долго", "Долго ждать изготовления"])},
        "question": {"warranty": ("Гарантия", ["Какая гарантия на фасады?", "Сколько лет гарантия?"]),
                     "delivery": ("Доставка", ["Доставка входит в цену?", "Вы доставляете за город?"])},
    },
    "en": {
        "opening": {"quote": ("Price of a solar system", ["Hi, how much is a solar system for my house?",
                                                          "I'd like a quote for panels"]),
                    "survey": ("Book a site survey", ["Can someone come and look at my roof?",
                                                      "I want to book a survey"])},
        "motive": {"bills": ("High electricity bills", ["Our electricity bills are crazy high",
                                                         "The power bill keeps going up"]),
                   "green": ("Go green", ["We want to be more environmentally friendly", "I care about the climate"])},
        "need": {"battery": ("Battery backup", ["We need a battery for outages", "Backup power matters to us"]),
                 "financing": ("Financing", ["Do you offer financing?", "We'd need monthly payments"]),
                 "fast": ("Quick installation", ["We need it installed before summer", "How fast can you install?"])},
        "objection": {"expensive": ("Too expensive", ["That's too expensive for us", "Another company quoted less"]),
                      "think": ("Need to think", ["I need to talk to my wife", "Let me think about it"]),
                      "roof": ("Roof condition", ["My roof is old, not sure it can hold panels",
                                                  "The roof needs work first"])},
        "question": {"warranty": ("Warranty", ["What's the warranty on panels?", "How long is the warranty?"]),
                     "permits": ("Permits", ["Do you handle permits?", "Who deals with the city permits?"])},
    },
}
AGENTS = {"ru": ["Ирина", "Олег", "Мария"], "en": ["Alice", "Bob", "Carol"]}
SOURCES = ["yandex_direct", "avito", "referral", "site"]
STEPS = [("greeting", "Приветствие / Greeting"), ("needs_question", "Выявление потребностей / Needs"),
         ("installment", "Рассрочка / Financing"), ("close", "Закрытие / Close")]


def make_store(path, lang="ru", n=30, hostile=False, lang_mix=None, with_script=True, with_themes=True) -> Store:
    """A store with n calls of one business; outcomes correlate with themes so there is a signal:
    'expensive' and 'wait'/'roof' objections lean lost, 'installment'/'financing' needs lean won."""
    st = Store(path)
    th = THEMES[lang]
    statements, assign = [], []
    for i in range(n):
        cid = f"{lang}-call-{i:03d}"
        call_lang = lang_mix[i % len(lang_mix)] if lang_mix else lang
        outcome = ["won", "lost", "lost", "won", "pending"][i % 5]
        picks = {"opening": list(th["opening"])[i % 2], "motive": list(th["motive"])[(i // 2) % 2],
                 "need": list(th["need"])[i % 3], "question": list(th["question"])[(i // 3) % 2]}
        objs = []
        if outcome == "lost":
            objs = [list(th["objection"])[0], list(th["objection"])[2 if i % 2 else 1]]
        elif i % 4 == 0:
            objs = [list(th["objection"])[1]]
        turns = [Turn("agent", "Добрый день, кухни «Дом»!" if lang == "ru" else "Good morning, SunCo!", 0.0, 3.0)]
        call_stmts = []
        t = 3.5
        for kind, tid in list(picks.items()) + [("objection", o) for o in objs]:
            text = th[kind][tid][1][i % 2]
            if hostile and i == 1 and kind == "opening":
                text = f"{text} {HOSTILE_SCRIPT} {HOSTILE_IMG} мой номер {PHONE[lang]}, почта {EMAIL[lang]}"
            turns.append(Turn("customer", text, t, t + 4.0))
            call_stmts.append((kind, tid, len(turns) - 1, text, t))
            turns.append(Turn("agent", "Понимаю." if lang == "ru" else "I see.", t + 4.5, t + 6.0))
            t += 7.0
        meta = {"date": f"2026-{7 + i % 3:02d}-{1 + (i * 7) % 27:02d}", "agent": AGENTS[lang][i % 3],
                "lead_source": SOURCES[i % 4], "campaign": "autumn_sale" if i % 2 else "brand",
                "outcome": outcome, "amount": 50000 + 1000 * i if outcome == "won" else None}
        if hostile and i == 2:
            meta["lead_source"] = HOSTILE_IMG
            meta["agent"] = HOSTILE_SCRIPT
        st.save_call(Call(cid, turns, call_lang, meta), "imported")
        for kind, tid, turn, text, start in call_stmts:
            statements.append(Statement(cid, turn, kind, text, 0.9, call_lang, start, 0))
            assign.append((kind, tid))
    st.replace_statements(statements)
    if with_themes:
        rows = st.statements()
        with st.transaction() as db:
            members = {}
            for (sid, s), (kind, tid) in zip(rows, assign):
                db.execute("INSERT INTO statement_themes(statement_id, kind, theme_id, outlier, score) VALUES (?,?,?,?,?)",
                           (sid, kind, tid, 0, 0.8))
                members.setdefault((kind, tid), []).append(s)
            for (kind, tid), ss in members.items():
                label = th[kind][tid][0]
                if hostile and kind == "objection" and tid == "expensive":
                    label = f"{label} {HOSTILE_SCRIPT}"
                info = {"quotes": [{"call_id": s.call_id, "turn": s.turn, "start": s.start, "text": s.text}
                                   for s in ss[:3]], "terms": label.lower().split()[:3]}
                db.execute("INSERT INTO themes(kind, theme_id, label, n_statements, n_calls, share_calls, emerging,"
                           " info_json) VALUES (?,?,?,?,?,?,?,?)",
                           (kind, tid, label, len(ss), len({s.call_id for s in ss}), len({s.call_id for s in ss}) / n,
                            0, json.dumps(info, ensure_ascii=False)))
    if with_script:
        with st.transaction() as db:
            for pos, (sid, title) in enumerate(STEPS):
                db.execute("INSERT INTO script_steps(step_id, position, title, examples_json) VALUES (?,?,?,?)",
                           (sid, pos, title, "[]"))
            for i in range(n):
                cid = f"{lang}-call-{i:03d}"
                lost = i % 5 in (1, 2)
                for sid, _ in STEPS:
                    present = 0 if (sid == "installment" and lost) or (sid == "close" and i % 3 == 0) else 1
                    db.execute("INSERT INTO adherence(call_id, step_id, present, score, evidence, turn, start)"
                               " VALUES (?,?,?,?,?,?,?)", (cid, sid, present, 0.7, None, 0, 0.0))
            for tid, covered in zip(list(th["objection"]), (1, 0, 0)):
                label = th["objection"][tid][0]
                db.execute("INSERT INTO coverage(kind, theme_id, label, covered, best_step, score, n_calls, n_lost,"
                           " n_won, lift_lost, info_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                           ("objection", tid, label, covered, "installment", 0.62 if covered else 0.31,
                            10, 8 if tid != "think" else 1, 1, 4.0 if tid != "think" else 0.5, "{}"))
    return st


@pytest.fixture(scope="module")
def ru_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("ru")
    st = make_store(root / "store", "ru", hostile=True)
    offer = root / "offer.md"
    offer.write_text("# Кухни «Дом»\n- Быстрая сборка за 7 дней\n- Гарантия 10 лет на фасады\n", encoding="utf-8")
    res = build_report(st, root / "out", offer_path=offer)
    yield res, st
    st.close()


@pytest.fixture(scope="module")
def en_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("en")
    st = make_store(root / "store", "en", hostile=True)
    offer = root / "offer.md"
    offer.write_text("# SunCo solar\nPanels with a 25-year warranty. We handle the city permits for you.\n",
                     encoding="utf-8")
    res = build_report(st, root / "out", offer_path=offer)
    yield res, st
    st.close()


def test_outputs_written_and_language_defaults_to_calls(ru_report, en_report):
    for res, lang in ((ru_report[0], "ru"), (en_report[0], "en")):
        assert res.lang == lang and res.n_calls == 30
        assert res.html.exists() and res.md.exists() and res.xlsx.exists()
        names = {p.name for p in res.csv}
        assert {"themes.csv", "quotes.csv", "channels.csv", "lost_vs_won.csv", "agents.csv",
                "recommendations.csv", "coverage.csv", "script_steps.csv", "channel_themes.csv"} <= names
    assert "Что изменить" in ru_report[0].html.read_text() and "What to change" in en_report[0].html.read_text()


@pytest.mark.parametrize("which", ["ru_report", "en_report"])
def test_hostile_text_is_escaped_everywhere(which, request):
    res, _ = request.getfixturevalue(which)
    html = res.html.read_text()
    # no live markup from transcripts or metadata: the only tags are the template's own
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    md = res.md.read_text()
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md
    # SVG text is escaped too (the hostile theme label is in the objection bar chart)
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert svgs and any("&lt;script&gt;" in s for s in svgs)


@pytest.mark.parametrize("which,lang", [("ru_report", "ru"), ("en_report", "en")])
def test_quotes_and_exports_are_redacted(which, lang, request):
    res, _ = request.getfixturevalue(which)
    digits = re.sub(r"\D", "", PHONE[lang])
    for path in [res.html, res.md, *res.csv]:
        text = path.read_text(encoding="utf-8-sig")
        assert EMAIL[lang] not in text, path
        assert digits not in re.sub(r"\D", "", text), path
    from openpyxl import load_workbook

    wb = load_workbook(res.xlsx)
    cells = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None)
    assert EMAIL[lang] not in cells and PHONE[lang] not in cells
    # the quote itself is still there, only the personal data is masked
    quotes = pd.read_csv(res.out_dir / "tables/quotes.csv", encoding="utf-8-sig")
    assert quotes["text"].str.contains("window.__pwned").any()


def test_no_redact_keeps_text(tmp_path):
    st = make_store(tmp_path / "s", "ru", n=10, hostile=True)
    res = build_report(st, tmp_path / "out", redact=False)
    html = res.html.read_text()
    assert EMAIL["ru"] in html and "ВЫКЛЮЧЕНО" in html
    st.close()


def test_numbers_match_the_store(ru_report):
    res, st = ru_report
    themes = pd.read_csv(res.out_dir / "tables/themes.csv", encoding="utf-8-sig")
    exp = themes[(themes.kind == "objection") & (themes.theme_id == "expensive")].iloc[0]
    # 'expensive' is said in every lost call: i % 5 in (1, 2) -> 12 of 30 calls, all lost
    assert exp.n_calls == 12 and exp.lost == 12 and exp.won == 0
    assert exp.share_calls == pytest.approx(12 / 30, abs=1e-3)
    lw = pd.read_csv(res.out_dir / "tables/lost_vs_won.csv", encoding="utf-8-sig")
    row = lw[(lw.kind == "objection") & (lw.theme_id == "expensive")].iloc[0]
    assert row.lift > 5 and row.p < 0.001
    ch = pd.read_csv(res.out_dir / "tables/channels.csv", encoding="utf-8-sig")
    assert ch[ch.dimension == "lead_source"].calls.sum() == 30
    agents = pd.read_csv(res.out_dir / "tables/agents.csv", encoding="utf-8-sig")
    assert agents.calls.sum() == 30 and set(agents.agent) >= {"Ирина", "Олег", "Мария"}
    steps = pd.read_csv(res.out_dir / "tables/script_steps.csv", encoding="utf-8-sig")
    inst = steps[steps.step_id == "installment"].iloc[0]
    assert inst.skipped == 12 and inst.conv_skipped == 0 and inst.conv_done == 1


def test_recommendations_point_to_evidence(ru_report):
    res, _ = ru_report
    recs = pd.read_csv(res.out_dir / "tables/recommendations.csv", encoding="utf-8-sig")
    html = res.html.read_text()
    # offer mentions fast assembly but not installments or storage
    offer = recs[recs.area == "offer"]
    assert "installment" in set(offer.theme_id) and "storage" in set(offer.theme_id)
    assert "fast" not in set(offer.theme_id)
    # objections heard in lost calls with no script step: 'wait' (8 lost), never the covered 'expensive'
    script = recs[recs.area == "script"]
    assert "wait" in set(script.theme_id) and "expensive" not in set(script.theme_id)
    # the skipped installment step, with conversion either way
    assert "installment" in set(script[script.kind == "step"].theme_id)
    for ev in recs.evidence:
        assert f'id="{ev[1:]}"' in html, ev


def test_small_sample_warning(tmp_path):
    st = make_store(tmp_path / "s", "en", n=8)
    res = build_report(st, tmp_path / "out")
    html = res.html.read_text()
    # said once, in the caveats at the top, with the counts agreeing with their nouns
    assert html.count("Few calls with an outcome") == 1 and "3 won calls and 4 lost calls" in html
    st.close()
    big = make_store(tmp_path / "b", "en", n=60)
    res = build_report(big, tmp_path / "out2")
    assert "Few calls with an outcome" not in res.html.read_text()
    big.close()


def test_empty_store(tmp_path):
    st = Store(tmp_path / "s")
    with pytest.raises(InputFormatError, match="no calls.*callbridge import"):
        build_report(st, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    st.close()


def test_store_without_themes_or_script(tmp_path):
    st = make_store(tmp_path / "s", "en", n=12, with_script=False, with_themes=False)
    res = build_report(st, tmp_path / "out", lang="ru")
    html = res.html.read_text()
    assert res.lang == "ru" and "--script script.md" in html and "--offer offer.md" in html
    assert html.count("Темы не построены") == 1 and "callbridge themes --store" in html
    themes = pd.read_csv(tmp_path / "out/tables/themes.csv", encoding="utf-8-sig")
    assert len(themes) > 0  # identical statements still group
    st.close()


def test_bad_inputs(tmp_path):
    st = make_store(tmp_path / "s", "en", n=3)
    with pytest.raises(InputFormatError, match="language"):
        build_report(st, tmp_path / "o", lang="de")
    with pytest.raises(InputFormatError, match="offer"):
        build_report(st, tmp_path / "o", offer_path=tmp_path / "missing.md")
    (tmp_path / "empty.md").write_text("  \n")
    with pytest.raises(InputFormatError, match="empty"):
        build_report(st, tmp_path / "o", offer_path=tmp_path / "empty.md")
    st.close()


def test_dominant_language(tmp_path):
    st = make_store(tmp_path / "s", "en", n=6, lang_mix=["ru", "ru", "en"])
    assert dominant_language(st) == "ru"
    st.close()


def test_spreadsheet_formula_injection_is_neutralised(tmp_path):
    st = make_store(tmp_path / "s", "en", n=6)
    st.db.execute("UPDATE themes SET label='=HYPERLINK(\"http://x\",\"y\")' WHERE theme_id='bills'")
    res = build_report(st, tmp_path / "out")
    from openpyxl import load_workbook

    ws = load_workbook(res.xlsx)["themes"]
    vals = [c.value for row in ws.iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://x\",\"y\")" in vals
    st.close()


def test_units():
    assert norm_outcome("WON") == "won" and norm_outcome("отказ") == "lost" and norm_outcome(None) == "unknown"
    lift, p = lost_won_stats(8, 10, 1, 10)
    assert lift > 4 and p < 0.01
    assert lost_won_stats(1, 0, 1, 5) == (None, None)
    # same values as scipy.stats.fisher_exact (two-sided)
    assert fisher_exact_p(8, 2, 1, 9) == pytest.approx(0.005477494641581329)
    assert fisher_exact_p(3, 1, 1, 3) == pytest.approx(0.48571428571428565)
    assert fisher_exact_p(0, 5, 5, 0) == pytest.approx(0.007936507936507938)
    assert md_escape("a|b <b>x</b>\nc") == "a\\|b &lt;b&gt;x&lt;/b&gt; c"
    svg = charts.hbar([("<b>x</b>", 0.5, "50%")], "t<")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "<rect" in svg
    assert charts.hbar([], "t") == "" and charts.lines(["a"], [("x", [1.0])], "t") == ""


def test_offer_lines_join_wrapped_paragraphs():
    from nlp.report.recommend import offer_lines

    text = ("# Company — offer\n\n**Warm windows.** Installed in\none day. Free estimate.\n\n"
            "- Гарантия 10 лет\n- Рассрочка без переплаты\n")
    assert offer_lines(text) == ["Warm windows.", "Installed in one day.", "Free estimate.",
                                 "Гарантия 10 лет", "Рассрочка без переплаты"]
    assert offer_lines("# Only a title\n") == []


def test_labels_complete_in_both_languages():
    from nlp.report import translations

    tr = translations()

    def keys(d, prefix=""):
        return {prefix + k for k in d} | {x for k, v in d.items() if isinstance(v, dict) for x in keys(v, k + ".")}

    assert keys(tr["ru"]) == keys(tr["en"])


def test_failed_calls_listed_and_escaped(tmp_path):
    st = make_store(tmp_path / "s", "ru", n=6)
    st.record_error("transcribe", f"cannot decode {HOSTILE_IMG}", call_id="ru-bad", source_path="calls/bad.ogg")
    res = build_report(st, tmp_path / "out", lang="en")
    html = res.html.read_text()
    assert 'id="errors"' in html and "calls/bad.ogg" in html and "<img" not in html
    st.close()
