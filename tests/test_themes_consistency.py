"""Themes a user can trust: identical statements share a theme, the user's names and merges survive
reruns with new calls, and the report language changes wording only."""
import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from nlp.store import Store
from nlp.themes import build_themes, edit_themes, read_theme_edits, text_key, themes_file, ThemeError
from nlp.types import Call, Statement, Turn

FIELD = Path(__file__).parent / "data" / "field" / "duplicate-statements" / "statements.csv"


@pytest.mark.parametrize("vectors", [pytest.param("e5", marks=pytest.mark.slow), "tfidf"])
def test_field_case_duplicate_statements_one_theme_per_text(tmp_path, vectors):
    """Field case: 15 copies of one objection among 31 other statements. Every distinct text (case and
    punctuation aside) gets exactly one theme and one outlier flag."""
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(app, ["cluster", str(FIELD), "--out", str(out), "--vectors", vectors])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out, keep_default_na=False)
    by_text = df.groupby(df["text"].map(text_key)).agg({"theme_id": "nunique", "outlier": "nunique"})
    assert (by_text["theme_id"] == 1).all() and (by_text["outlier"] == 1).all()
    dup = df[df["text"] == "Дороговато, в другом клубе дешевле"]
    assert len(dup) == 15 and str(dup["outlier"].iloc[0]).lower() == "false"


