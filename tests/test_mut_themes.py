"""Themes (`nlp/themes.py`): the theme model's bookkeeping and `build_themes` on small known inputs;
written against the mutants that survived `scripts/mutation.sh themes`."""

import json

import numpy as np
import pytest

from nlp import themes as T
from nlp.store import Store
from nlp.types import Call, Statement, Turn


def test_text_key():
    assert T.text_key("  Ёлка,   ПРИВЕТ!! ") == "елка привет" and T.text_key(12) == "12"
    assert T.text_key("a-b_c") == "a b c"


def test_unify_majority_first_seen_and_other():
    keys = ["a", "b", "a", "a", "b", "c"]
    assert T.unify(keys, np.array([1, 2, 3, 3, 4, 5])).tolist() == [3, 2, 3, 3, 2, 5]
    # a tie goes to the label seen first
    assert T.unify(["x", "x"], np.array([7, 8])).tolist() == [7, 7]
    mixed = np.array(["other", "0", "other", "1"], dtype=object)
    assert T.unify(["k", "k", "k", "z"], mixed).tolist() == ["other", "other", "other", "1"]
    labels = np.array([1, 2])
    T.unify(["q", "q"], labels)
    assert labels.tolist() == [1, 2]                      # the input is not changed


def test_centroids():
    Z = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    C = T._centroids(Z, np.array([0, 0, 1]), [1, 0])
    assert C.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert T._centroids(Z, np.array([0, 0, 1]), []).shape == (0, 2)
    assert np.allclose(np.linalg.norm(T._unit(np.array([[3.0, 4.0], [0.0, 0.0]])), axis=1), [1.0, 0.0])


def _ring(n, dim=8, seed=0, spread=0.05):
    """n unit-ish vectors around each of the first dims' axes."""
    rng = np.random.default_rng(seed)
    return rng.normal(scale=spread, size=(n, dim))


def test_prune_dissolves_tiny_themes_and_caps_other():
    E = T._unit(np.vstack([np.eye(4)[0] + _ring(5, 4), np.eye(4)[1] + _ring(5, 4, 1), np.eye(4)[2][None, :]]))
    labels = np.array([0] * 5 + [1] * 5 + [2])
    m = T.ThemeModel(outlier_threshold=0.2, max_other=0.1)
    out = m._prune(E, labels, 2)
    # the lone statement's theme is dissolved; it is far from both others: "other"
    assert out.tolist()[:10] == labels.tolist()[:10] and out[10] == T.OTHER
    # min_size 1 keeps it
    assert m._prune(E, labels, 1).tolist() == labels.tolist()
    # at most max_other of the statements go to "other": the farthest first
    m0 = T.ThemeModel(outlier_threshold=0.99999, max_other=0.1)
    out = m0._prune(E, labels, 1)
    assert (out == T.OTHER).sum() == int(0.1 * 11) == 1
    # nothing big enough: one theme
    assert T.ThemeModel()._prune(E[:2], np.array([0, 1]), 5).tolist() == [0, 0]


def test_prune_moves_members_of_dissolved_themes_to_the_nearest_theme():
    E = T._unit(np.vstack([np.eye(3)[0] + _ring(4, 3), np.eye(3)[1] + _ring(4, 3, 1),
                           (np.eye(3)[1] + 0.2 * np.eye(3)[2])[None, :]]))
    out = T.ThemeModel(outlier_threshold=0.2)._prune(E, np.array([0] * 4 + [1] * 4 + [2]), 2)
    assert out[8] == 1


def test_merge_near_duplicate_themes():
    E = T._unit(np.vstack([np.eye(3)[0] + _ring(4, 3), np.eye(3)[0] + _ring(4, 3, 1), np.eye(3)[1] + _ring(4, 3, 2)]))
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4)
    merged = T.ThemeModel(merge_threshold=0.8)._merge(E, labels)
    assert merged[0] == merged[4] != merged[8] and len(set(merged[:4])) == 1
    assert T.ThemeModel(merge_threshold=0.9999)._merge(E, labels).tolist() != merged.tolist()
    assert T.ThemeModel()._merge(E, np.zeros(12, int)).tolist() == [0] * 12


