"""Vectors: e5 embeddings with the store cache, and TF-IDF over lemmas."""

import numpy as np

from nlp.store import Store
from nlp.vectors import E5_DIM, EmbedStats, LemmaTfidf, embed


def test_embed_empty():
    stats = EmbedStats()
    out = embed([], stats=stats)
    assert out.shape == (0, E5_DIM)
    assert stats.texts == 0 and stats.hit_rate == 0.0


def test_embed_uses_and_fills_the_cache(tmp_path):
    texts = ["Слишком дорого для нас", "It is too expensive for us", "Слишком дорого для нас"]
    with Store(tmp_path / "s") as st:
        first = EmbedStats()
        a = embed(texts, store=st, stats=first)
        assert a.shape == (3, E5_DIM)
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-3)
        assert first.embedded == 2 and first.cache_hits == 1  # the repeated text is embedded once
        assert np.array_equal(a[0], a[2])
        second = EmbedStats()
        b = embed(texts, store=st, stats=second)
        assert second.embedded == 0 and second.hit_rate == 1.0
        assert np.allclose(a, b)
        assert st.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 2


def test_embed_is_cross_lingual():
    ru, en, other = embed(["Это слишком дорого, цена высокая", "This is too expensive, the price is high",
                           "Когда привезут и соберут мебель?"])
    assert ru @ en > ru @ other


def test_embed_blank_text_does_not_break():
    v = embed(["", "   ", "ok"])
    assert v.shape == (3, E5_DIM) and np.isfinite(v).all()


def test_lemma_tfidf_joins_inflections_in_both_languages():
    texts = ["дорогая кухня", "дорогие кухни", "сроки доставки", "доставка в срок",
             "expensive kitchens", "expensive kitchen", "delivery dates", "date of delivery"]
    tf = LemmaTfidf(n_components=5)
    Z = tf.fit_transform(texts)
    assert Z.shape[0] == len(texts)
    assert np.allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-4)
    sims = Z @ Z.T
    assert sims[0, 1] > 0.9 and sims[0, 1] > sims[0, 2]     # Russian inflection
    assert sims[4, 5] > 0.9 and sims[4, 5] > sims[4, 6]     # English inflection
    again = tf.transform(["дорогую кухню"])
    assert (again @ Z[0]) > 0.9


def test_lemma_tfidf_handles_text_without_words():
    Z = LemmaTfidf().fit_transform(["...", "!!!"])
    assert Z.shape[0] == 2 and np.isfinite(Z).all()