def test_near_identical_statements_share_a_theme(tmp_path):
    texts = ["Дорого.", "дорого", "ДОРОГО!", "Дорого", "Когда доставка?", "когда доставка", "Есть рассрочка?",
             "есть рассрочка", "Далеко ехать", "далеко ехать..."]
    csv_path = tmp_path / "t.csv"
    pd.DataFrame({"text": texts}).to_csv(csv_path, index=False)
    out = tmp_path / "o.csv"
    r = CliRunner().invoke(app, ["cluster", str(csv_path), "--out", str(out), "--vectors", "tfidf"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out, keep_default_na=False)
    assert (df.groupby(df["text"].map(text_key))["theme_id"].nunique() == 1).all()


RU = {"price": ["Дорого, у конкурентов дешевле", "Слишком дорого для нас", "Цена высокая, дорого",
                "Дорого, в другом месте дешевле"],
      "husband": ["Надо посоветоваться с мужем", "Я с мужем посоветуюсь", "Муж решает, посоветуюсь с ним",
                  "Посоветуюсь с мужем и перезвоню"],
      "wait": ["Долго ждать изготовления", "Шесть недель ждать слишком долго", "Ждать долго, не подходит",
               "Долго ждать, нам нужно быстрее"]}
EN = {"price": ["That is too expensive for us", "Too expensive, others are cheaper", "The price is too expensive",
                "Way too expensive compared to others"],
      "husband": ["I need to talk to my husband", "Let me talk to my husband first", "My husband decides, I will talk to him",
                  "I'll talk to my husband and call back"]}

RU_NEED = {"install": ["Нужна сборка под ключ", "Чтобы собрали под ключ", "Сборка под ключ обязательно",
                       "Нужна установка и сборка под ключ"],
           "eco": ["Материалы без запаха", "Чтобы материалы были без запаха", "Безопасные материалы без запаха",
                   "Без запаха, у нас ребёнок"]}
EN_NEED = {"install": ["We need full installation included", "Installation must be included",
                       "Full installation, we can't do it ourselves", "Installation included please"]}


def _fill(st: Store, prefix: str, groups: dict, lang: str, outcome_of=lambda i: "lost", start: int = 0,
          kind: str = "objection") -> None:
    stmts = []
    i = start
    for texts in groups.values():
        for text in texts:
            cid = f"{prefix}-{i:03d}"
            turns = [Turn("agent", "Слушаю вас" if lang == "ru" else "Go ahead", 0.0, 1.0),
                     Turn("customer", text, 1.5, 4.0)]
            st.save_call(Call(cid, turns, lang, {"outcome": outcome_of(i), "date": "2026-09-01",
                                                 "agent": "Ольга" if lang == "ru" else "Alice",
                                                 "lead_source": "site"}), "imported")
            stmts.append(Statement(cid, 1, kind, text, 0.9, lang, 1.5, 0))
            i += 1
    st.replace_statements(stmts)


def _themes(st: Store) -> dict[str, dict]:
    return {r["theme_id"]: dict(r) for r in st.db.execute("SELECT * FROM themes WHERE kind='objection'")}


def _theme_of(st: Store, text: str) -> str:
    return st.db.execute("SELECT t.theme_id FROM statement_themes t JOIN statements s ON s.id=t.statement_id "
                         "WHERE s.text=? LIMIT 1", (text,)).fetchone()[0]


def test_rename_and_merge_survive_a_rerun_with_new_calls(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, "m1", RU, "ru")
        build_themes(st, kinds=["objection"], vectors="tfidf")
        price, husband, wait = (_theme_of(st, RU[k][0]) for k in ("price", "husband", "wait"))
        assert len({price, husband, wait}) == 3
        edit_themes(st, rename=(f"objection:{price}", "Цена выше, чем у конкурентов"))
        edit_themes(st, merge=(wait, husband), kind="objection")
        build_themes(st, kinds=["objection"], vectors="tfidf")
        th = _themes(st)
        assert th[price]["label"] == "Цена выше, чем у конкурентов"
        assert wait not in th and th[husband]["n_statements"] == 8
        assert json.loads(th[price]["info_json"])["labels"]["ru"] == "Цена выше, чем у конкурентов"
        # Next month: new calls, same store; the saved themes keep their ids, the user's edits stay.
        _fill(st, "m2", {"price": ["Дорого, у конкурентов дешевле", "Очень дорого, дешевле найдём"],
                         "wait": ["Долго ждать, нам нужно быстрее"]}, "ru", start=100)
        res = build_themes(st, kinds=["objection"], vectors="tfidf")
        assert res["objection"]["refit"] is False
        th = _themes(st)
        assert th[price]["label"] == "Цена выше, чем у конкурентов" and wait not in th
        assert _theme_of(st, "Долго ждать, нам нужно быстрее") == husband
        edits = read_theme_edits(themes_file(st))
        assert edits["objection"][price]["name"] == "Цена выше, чем у конкурентов"
        assert edits["objection"][wait]["merge_into"] == husband
        with open(themes_file(st), encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        assert {"kind", "theme_id", "label", "name", "merge_into", "statements"} <= set(rows[0])
        # An empty name gives the automatic label back.
        edit_themes(st, rename=(f"objection:{price}", ""))
        build_themes(st, kinds=["objection"], vectors="tfidf")
        assert _themes(st)[price]["label"] != "Цена выше, чем у конкурентов"


def test_themes_cli_rename_merge_and_bad_edits(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, "m1", RU, "ru")
        build_themes(st, kinds=["objection"], vectors="tfidf")
        price, husband, wait = (_theme_of(st, RU[k][0]) for k in ("price", "husband", "wait"))
    run = CliRunner().invoke
    r = run(app, ["themes", "--store", str(tmp_path / "s"), "--vectors", "tfidf", "--kind", "objection",
                  "--rename", price, "Дорого"])
    assert r.exit_code == 0, r.output
    r = run(app, ["themes", "--store", str(tmp_path / "s"), "--vectors", "tfidf", "--merge", f"objection:{wait}",
                  f"objection:{husband}"])
    assert r.exit_code == 0, r.output
    with Store(tmp_path / "s") as st:
        th = _themes(st)
        assert th[price]["label"] == "Дорого" and wait not in th
    r = run(app, ["themes", "--store", str(tmp_path / "s"), "--rename", "objection:99", "x"])
    assert r.exit_code == 2 and "no theme '99'" in r.output
    r = run(app, ["themes", "--store", str(tmp_path / "s"), "--merge", f"objection:{husband}", f"objection:{wait}"])
    assert r.exit_code == 2 and "merge the other way" in r.output
    themes_file_path = tmp_path / "s" / "themes.csv"
    themes_file_path.write_text("kind,theme_id,name\nobjections,1,x\n", encoding="utf-8")
    r = run(app, ["themes", "--store", str(tmp_path / "s"), "--vectors", "tfidf"])
    assert r.exit_code == 2 and "line 2" in r.output and "themes.csv" in r.output


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False)
    except pd.errors.EmptyDataError:  # a table with no rows
        return pd.DataFrame()


def test_report_language_changes_wording_only(tmp_path):
    from nlp.report import build_report

    with Store(tmp_path / "s") as st:
        _fill(st, "ru", RU, "ru", outcome_of=lambda i: ["won", "lost", "lost"][i % 3])
        _fill(st, "en", EN, "en", outcome_of=lambda i: ["won", "lost", "lost"][i % 3], start=50)
        _fill(st, "rn", RU_NEED, "ru", outcome_of=lambda i: ["won", "lost"][i % 2], start=100, kind="need")
        _fill(st, "en", EN_NEED, "en", outcome_of=lambda i: ["won", "lost"][i % 2], start=150, kind="need")
        build_themes(st, kinds=["objection", "need"], vectors="tfidf")
        offer = tmp_path / "offer.md"
        offer.write_text("# Кухни «Дом» / Home Kitchens\n- Изготовление за неделю\n- Made in one week\n"
                         "- Рассрочка без переплаты\n", encoding="utf-8")
        out = {}
        for lang in ("ru", "en"):
            res = build_report(st, tmp_path / lang, lang=lang, offer_path=offer)
            tdir = tmp_path / lang / "tables"
            out[lang] = {name: _read(tdir / f"{name}.csv")
                         for name in ("themes", "recommendations", "lost_vs_won", "statements")}
            assert res is not None
    for name, cols in (("themes", ["kind", "theme_id", "n_calls", "n_statements", "won", "lost"]),
                       ("lost_vs_won", ["kind", "theme_id", "lost", "won"]),
                       ("recommendations", ["area", "kind", "theme_id", "support_calls", "support_base"]),
                       ("statements", ["kind", "theme_id", "call_id", "text"])):
        a, b = out["ru"][name], out["en"][name]
        if a.empty and b.empty:
            continue
        key = [c for c in cols if c in a.columns]
        assert a[key].sort_values(key).reset_index(drop=True).equals(b[key].sort_values(key).reset_index(drop=True)), name
    assert len(out["ru"]["recommendations"]) == len(out["en"]["recommendations"]) > 0
    # the same order too: ties are not broken by the shown wording
    for name in ("themes", "recommendations"):
        assert [tuple(r) for r in out["ru"][name][["kind", "theme_id"]].astype(str).values] == \
            [tuple(r) for r in out["en"][name][["kind", "theme_id"]].astype(str).values], name
    # every statement of every theme is in the full list
    th = out["ru"]["themes"]
    full = out["ru"]["statements"].groupby(["kind", "theme_id"]).size().to_dict()
    assert full == {(k, t): n for k, t, n in zip(th["kind"], th["theme_id"], th["n_statements"])}


def test_split_a_theme_and_keep_it_across_reruns(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, "m1", RU, "ru")
        build_themes(st, kinds=["objection"], vectors="tfidf")
        husband, wait = _theme_of(st, RU["husband"][0]), _theme_of(st, RU["wait"][0])
        edit_themes(st, merge=(f"objection:{wait}", f"objection:{husband}"))
        build_themes(st, kinds=["objection"], vectors="tfidf")
        assert _themes(st)[husband]["n_statements"] == 8
        edit_themes(st, split=(f"objection:{husband}", 2))
        build_themes(st, kinds=["objection"], vectors="tfidf")
        th = _themes(st)
        assert husband not in th and {f"{husband}.1", f"{husband}.2"} <= set(th)
        parts = {_theme_of(st, t) for t in RU["wait"]}, {_theme_of(st, t) for t in RU["husband"]}
        assert len(parts[0]) == 1 and len(parts[1]) == 1 and parts[0] != parts[1]
        edit_themes(st, rename=(f"objection:{husband}.1", "Первая часть"))
        _fill(st, "m2", {"wait": ["Долго ждать, нам нужно быстрее"]}, "ru", start=100)
        build_themes(st, kinds=["objection"], vectors="tfidf")
        th = _themes(st)
        assert th[f"{husband}.1"]["label"] == "Первая часть" and f"{husband}.2" in th
        with pytest.raises(ThemeError, match="split a theme into 1"):
            edit_themes(st, split=(f"objection:{husband}", 1))