def test_fit_bookkeeping_scores_threshold_and_errors():
    rng = np.random.default_rng(0)
    X = np.vstack([np.r_[5.0, 0, 0, 0] + rng.normal(scale=0.3, size=(20, 4)),
                   np.r_[0, 5.0, 0, 0] + rng.normal(scale=0.3, size=(12, 4))]).astype(np.float32)
    m = T.ThemeModel(random_state=0).fit(X)
    assert m.n_themes_ == 2 and m.theme_sizes_.tolist() == [20, 12]        # numbered by size
    assert (m.labels_[:20] == 0).all() and (m.labels_[20:] == 1).all()
    E = T._unit(X - X.mean(axis=0))
    assert m.mean_ == pytest.approx(X.mean(axis=0), abs=1e-5)
    assert m.scores_ == pytest.approx((E * m.centroids_[m.labels_]).sum(axis=1), abs=1e-5)
    assert m.assign_threshold_ == pytest.approx(max(m.outlier_threshold, np.quantile(m.scores_, 0.02)), abs=1e-6)
    assert m.n_features_in_ == 4 and m.version_ == T.MODEL_VERSION and m.fit_seconds_ > 0
    lab, sc = m.predict_scores(X[:3])
    assert lab.tolist() == [0, 0, 0] and sc == pytest.approx(m.transform(X[:3]).max(axis=1))
    assert m.transform(np.zeros((0, 4), np.float32)).shape == (0, 2)
    lab, sc = m.predict_scores(np.zeros((0, 4), np.float32))
    assert lab.shape == (0,) and sc.shape == (0,)
    with pytest.raises(T.ThemeError, match="texts for"):
        T.ThemeModel().fit(X, texts=["a"])
    with pytest.raises(T.ThemeError, match="at least 1"):
        T.ThemeModel(n_themes=0).fit(X)
    with pytest.raises(T.ThemeError, match="unknown vectors"):
        T.ThemeModel(vectors="w2v").fit(["a", "b"])
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        T.ThemeModel().predict(X)


def test_identical_texts_share_a_theme_in_fit():
    rng = np.random.default_rng(1)
    X = np.vstack([np.r_[5.0, 0, 0, 0] + rng.normal(scale=0.3, size=(10, 4)),
                   np.r_[0, 5.0, 0, 0] + rng.normal(scale=0.3, size=(10, 4))]).astype(np.float32)
    texts = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(9)] + ["A0!"]      # the last says what a0 says
    m = T.ThemeModel(random_state=0, lexical_weight=0.0).fit(X, texts=texts)
    assert m.labels_[19] == m.labels_[0]
    # without texts, identical vectors are the same statement
    X2 = X.copy()
    X2[19] = X2[0]
    m2 = T.ThemeModel(random_state=0).fit(X2)
    assert m2.labels_[19] == m2.labels_[0]


def test_fit_on_a_sample_assigns_the_rest_by_centroid():
    rng = np.random.default_rng(2)
    X = np.vstack([np.r_[5.0, 0, 0, 0] + rng.normal(scale=0.3, size=(40, 4)),
                   np.r_[0, 5.0, 0, 0] + rng.normal(scale=0.3, size=(40, 4))]).astype(np.float32)
    m = T.ThemeModel(random_state=0, max_fit_samples=30).fit(X)
    assert len(m.labels_) == 80 and (m.labels_[:40] == m.labels_[0]).all() and (m.labels_[40:] == m.labels_[79]).all()
    assert m.labels_[0] != m.labels_[79]


# ---- build_themes ------------------------------------------------------------------------------------
DELIVERY = ["Доставка кухни опять задерживается", "Доставку кухни перенесли на месяц", "Где наша доставка кухни",
            "Доставка кухни задерживается уже неделю", "Сколько ждать доставку кухни"]
DISCOUNT = ["Скидка на шкаф будет", "Дадите скидку на шкаф", "Какая скидка на угловой шкаф",
            "Без скидки шкаф не возьмём", "Скидку на шкаф хотим"]
VEC = "e5"
FIRE = ["Нет сертификата пожарной безопасности", "Нужен сертификат пожарной безопасности",
        "Сертификат пожарной безопасности покажите", "Где сертификат пожарной безопасности"]


