"""Theme model (estimator contract, determinism, predict, persistence) and build_themes on a store."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from nlp.errors import CallbridgeError, ModelError
from nlp.store import Store
from nlp.themes import OTHER, ThemeError, ThemeModel, build_themes, cluster_texts, theme_terms
from nlp.types import Call, Statement, Turn

DATA = Path(__file__).parent / "data" / "themes"


def _blobs(n_per=60, k=4, dim=32, seed=0, spread=0.15):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim))
    X = np.vstack([c + spread * np.linalg.norm(c) / np.sqrt(dim) * rng.normal(size=(n_per, dim)) for c in centers])
    return X.astype(np.float32), np.repeat(np.arange(k), n_per)


def test_fit_finds_blobs_with_automatic_count():
    X, y = _blobs()
    m = ThemeModel(random_state=0).fit(X)
    assert m.labels_.shape == (len(X),)
    # measured: ARI 1.0 and no outliers on these four separated blobs; the bounds allow a few strays
    assert adjusted_rand_score(y, m.labels_) > 0.9
    assert m.n_themes_ == 4 and list(m.theme_ids_) == [0, 1, 2, 3]
    assert np.mean(m.labels_ == OTHER) <= 0.1
    # ids are ordered by size, largest first
    assert list(m.theme_sizes_) == sorted(m.theme_sizes_, reverse=True)


def test_estimator_contract_and_determinism():
    X, _ = _blobs(seed=1)
    params = ThemeModel(n_themes=5, random_state=3).get_params()
    assert params["n_themes"] == 5 and params["random_state"] == 3
    a = ThemeModel(random_state=7).fit(X).labels_
    b = ThemeModel(random_state=7).fit(X).labels_
    assert np.array_equal(a, b)


def test_n_themes_is_respected():
    X, _ = _blobs(n_per=40, k=6, seed=2)
    m = ThemeModel(n_themes=3, random_state=0).fit(X)
    assert m.n_themes_ == 3


def test_predict_same_ids_outliers_and_save_load(tmp_path):
    X, y = _blobs(seed=4)
    m = ThemeModel(random_state=0).fit(X)
    keep = m.labels_ >= 0
    assert np.mean(m.predict(X)[keep] == m.labels_[keep]) > 0.95  # measured 0.979
    far = -m.mean_[None, :] * 5 + np.random.default_rng(9).normal(size=(1, X.shape[1])) * 50
    path = m.save(tmp_path / "models" / "themes.joblib")
    back = ThemeModel.load(path)
    assert np.array_equal(back.predict(X), m.predict(X))
    labels, scores = back.predict_scores(far.astype(np.float32))
    # a point far from every blob is "other", its score under the assignment threshold (measured 0.17
    # against a threshold of 0.98)
    assert labels[0] == OTHER and back.predict(far.astype(np.float32))[0] == OTHER
    assert scores[0] < back.assign_threshold_
    with pytest.raises(ThemeError, match="dimensions"):
        back.predict(np.ones((2, 5), dtype=np.float32))


def test_large_data_fits_on_a_sample_and_assigns_the_rest():
    X, y = _blobs(n_per=400, k=3, seed=5)
    m = ThemeModel(max_fit_samples=300, random_state=0).fit(X)
    assert len(m.labels_) == len(X)
    assert adjusted_rand_score(y, m.labels_) > 0.9  # measured 1.0


def test_empty_and_tiny_inputs(tmp_path):
    with pytest.raises(ThemeError, match="no statements"):
        ThemeModel().fit(np.zeros((0, 8), dtype=np.float32))
    one = ThemeModel().fit(np.ones((1, 8), dtype=np.float32))
    assert one.n_themes_ == 1 and one.labels_.tolist() == [0]
    res = cluster_texts([])
    assert res.labels.shape == (0,)
    with pytest.raises(ModelError):
        ThemeModel.load(tmp_path / "missing.joblib")
    bad = tmp_path / "bad.joblib"
    bad.write_text("not a model")
    with pytest.raises(ModelError):
        ThemeModel.load(bad)


def test_tfidf_path_groups_texts_by_words():
    texts = ["доставка кухни задерживается", "доставку кухни перенесли", "когда доставка кухни",
             "доставка опять задерживается", "доставку кухни ждём месяц", "где наша доставка",
             "скидка на шкаф", "скидки на шкафы есть", "какая скидка на шкаф",
             "а скидка будет", "скидку на шкаф дадите", "скидки на угловой шкаф"]
    res = cluster_texts(texts, vectors="tfidf")
    assert adjusted_rand_score([0] * 6 + [1] * 6, res.labels) > 0.6  # measured 0.686 (one text misplaced)
    labels = set(res.theme_labels.values())
    assert any("доставка" in lab for lab in labels) and any("скидка" in lab for lab in labels)


def test_theme_terms_c_tfidf_prefers_distinctive_words():
    docs = [["я", "хотеть", "скидка"], ["хотеть", "скидка", "большой"], ["хотеть", "доставка"], ["хотеть", "доставка", "быстрый"]]
    terms = theme_terms(docs, np.array([0, 0, 1, 1]), ["ru"] * 4)
    assert terms[0]["ru"][0] == "скидка" and terms[1]["ru"][0] == "доставка"
    assert "хотеть" not in terms[0]["ru"][:1]


def _call(cid, lang, customer_lines):
    turns = []
    t = 0.0
    for line in customer_lines:
        turns.append(Turn("agent", "Слушаю вас" if lang == "ru" else "Go ahead", t, t + 1))
        turns.append(Turn("customer", line, t + 1.5, t + 4))
        t += 5
    return Call(cid, turns, lang, {"outcome": "lost"})


def _fill(st, rows, prefix):
    """rows: list of (lang, text); one call per text so share of calls is meaningful."""
    calls, stmts = [], []
    for i, (lang, text) in enumerate(rows):
        call = _call(f"{prefix}-{i:02d}", lang, [text])
        st.save_call(call, "imported")
        stmts.append(Statement(call.call_id, 1, "objection", text, 0.9, lang, call.turns[1].start, 0))
    st.replace_statements(stmts)


def test_build_themes_fills_tables_then_keeps_ids_and_finds_emerging(tmp_path):
    import pandas as pd

    df = pd.read_csv(DATA / "objections.csv")
    rows = [("ru" if any("а" <= c <= "я" for c in t.lower()) else "en", t) for t in df["text"]]
    with Store(tmp_path / "s") as st:
        _fill(st, rows, "m1")
        res = build_themes(st, kinds=["objection", "need"], seed=0)
        assert res["need"]["statements"] == 0
        assert res["objection"]["themes"] >= 2 and res["objection"]["other"] <= 0.1 * len(rows) + 1
        themes = st.db.execute("SELECT * FROM themes WHERE kind='objection'").fetchall()
        assert sum(t["n_statements"] for t in themes) + res["objection"]["other"] == len(rows)
        for t in themes:
            info = json.loads(t["info_json"])
            assert 1 <= len(info["quotes"]) <= 3 and info["terms"] and t["label"]
            q = info["quotes"][0]
            assert {"call_id", "turn", "start", "text"} <= set(q)
            assert 0 < t["share_calls"] <= 1
        n_st = st.db.execute("SELECT COUNT(*) FROM statement_themes WHERE kind='objection'").fetchone()[0]
        assert n_st == len(rows)
        before = dict(st.db.execute("SELECT s.text, t.theme_id FROM statement_themes t JOIN statements s "
                                    "ON s.id = t.statement_id").fetchall())
        assert (tmp_path / "s/models/themes-objection.joblib").exists()

        # Next month: same texts again plus a new idea nobody raised before.
        new = [("ru", "У вас нет сертификата пожарной безопасности на материалы"),
               ("ru", "Нужен сертификат пожарной безопасности, а у вас его нет"),
               ("en", "You have no fire safety certificate for these materials"),
               ("en", "Without a fire safety certificate we cannot buy")]
        _fill(st, rows[:8] + new, "m2")
        res2 = build_themes(st, kinds=["objection"], seed=0)
        assert res2["objection"]["refit"] is False
        after = dict(st.db.execute("SELECT s.text, t.theme_id FROM statement_themes t JOIN statements s "
                                   "ON s.id = t.statement_id WHERE s.call_id LIKE 'm2-%'").fetchall())
        # statements seen at fit time keep their theme (or stay "other"): only new text can be emerging
        assert all(after[t] == before[t] for _, t in rows[:8])
        fire = [after[t] for _, t in new]
        emerging_ids = {r[0] for r in st.db.execute("SELECT theme_id FROM themes WHERE emerging=1")}
        assert len(emerging_ids) == res2["objection"]["emerging"] >= 1
        assert all(str(t).startswith("new-") for t in emerging_ids)
        # measured: all 4 new statements in emerging themes (one Russian, one English); one may miss
        assert sum(f in emerging_ids for f in fire) >= 3, fire

        res3 = build_themes(st, kinds=["objection"], refit=True, n_themes=2)
        assert res3["objection"]["refit"] is True and res3["objection"]["themes"] <= 2


def test_build_themes_rejects_unknown_kind(tmp_path):
    with Store(tmp_path / "s") as st, pytest.raises(CallbridgeError, match="unknown statement kind"):
        build_themes(st, kinds=["complaint"])
