"""Script-gap analysis on small real calls (Russian and English) with real e5 embeddings."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp import gaps
from nlp.callio import read_calls
from nlp.script import read_script
from nlp.store import Store
from nlp.types import Call, Statement, Turn

DATA = Path(__file__).parent / "data" / "gaps"
CACHE = {}


def _store(tmp_path_factory, lang: str) -> Path:
    """A store with the fixture calls; built once per language, copied per test (embeddings cached)."""
    if lang not in CACHE:
        d = tmp_path_factory.mktemp(f"gaps-{lang}")
        with Store(d) as st:
            for c in read_calls([DATA / f"calls_{lang}"]):
                st.save_call(c, "imported")
            # one run fills the store's e5 cache (steps, agent units, customer turns), so each test's
            # copy embeds nothing again; every test's own run replaces the tables this run wrote
            gaps.run_gaps(st, read_script(DATA / {"ru": "script_ru.md", "en": "script_en.txt"}[lang]))
        CACHE[lang] = d
    return CACHE[lang]


@pytest.fixture
def ru_store(tmp_path_factory, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(_store(tmp_path_factory, "ru"), dst)
    with Store(dst) as st:
        yield st


@pytest.fixture
def en_store(tmp_path_factory, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(_store(tmp_path_factory, "en"), dst)
    with Store(dst) as st:
        yield st


def _present(res: gaps.GapResult) -> dict[tuple[str, str], int]:
    return {(r.call_id, r.step_id): r.present for r in res.adherence}


def test_russian_adherence_by_meaning(ru_store, tmp_path):
    script = read_script(DATA / "script_ru.md")
    res = gaps.run_gaps(ru_store, script, tmp_path / "out")
    p = _present(res)
    assert len(res.adherence) == 4 * 5
    # greeting paraphrased ("Здравствуйте, «Пример», Ирина, слушаю вас") still counts; "алло слушаю" does not
    assert [p[(f"gaps-ru-{i}", "greeting")] for i in (1, 2, 3, 4)] == [1, 0, 1, 1]
    # "Предлагаю бесплатный замер ... в будни или в выходные?" is the measurement step in other words
    assert [p[(f"gaps-ru-{i}", "measurement")] for i in (1, 2, 3, 4)] == [1, 0, 0, 1]
    assert p[("gaps-ru-3", "budget")] == 1 and p[("gaps-ru-4", "budget")] == 0
    assert sum(v for (c, _), v in p.items() if c == "gaps-ru-2") <= 1  # the rude call skips the script
    # budget asked before needs in ru-3: an order problem against the script
    inv = {(o.step_first, o.step_then): o for o in res.order}
    assert ("needs", "budget") in inv and "gaps-ru-3" in inv[("needs", "budget")].examples


def test_english_adherence_and_evidence(en_store, tmp_path):
    script = read_script(DATA / "script_en.txt")
    res = gaps.run_gaps(en_store, script, tmp_path / "out")
    p = _present(res)
    assert [p[(f"gaps-en-{i}", "inspection")] for i in (1, 2, 3)] == [1, 0, 0]
    assert [p[(f"gaps-en-{i}", "closing")] for i in (1, 2, 3)] == [1, 0, 1]
    assert p[("gaps-en-1", "budget")] == 1 and p[("gaps-en-3", "budget")] == 1
    calls = {c.call_id: c for c in read_calls([DATA / "calls_en"])}
    for r in res.adherence:
        assert 0.0 <= r.score <= 1.0
        if r.present:  # evidence: the agent sentence that performs the step, with its time
            turn = calls[r.call_id].turns[r.turn]
            assert turn.speaker == "agent" and r.evidence in turn.text
            assert turn.start <= r.start <= turn.end
            assert r.closest is None
        else:  # none; the closest sentence is kept apart, marked as not performing it
            assert r.evidence is None and r.turn is None and r.start is None
            assert r.closest in calls[r.call_id].turns[r.closest_turn].text
    ev = {(r.call_id, r.step_id): r.evidence for r in res.adherence}
    assert "inspection" in ev[("gaps-en-1", "inspection")]
    with open(tmp_path / "out" / "adherence.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    absent = [r for r in rows if r["present"] == "0"]
    assert absent and all(r["evidence"] == "" and r["closest_not_performing"] for r in absent)


def test_tables_csvs_and_summary(ru_store, tmp_path):
    script = read_script(DATA / "script_ru.md")
    out = tmp_path / "out"
    res = gaps.run_gaps(ru_store, script, out)
    db = ru_store.db
    assert [r[0] for r in db.execute("SELECT step_id FROM script_steps ORDER BY position")] == script.step_ids()
    assert db.execute("SELECT count(*) FROM adherence").fetchone()[0] == 20
    with open(out / "adherence.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20
    assert {"call_id", "step_id", "present", "score", "evidence", "start"} <= set(rows[0])
    with open(out / "steps.csv", encoding="utf-8") as f:
        steps = list(csv.DictReader(f))
    overall = [s for s in steps if s["agent"] == "(all)"]
    assert [s["step_id"] for s in overall] == script.step_ids()
    assert {s["agent"] for s in steps} == {"(all)", "Ирина", "Олег"}
    # four calls: outcome differences are never claimed
    assert all("too few calls" in s["outcome_note"] for s in overall)
    g = next(s for s in res.steps if s.step_id == "greeting" and not s.agent)
    assert (g.won_with, g.lost_with, g.won_without, g.lost_without) == (2, 1, 0, 1)
    summary = json.loads(ru_store.get_kv("gaps.summary"))
    assert summary["n_calls"] == 4 and len(summary["steps"]) == len(res.steps)
    assert (out / "order.csv").exists() and (out / "coverage.csv").exists()
    assert res.coverage_note  # no themes in this store: said, not silently empty


def test_empty_store_and_agentless_call(tmp_path):
    script = read_script(DATA / "script_en.txt")
    with Store(tmp_path / "empty") as st:
        res = gaps.run_gaps(st, script, tmp_path / "out")
        assert res.n_calls == 0 and res.adherence == [] and res.order == []
        assert (tmp_path / "out" / "adherence.csv").read_text().startswith("call_id,step_id")
        st.save_call(Call("only-customer", [Turn("customer", "Hello? Anyone there?")], "en"), "imported")
        res = gaps.run_gaps(st, script)
        assert len(res.adherence) == 5 and all(r.present == 0 and r.evidence is None for r in res.adherence)


def test_coverage_with_theme_rows(ru_store, tmp_path):
    """Themes filled the way `nlp.themes.build_themes` fills them: a price theme the budget step
    addresses, and a parking theme nothing in the script addresses."""
    price = ["Сколько это будет стоить?", "А какая цена за одно окно?", "Сколько стоит застеклить балкон?"]
    park = ["Где у вас офис, там есть парковка?", "А машину рядом с вами можно поставить?",
            "У вас можно припарковаться возле офиса?"]
    color = ["А коричневые рамы бывают?", "Можно раму под дерево сделать?", "Есть цветной профиль, не белый?"]
    pets = ["У нас кошка, она сетку не порвёт?", "Собака всё время лает, это не помешает?",
            "Кот постоянно сидит на подоконнике."]
    groups = {"price": price, "parking": park, "color": color, "pets": pets}
    where = {"price": ["gaps-ru-2", "gaps-ru-3", "gaps-ru-1"], "parking": ["gaps-ru-2", "gaps-ru-3", "gaps-ru-4"],
             "color": ["gaps-ru-1", "gaps-ru-4", "gaps-ru-4"], "pets": ["gaps-ru-1", "gaps-ru-1", "gaps-ru-4"]}
    stmts = [Statement(where[t][k], 1 + 2 * k, "question", txt) for t, txts in groups.items() for k, txt in enumerate(txts)]
    ru_store.replace_statements(stmts, ru_store.call_ids())
    theme_of = {txt: t for t, txts in groups.items() for txt in txts}
    ids = [(i, theme_of[s.text]) for i, s in ru_store.statements()]
    with ru_store.transaction() as db:
        for tid in groups:
            db.execute("INSERT INTO themes VALUES (?,?,?,?,?,?,?,?)",
                       ("question", tid, tid, 3, 3, 0.75, 0, json.dumps({"terms": [tid]})))
        db.executemany("INSERT INTO statement_themes VALUES (?,?,?,?,?)",
                       [(i, "question", tid, 0, 1.0) for i, tid in ids])
    script = read_script(DATA / "script_ru.md")
    res = gaps.run_gaps(ru_store, script, tmp_path / "out")
    cov = {c.theme_id: c for c in res.coverage}
    assert cov["parking"].covered == 0
    assert cov["price"].covered == 1 and cov["price"].info["best_step_title"]
    assert res.coverage[-1].covered == 1 and res.coverage[0].covered == 0  # uncovered first
    p = cov["parking"]
    assert (p.n_calls, p.n_lost, p.n_won) == (3, 2, 1)
    assert p.lift_lost == pytest.approx(((2 + 0.5) / 3) / ((1 + 0.5) / 3), rel=1e-3)
    assert "too few" in p.info["lift_note"] and p.info["quotes"]
    with open(tmp_path / "out" / "coverage.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["theme_id"] for r in rows if r["theme_id"] == "parking"] == ["parking"]
    assert "парковка" in next(r["quotes"] for r in rows if r["theme_id"] == "parking")
    assert "price" not in {r["theme_id"] for r in rows}
    assert ru_store.db.execute("SELECT count(*) FROM coverage").fetchone()[0] == 4


def test_order_issues_from_rows():
    script = read_script(DATA / "script_en.txt")
    calls = [Call(f"c{i}", [], "en") for i in range(3)]
    turns = {"c0": {"greeting": 0, "needs": 4, "budget": 2}, "c1": {"greeting": 0, "needs": 2, "budget": 6},
             "c2": {"greeting": 0, "budget": 2}}
    rows = [gaps.AdherenceRow(c.call_id, s, int(s in turns[c.call_id]), 1.0, "x", turns[c.call_id].get(s), None)
            for c in calls for s in script.step_ids()]
    issues, early = gaps.order_issues(calls, script, rows)
    assert [(o.step_first, o.step_then, o.calls_both, o.calls_inverted) for o in issues] == [("needs", "budget", 2, 1)]
    assert early == {"budget": 1}


def test_calibrator_roundtrip_and_leave_group_out(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(gaps.FEATURES)))
    y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    m = gaps.AdherenceCalibrator().fit(X, y)
    assert (m.predict(X) == y).mean() > 0.85
    m2 = gaps.AdherenceCalibrator.from_dict(json.loads(json.dumps(m.to_dict())))
    assert np.allclose(m.predict_proba(X), m2.predict_proba(X))
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"model": m.to_dict(), "train": {"X": X.tolist(), "y": y.tolist(),
                                                                 "groups": ["a"] * 100 + ["b"] * 100}}))
    refit = gaps.calibrator_from_file(path, exclude_groups=["a"])
    assert not np.allclose(refit.coef_, m.coef_)
    assert np.allclose(gaps.calibrator_from_file(path, exclude_groups=["zzz"]).coef_, m.coef_)
    bad = dict(m.to_dict(), features=["x"])
    with pytest.raises(Exception, match="other features"):
        gaps.AdherenceCalibrator.from_dict(bad)


def test_shipped_calibration_loads():
    d = gaps.load_calibration()
    assert d["model"]["features"] == list(gaps.FEATURES)
    assert len(d["train"]["X"]) == len(d["train"]["y"]) == len(d["train"]["groups"])


def test_units_split_long_asr_turns():
    text = " ".join(["слово"] * 40)
    call = Call("x", [Turn("agent", "Добрый день. " + text, 10.0, 30.0), Turn("customer", "да")], "ru")
    units = gaps.agent_units([call])
    assert units[0].text == "Добрый день." and units[0].start == 10.0
    assert len(units) > 3 and all(u.turn == 0 for u in units)
    assert all(u.text in call.turns[0].text for u in units)
    assert gaps.agent_units([]) == []


def test_step_adapter_learns_per_step_shifts():
    rng = np.random.default_rng(1)
    n, K = 80, 3
    Y = rng.integers(0, 2, size=(n, K))
    G = np.where(Y == 1, 1.0, -1.0) + 0.3 * rng.normal(size=(n, K))
    G[:, 0] += 2.0   # step 0 looks "always done" to the shipped model
    G[:, 1] -= 2.0   # step 1 "never done"
    ad = gaps.StepAdapter().fit(G[:30], Y[:30])
    assert ad.shift_[0] < -1.0 and ad.shift_[1] > 1.0 and abs(ad.shift_[2]) < 0.5
    p = ad.predict_proba(G[30:]) >= 0.5
    assert (p == Y[30:]).mean() > 0.9
    assert ((G[30:] >= 0) == Y[30:]).mean() < 0.75  # unadapted
    # two labelled calls move a step less than thirty do; one-class labels still move it
    few = gaps.StepAdapter().fit(G[:2], Y[:2])
    assert abs(few.shift_[0]) < abs(ad.shift_[0])
    ones = gaps.StepAdapter().fit(np.zeros((3, 1)) - 1.0, np.ones((3, 1), int))
    assert ones.predict_proba(np.full((1, 1), -1.0))[0, 0] > 1 / (1 + np.exp(1.0))
    with pytest.raises(ValueError, match="one shape"):
        gaps.StepAdapter().fit(G[:3], Y[:2])


def test_adapt_to_script_refits_with_the_labelled_rows():
    rng = np.random.default_rng(2)
    F = len(gaps.FEATURES)
    TX = rng.normal(size=(400, F))
    Ty = (TX[:, 0] > 0).astype(int)                       # other businesses: feature 0 decides
    base = gaps.AdherenceCalibrator().fit(TX, Ty)
    X = rng.normal(size=(30, 2, F))
    Y = (X[:, :, 1] > 0).astype(int)                      # this script: feature 1 decides
    cal, ad = gaps.adapt_to_script(base, X[:20], Y[:20], train={"X": TX, "y": Ty, "weights": [1.0] * 400})
    G = cal.decision_function(X[20:].reshape(-1, F)).reshape(10, 2)
    adapted = ((ad.predict_proba(G) >= 0.5) == Y[20:]).mean()
    before = ((base.decision_function(X[20:].reshape(-1, F)).reshape(10, 2) >= 0) == Y[20:]).mean()
    assert adapted >= before + 0.1


def test_read_step_labels(tmp_path):
    script = read_script(DATA / "script_en.txt")
    (tmp_path / "a.json").write_text(json.dumps({"call_id": "gaps-en-1", "script_steps": ["greeting", "budget"]}))
    assert gaps.read_step_labels(tmp_path, script) == {"gaps-en-1": {"greeting", "budget"}}
    (tmp_path / "b.json").write_text(json.dumps({"call_id": "x", "script_steps": ["dance"]}))
    with pytest.raises(Exception, match="not in the script: dance"):
        gaps.read_step_labels(tmp_path, script)
    with pytest.raises(Exception, match="no label files"):
        gaps.read_step_labels(tmp_path / "none", script)