def _fill(st, texts, prefix, kind="objection"):
    stmts = []
    for i, text in enumerate(texts):
        call = Call(f"{prefix}{i:02d}", [Turn("agent", "Слушаю", 0.0, 1.0), Turn("customer", text, 1.5, 4.0)], "ru",
                    {"outcome": "lost"})
        st.save_call(call, "imported")
        stmts.append(Statement(call.call_id, 1, kind, text, 0.9, "ru", 1.5, 0))
    st.replace_statements(stmts)


@pytest.mark.slow  # e5 on 10-20 statements, 5-15 s; the fast build test is in tests/test_themes.py
def test_build_themes_then_emerging_themes_for_new_ideas(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, DELIVERY + DISCOUNT, "a")
        res = T.build_themes(st, kinds=["objection"], vectors=VEC)
        assert res["objection"]["refit"] is True and res["objection"]["emerging"] == 0
        rows = st.db.execute("SELECT theme_id, n_statements, n_calls, share_calls, emerging, info_json FROM themes").fetchall()
        assert sorted(r["n_statements"] for r in rows) == [5, 5] and all(r["share_calls"] == 0.5 for r in rows)
        for r in rows:
            q = json.loads(r["info_json"])["quotes"]
            assert len(q) == 3 and len({x["call_id"] for x in q}) == 3 and len({x["text"] for x in q}) == 3
        before = dict(st.db.execute("SELECT s.text, t.theme_id FROM statement_themes t JOIN statements s "
                                    "ON s.id = t.statement_id").fetchall())
        # next month: old ideas again and a new one nobody raised before
        _fill(st, DELIVERY[:2] + DISCOUNT[:2] + FIRE, "b")
        res2 = T.build_themes(st, kinds=["objection"], vectors=VEC)
        assert res2["objection"]["refit"] is False and res2["objection"]["emerging"] >= 1
        after = dict(st.db.execute("SELECT s.text, t.theme_id FROM statement_themes t JOIN statements s "
                                   "ON s.id = t.statement_id").fetchall())
        assert all(after[t] == before[t] for t in DELIVERY[:2] + DISCOUNT[:2])
        em = {r[0] for r in st.db.execute("SELECT theme_id FROM themes WHERE emerging=1")}
        assert em and all(t.startswith("new-") for t in em)
        assert sum(after[t] in em for t in FIRE) >= 3


@pytest.mark.slow  # e5 on 10-20 statements, 5-15 s; the fast build test is in tests/test_themes.py
def test_two_new_statements_are_no_emerging_theme(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, DELIVERY + DISCOUNT, "a")
        T.build_themes(st, kinds=["objection"], vectors=VEC)
        _fill(st, FIRE[:2], "c")
        res = T.build_themes(st, kinds=["objection"], vectors=VEC)
        assert res["objection"]["emerging"] == 0 and res["objection"]["other"] >= 2


def test_build_themes_empty_kind_and_unknown_kind(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, DELIVERY + DISCOUNT, "a")
        res = T.build_themes(st, kinds=["need"], vectors=VEC)
        assert res["need"] == {**res["need"], "statements": 0}
        assert st.db.execute("SELECT COUNT(*) FROM themes WHERE kind='need'").fetchone()[0] == 0
        with pytest.raises(T.ThemeError, match="unknown statement kind"):
            T.build_themes(st, kinds=["complaint"])


@pytest.mark.slow  # e5 on 10-20 statements, 5-15 s; the fast build test is in tests/test_themes.py
def test_identical_statements_share_one_theme_in_build(tmp_path):
    with Store(tmp_path / "s") as st:
        _fill(st, DELIVERY + DISCOUNT + ["Скидка на шкаф будет!"] * 3, "a")
        T.build_themes(st, kinds=["objection"], vectors=VEC)
        got = {r[0] for r in st.db.execute("SELECT t.theme_id FROM statement_themes t JOIN statements s "
                                           "ON s.id = t.statement_id WHERE s.text LIKE 'Скидка на шкаф будет%'")}
        assert len(got) == 1
