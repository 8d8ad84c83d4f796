"""Themes: group statements of one kind into a few readable themes with numbers and quotes.

`ThemeModel` is a scikit-learn estimator. `fit` clusters statements with an automatic number of
themes; `predict` assigns new statements to the same theme ids, or -1 when they fit no theme
(next month's statements that fall outside every theme are clustered again as *emerging*
themes by `build_themes`).

How `fit` clusters (why each step is there):
1. Dense vectors (multilingual-e5-small, so Russian and English of one idea land close) are
   centred on their mean and re-normalised: raw e5 vectors all sit in a narrow cone, and the
   shared direction carries no information about which theme a text belongs to.
2. A k-nearest-neighbour graph over those vectors (mutual neighbours weigh double), plus (when
   texts are given) a second kNN graph over TF-IDF of lemmas: two statements are close when they mean the same thing or use
   the same distinctive words. Graph neighbourhoods follow curved, unevenly sized themes that
   centroid methods split or merge wrongly.
3. Up to `small_max` statements (a company's month of one kind), no count is picked: average-linkage
   clustering of the centred vectors (lemma TF-IDF appended) cut at cosine distance `small_cut`,
   chosen leave-one-business-out over the labelled businesses (see `_small_themes`). Above it,
   spectral embedding of the joint graph, then k-means in that embedding (spectral clustering):
   the number of themes grows with the square root of the number of statements, then themes
   whose centroids are near-duplicates are merged. `n_themes` overrides both.
4. Statements far from their theme's centroid, and themes too small to be a theme, go to the
   "other" bucket (-1), capped at `max_other` of the statements.
Above `max_fit_samples` statements the graph is built on a seeded sample and the rest are
assigned to the nearest centroid, so 100,000 statements cluster in seconds.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from .errors import CallbridgeError, ModelError
from .types import KINDS

if TYPE_CHECKING:
    from .store import Store

OTHER = -1
OTHER_ID = "other"
MODEL_VERSION = 1


class ThemeError(CallbridgeError):
    """Theme clustering got input it cannot work with."""


def _unit(Z: np.ndarray) -> np.ndarray:
    Z = np.asarray(Z, dtype=np.float32)
    n = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.maximum(n, 1e-12)


def _knn(Z, k: int, chunk: int = 2048) -> np.ndarray:
    """Indices of the k most cosine-similar other rows of unit-row matrix Z (dense or sparse)."""
    n = Z.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    ZT = Z.T
    for s in range(0, n, chunk):
        S = Z[s:s + chunk] @ ZT
        S = S.toarray() if hasattr(S, "toarray") else np.asarray(S)
        S[np.arange(S.shape[0]), np.arange(s, s + S.shape[0])] = -np.inf
        part = np.argpartition(-S, k - 1, axis=1)[:, :k]
        out[s:s + chunk] = part
    return out


def _knn_graph(ind: np.ndarray, mutual_bonus: bool = False):
    """Symmetric kNN graph; with `mutual_bonus`, pairs that are each other's neighbours weigh double.

    Mutual neighbours are the pairs a hub (a generic statement close to everything) cannot fake,
    so doubling them sharpens theme borders in the spectral embedding.
    """
    import scipy.sparse as sp

    n, k = ind.shape
    rows = np.repeat(np.arange(n), k)
    B = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, ind.ravel())), shape=(n, n))
    A = B.maximum(B.T)
    return A + B.minimum(B.T) if mutual_bonus else A


def text_key(text: str) -> str:
    """What makes two statements "the same": case, ё/е, punctuation and spacing do not count."""
    t = str(text).lower().replace("ё", "е")
    return " ".join("".join(c if c.isalnum() else " " for c in t).split())


def unify(keys: Sequence[str], labels: np.ndarray) -> np.ndarray:
    """Labels where every group of equal keys takes its most common label (ties: the first seen).

    Identical and near-identical statements (same `text_key`) must share a theme and the outlier
    flag: fifteen customers saying the same sentence are one finding, never split over two themes
    and "other".
    """
    labels = np.asarray(labels).copy()
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[k].append(i)
    for idx in groups.values():
        if len(idx) > 1:
            # labels may be theme numbers or "other" (outliers): compare them as they are
            vals = [labels[i].item() if hasattr(labels[i], "item") else labels[i] for i in idx]
            counts = Counter(vals)
            top = max(counts.values())
            labels[idx] = next(v for v in vals if counts[v] == top)
    return labels


def _centroids(Z: np.ndarray, labels: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    return _unit(np.vstack([Z[labels == i].mean(axis=0) for i in ids])) if len(ids) else np.zeros((0, Z.shape[1]))


class ThemeModel(BaseEstimator, ClusterMixin):
    """Spectral clustering of statements over a joint semantic + lexical kNN graph.

    Parameters
    ----------
    n_themes: number of themes, or None to choose it from the data.
    vectors: "e5" (dense multilingual embeddings) or "tfidf" (TF-IDF over lemmas, no model);
        used when `fit`/`predict` get texts. Given a 2-D array, the array is the dense vectors.
    n_neighbors: neighbours per statement in the kNN graphs.
    lexical_weight: weight of the lemma TF-IDF kNN graph next to the dense one (0 turns it off).
    spectral_dims: size of the spectral embedding.
    merge_threshold: themes whose centroids have cosine above this are merged (automatic count only).
    outlier_threshold: a statement less similar than this to its theme's centroid goes to "other".
    min_theme_size: smaller themes are dissolved into their nearest theme or "other".
    max_other: at most this share of the statements goes to "other".
    max_fit_samples: above this, fit on a seeded sample and assign the rest.
    small_cut: up to `small_max` statements (automatic count), average-linkage clustering is cut at
        this cosine distance between groups of centred vectors.
    small_max: the largest set clustered that way; larger ones take the spectral path.
    small_lexical: weight of the lemma TF-IDF appended to the vectors in the small-set clustering.
    random_state: seed; the same data and seed give the same themes.
    """

    def __init__(self, n_themes: int | None = None, vectors: str = "e5", n_neighbors: int = 10,
                 lexical_weight: float = 0.5, spectral_dims: int = 32, merge_threshold: float = 0.8,
                 outlier_threshold: float = 0.2, min_theme_size: int = 2, max_other: float = 0.1,
                 max_fit_samples: int = 10000, small_cut: float = 0.925, small_max: int = 200,
                 small_lexical: float = 0.5, random_state: int = 0):
        self.n_themes = n_themes
        self.vectors = vectors
        self.n_neighbors = n_neighbors
        self.lexical_weight = lexical_weight
        self.spectral_dims = spectral_dims
        self.merge_threshold = merge_threshold
        self.outlier_threshold = outlier_threshold
        self.min_theme_size = min_theme_size
        self.max_other = max_other
        self.max_fit_samples = max_fit_samples
        self.small_cut = small_cut
        self.small_max = small_max
        self.small_lexical = small_lexical
        self.random_state = random_state

    # ---- features ---------------------------------------------------------------------------
    def _dense(self, X, langs, store, fitting: bool) -> tuple[np.ndarray, list[str] | None]:
        """(dense vectors before centring, texts or None) for texts or a vector array."""
        if isinstance(X, np.ndarray) and X.ndim == 2:
            return X.astype(np.float32, copy=False), None
        texts = [str(t) for t in X]
        if self.vectors == "e5":
            from .vectors import embed

            return embed(texts, store=store), texts
        if self.vectors == "tfidf":
            from .vectors import LemmaTfidf

            if fitting:
                self.tfidf_ = LemmaTfidf(random_state=self.random_state)
                return self.tfidf_.fit_transform(texts, langs=langs), texts
            return self.tfidf_.transform(texts, langs=langs), texts
        raise ThemeError(f"unknown vectors {self.vectors!r}", hint="use 'e5' or 'tfidf'")

    def _lexical(self, texts: Sequence[str], langs, fitting: bool):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        from .language import lemmas_auto
        from .vectors import _identity

        docs = lemmas_auto(texts, langs)
        if fitting:
            self.lexical_ = TfidfVectorizer(analyzer=_identity, sublinear_tf=True,
                                            min_df=2 if len(docs) >= 40 else 1)
            try:
                return normalize(self.lexical_.fit_transform(docs)), docs
            except ValueError:  # no word survives (empty or digit-only texts)
                self.lexical_ = None
                return None, docs
        return normalize(self.lexical_.transform(docs)), docs

    # ---- fit --------------------------------------------------------------------------------
    def fit(self, X, y=None, *, texts: Sequence[str] | None = None, langs: Sequence[str | None] | None = None,
            store: "Store | None" = None) -> "ThemeModel":
        """Learn themes from texts (a sequence of str) or dense vectors (2-D array).

        With vectors, `texts` may still be given so the lexical graph is used as well. `store`
        (not kept) serves as the embedding cache.
        """
        t0 = time.perf_counter()
        raw, own_texts = self._dense(X, langs, store, fitting=True)
        texts = list(texts) if texts is not None else own_texts
        n = raw.shape[0]
        if n == 0:
            raise ThemeError("no statements to cluster", hint="extract statements first (`callbridge extract`)")
        if texts is not None and len(texts) != n:
            raise ThemeError(f"{len(texts)} texts for {n} vectors")
        if self.n_themes is not None and self.n_themes < 1:
            raise ThemeError(f"--themes must be at least 1, got {self.n_themes}")
        rng = np.random.default_rng(self.random_state)
        self.mean_ = raw.mean(axis=0) if n > 1 else np.zeros(raw.shape[1], dtype=np.float32)
        E = _unit(raw - self.mean_)

        # Fit on a sample when the data are large; the rest is assigned to centroids below.
        fit_idx = np.arange(n)
        if n > self.max_fit_samples:
            fit_idx = np.sort(rng.choice(n, self.max_fit_samples, replace=False))
        Ef = E[fit_idx]
        Lf = None
        self.lexical_ = None
        if texts is not None and self.lexical_weight > 0 and self.vectors == "e5":
            Lf, _ = self._lexical([texts[i] for i in fit_idx], [langs[i] for i in fit_idx] if langs else None,
                                  fitting=True)
        labels_f = self._cluster(Ef, Lf, rng)
        if texts is not None:
            keys = [text_key(texts[i]) for i in fit_idx]
        else:
            keys = [np.round(r, 4).tobytes().hex() for r in raw[fit_idx]]
        labels_f = unify(keys, labels_f)

        # Themes numbered by size, largest first; then everything is assigned to the centroids.
        ids, counts = np.unique(labels_f[labels_f >= 0], return_counts=True)
        order = ids[np.argsort(-counts, kind="stable")]
        self.centroids_ = _centroids(Ef, labels_f, order)
        remap = {int(old): new for new, old in enumerate(order)}
        labels = np.full(n, OTHER, dtype=np.int64)
        labels[fit_idx] = [remap.get(int(v), OTHER) for v in labels_f]
        rest = np.setdiff1d(np.arange(n), fit_idx)
        if rest.size and len(order):
            sims = E[rest] @ self.centroids_.T
            best = sims.argmax(axis=1)
            labels[rest] = np.where(sims[np.arange(rest.size), best] >= self.outlier_threshold, best, OTHER)
            labels = unify([text_key(t) for t in texts] if texts is not None
                           else [np.round(r, 4).tobytes().hex() for r in raw], labels)
        self.labels_ = labels
        self.n_themes_ = len(order)
        self.theme_ids_ = np.arange(self.n_themes_)
        self.theme_sizes_ = np.bincount(labels[labels >= 0], minlength=self.n_themes_)
        self.scores_ = self._scores(E, labels)
        # New statements need at least the similarity that the fit's own members nearly all have.
        member = self.scores_[labels >= 0]
        self.assign_threshold_ = float(max(self.outlier_threshold, np.quantile(member, 0.02))) if member.size else 1.0
        self.n_features_in_ = raw.shape[1]
        self.fit_seconds_ = time.perf_counter() - t0
        self.version_ = MODEL_VERSION
        return self

    def _scores(self, E: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Cosine of each statement to its theme's centroid (to the nearest one for "other")."""
        if not len(self.centroids_):
            return np.zeros(len(E), dtype=np.float32)
        sims = E @ self.centroids_.T
        own = np.where(labels >= 0, labels, sims.argmax(axis=1))
        return sims[np.arange(len(E)), own].astype(np.float32)

    def _cluster(self, E: np.ndarray, L, rng: np.random.Generator) -> np.ndarray:
        from sklearn.cluster import KMeans

        n = E.shape[0]
        if n == 1:
            return np.zeros(1, dtype=np.int64)
        auto = self.n_themes is None
        k0 = self.n_themes if not auto else int(np.clip(round(getattr(self, "_k0", 2.0) * math.sqrt(n)), 2, 500))
        k0 = min(k0, n)
        seed = int(rng.integers(2**31 - 1))
        small = auto and (n <= self.small_max or n < 4 * self.n_neighbors)
        if small:
            # A company's month of one kind (tens to a few hundred statements): no count to pick,
            # average linkage cut at a similarity chosen leave-one-business-out (see `_small_themes`).
            Ls = None if L is None else self.small_lexical * L.toarray()
            S = E if Ls is None or not self.small_lexical else _unit(np.hstack([E, Ls]))
            labels = self._small_themes(S)
        elif n >= 4 * self.n_neighbors:
            from sklearn.manifold import spectral_embedding

            k = self.n_neighbors
            A = _knn_graph(_knn(E, k), mutual_bonus=True)
            if L is not None:
                A = A + self.lexical_weight * _knn_graph(_knn(L, k))
            dims = min(self.spectral_dims, n - 2)
            S = _unit(spectral_embedding(A, n_components=dims, random_state=seed, drop_first=False))
        else:
            # Too few statements for a meaningful graph: cluster the vectors themselves,
            # with the lemma TF-IDF appended so shared distinctive words still count.
            S = E if L is None else _unit(np.hstack([E, self.lexical_weight * L.toarray()]))
        if not small:
            labels = KMeans(k0, n_init=5, random_state=seed).fit_predict(S)
        if auto and not small:
            labels = self._merge(E, labels)
        # In a small set one statement can be a theme of its own (the gold themes of the development
        # businesses have many); dissolving it would glue an unrelated idea onto another theme.
        return self._prune(E, labels, 1 if small else self.min_theme_size)

    def _small_themes(self, S: np.ndarray) -> np.ndarray:
        """Few statements: average-linkage agglomerative clustering on the centred vectors.

        Groups keep merging while their statements are, on average, closer than `small_cut`
        (cosine distance; 1.0 = "no more alike than two statements of this set at random", since
        the vectors are centred). With tens of statements a silhouette or an over-cluster-then-merge
        count is mostly noise; this cut needs no count and adapts to how spread the set is. 0.925
        (with `small_lexical` 0.5) was chosen leave-one-business-out over 47 labelled businesses
        (`scripts/evaluate.py cluster --lobo`: the pick on the other 46, by mean ARI minus mean
        theme-count error, was the same for every business).
        """
        from sklearn.cluster import AgglomerativeClustering

        return AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                       distance_threshold=self.small_cut).fit_predict(S)

    def _merge(self, E: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Merge themes whose centroids are near-duplicates (average linkage on centroids)."""
        from sklearn.cluster import AgglomerativeClustering

        ids = np.unique(labels)
        if len(ids) < 2:
            return labels
        C = _centroids(E, labels, ids)
        merged = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=1 - self.merge_threshold).fit_predict(C)
        return merged[np.searchsorted(ids, labels)]

    def _prune(self, E: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
        """Send tiny themes and far-off statements to "other", never more than `max_other`."""
        labels = labels.copy()
        n = len(labels)
        ids, counts = np.unique(labels, return_counts=True)
        big = ids[counts >= min(min_size, n)]
        if not len(big):
            return np.zeros(n, dtype=np.int64)
        C = _centroids(E, labels, big)
        sims = E @ C.T
        # Members of dissolved themes move to the nearest surviving theme.
        small = ~np.isin(labels, big)
        labels[small] = big[sims[small].argmax(axis=1)]
        own = sims[np.arange(n), np.searchsorted(big, labels)]
        cap = int(self.max_other * n)
        far = np.where(own < self.outlier_threshold)[0]
        if len(far) > cap:
            far = far[np.argsort(own[far], kind="stable")[:cap]]
        labels[far] = OTHER
        return labels

    # ---- predict ----------------------------------------------------------------------------
    def transform(self, X, *, langs=None, store: "Store | None" = None) -> np.ndarray:
        """Cosine similarity of each statement to each theme centroid."""
        self._check_fitted()
        raw, _ = self._dense(X, langs, store, fitting=False)
        if raw.shape[0] == 0:
            return np.zeros((0, self.n_themes_), dtype=np.float32)
        if raw.shape[1] != self.n_features_in_:
            raise ThemeError(f"vectors have {raw.shape[1]} dimensions, the model was fitted on {self.n_features_in_}",
                             hint="use the same vectors (--vectors) as when the themes were built")
        return _unit(raw - self.mean_) @ self.centroids_.T

    def predict(self, X, *, langs=None, store: "Store | None" = None) -> np.ndarray:
        """Theme id per statement (0..n_themes_-1), or -1 when it fits no theme."""
        return self.predict_scores(X, langs=langs, store=store)[0]

    def predict_scores(self, X, *, langs=None, store: "Store | None" = None) -> tuple[np.ndarray, np.ndarray]:
        sims = self.transform(X, langs=langs, store=store)
        if sims.shape[0] == 0 or sims.shape[1] == 0:
            return np.full(sims.shape[0], OTHER, dtype=np.int64), np.zeros(sims.shape[0], dtype=np.float32)
        best = sims.argmax(axis=1)
        score = sims[np.arange(len(best)), best]
        return np.where(score >= self.assign_threshold_, best, OTHER).astype(np.int64), score

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("ThemeModel is not fitted yet; call fit() first")

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        import joblib

        from .fileutil import atomic_path

        path = Path(path)
        # Temp file + rename: a run killed while saving leaves the previous model intact.
        with atomic_path(path) as tmp:
            joblib.dump(self, tmp, compress=3)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ThemeModel":
        import joblib

        try:
            model = joblib.load(path)
        except FileNotFoundError:
            raise ModelError("theme model not found", path=str(path),
                             hint="run `callbridge themes` once to build the themes") from None
        except Exception as e:
            raise ModelError(f"cannot load theme model: {e}", path=str(path),
                             hint="delete it and rerun `callbridge themes --refit`") from None
        if not isinstance(model, cls) or getattr(model, "version_", None) != MODEL_VERSION:
            raise ModelError("not a theme model of this callbridge version", path=str(path),
                             hint="rerun `callbridge themes --refit`")
        return model


# ---- labels and quotes ------------------------------------------------------------------------

def _stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words plus spoken fillers (`rules/theme_fillers.json`): never a theme's label."""
    words: set[str] = set()
    try:
        if lang == "ru":
            from spacy.lang.ru.stop_words import STOP_WORDS
        else:
            from spacy.lang.en.stop_words import STOP_WORDS
        words |= set(STOP_WORDS)
    except ImportError:  # labels still work, only less clean
        pass
    fillers = json.loads((Path(__file__).parent / "rules" / "theme_fillers.json").read_text(encoding="utf-8"))
    return frozenset(words | set(fillers.get(lang, [])))


def _terms(lemmas: list[str], stop: frozenset[str]) -> list[str]:
    """Content lemmas and the two-word phrases between them."""
    words = [w for w in lemmas if any(c.isalpha() for c in w) and len(w) > 1 and w not in stop]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def theme_terms(docs: Sequence[list[str]], labels: np.ndarray, langs: Sequence[str],
                top: int = 8) -> dict[int, dict[str, list[str]]]:
    """c-TF-IDF: for each theme and language, the lemmas/phrases most distinctive of the theme.

    A term's weight in a theme is its frequency there times log(1 + average theme size /
    its frequency over all themes), so words every theme uses (\"хотеть\", \"want\") sink.
    """
    stops = {lang: _stop_words(lang) for lang in set(langs)}
    per_theme: dict[int, Counter] = defaultdict(Counter)
    per_theme_lang: dict[tuple[int, str], Counter] = defaultdict(Counter)
    n_docs: Counter = Counter()
    for lem, lab, lang in zip(docs, labels, langs):
        if lab < 0:
            continue
        terms = set(_terms(lem, stops[lang]))  # document frequency inside the theme: one quote, one vote
        per_theme[int(lab)].update(terms)
        per_theme_lang[(int(lab), lang)].update(terms)
        n_docs[(int(lab), lang)] += 1
    if not per_theme:
        return {}
    total = Counter()
    for c in per_theme.values():
        total.update(c)
    avg = sum(sum(c.values()) for c in per_theme.values()) / len(per_theme)
    out: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for (lab, lang), c in per_theme_lang.items():
        size = sum(c.values()) or 1
        scored = []
        # In a real theme, a word one statement used says little about the theme, unless no
        # word is shared at all.
        min_f = 2 if n_docs[(lab, lang)] >= 4 and max(c.values(), default=0) >= 2 else 1
        for term, f in c.items():
            if f < min_f:
                continue
            w = (f / size) * math.log(1 + avg / total[term])
            if " " in term:
                w *= 1.2  # phrases read better than single lemmas when they are as distinctive
            scored.append((w, f, term))
        scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
        chosen: list[str] = []
        for _, _, term in scored:
            # A phrase makes its own words redundant and vice versa.
            if any(term in c2.split(" ") or c2 in term.split(" ") for c2 in chosen):
                continue
            chosen.append(term)
            if len(chosen) == top:
                break
        out[lab][lang] = chosen
    return out


def make_label(terms: list[str], n: int = 3) -> str:
    """Key terms joined for display ("a / b / c"); the fallback label of an older store only."""
    return " / ".join(terms[:n])


def _label_words(lang: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(number-word lemmas, stop words a label may still start with, fillers never inside a label)
    from `rules/theme_fillers.json`."""
    d = json.loads((Path(__file__).parent / "rules" / "theme_fillers.json").read_text(encoding="utf-8"))
    return (frozenset(d.get("numbers", {}).get(lang, [])), frozenset(d.get("edge_ok", {}).get(lang, [])),
            frozenset(d.get("no_inside", {}).get(lang, [])))


# Longest and shortest label, in words.
LABEL_MIN_WORDS, LABEL_MAX_WORDS = 2, 6
# Statements of a theme (closest to its centroid first) whose phrases compete for its label.
LABEL_CANDIDATES = 8


def _joined(c: str) -> bool:
    """Whether character `c` next to a token glues it to a neighbour into one written word."""
    return c.isalnum() or c in "-'’"


def _in_script(toks, lang: str) -> bool:
    """At least as many words in the language's own script as in the other one (a brand name in
    Latin letters may stand inside a Russian label, but not make the whole label)."""
    cyr = sum(1 for t in toks if any("а" <= c <= "я" or c == "ё" for c in t.lower))
    lat = sum(1 for t in toks if any("a" <= c <= "z" for c in t.lower))
    return cyr >= lat and cyr > 0 if lang == "ru" else lat >= cyr and lat > 0


def phrase_labels(texts: Sequence[str], langs: Sequence[str], labels: np.ndarray, scores: np.ndarray,
                  terms: dict[int, dict[str, list[str]]] | None = None,
                  blocked: set[str] | None = None) -> tuple[dict[int, dict[str, str]], dict[int, dict[str, list[str]]]]:
    """A label per theme and language: a 2-6 word contiguous phrase of one of its own statements.

    Candidates are the word spans (no sentence punctuation inside, no stop word or filler at either
    end but a leading negation) of the theme's statements of that language that lie closest to the
    centroid (`scores`). A span scores by the theme's key lemmas it covers (c-TF-IDF, `terms`), by
    how many of the theme's statements share its content lemmas, by how central its statement is,
    minus a little per word beyond four. Lemmas only choose: the label shows the statement's own
    words, so a lemmatizer's slip («замер» -> «замереть») never reaches a reader. A span holding a
    digit, a number word, a name or other personal data (`nlp.redact.find_pii`, `blocked` lemmas,
    `name_like`) never becomes a label.
    Returns ({theme: {lang: label}}, {theme: {lang: key words as they were said}}).
    """
    from .language import analyze
    from .redact import find_pii, name_like

    blocked = {w.lower() for w in (blocked or set())}
    terms = terms if terms is not None else {}
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float32)
    out: dict[int, dict[str, str]] = defaultdict(dict)
    surf_terms: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for lang in sorted(set(langs)):
        idx = [i for i in range(len(texts)) if langs[i] == lang and labels[i] >= 0]
        if not idx:
            continue
        stop = _stop_words(lang)
        numbers, edge_ok, no_inside = _label_words(lang)
        an = dict(zip(idx, analyze([texts[i] for i in idx], lang)))
        by_theme: dict[int, list[int]] = defaultdict(list)
        for i in idx:
            by_theme[int(labels[i])].append(i)
        for lab, members in by_theme.items():
            key = terms.get(lab, {}).get(lang, [])
            weight: dict[str, float] = {}
            for r, term in enumerate(key):
                for w in term.split(" "):
                    weight[w] = max(weight.get(w, 0.0), 1.0 / (1 + r))
            member_lemmas = [{t.lemma for t in an[i].tokens if not t.is_punct} for i in members]
            # The most frequent spoken form of each lemma: how key words are shown.
            forms: dict[str, Counter] = defaultdict(Counter)
            for i in members:
                for t in an[i].tokens:
                    if not t.is_punct:
                        forms[t.lemma][t.lower] += 1
            surf_terms[lab][lang] = [" ".join(forms[w].most_common(1)[0][0] if forms.get(w) else w
                                              for w in term.split(" ")) for term in key]
            ranked = sorted(members, key=lambda i: (-float(scores[i]), i))[:LABEL_CANDIDATES]
            best: tuple[float, str] | None = None
            fallback: tuple[float, str] | None = None
            for rank, i in enumerate(ranked):
                toks = an[i].tokens
                pii = find_pii(texts[i])
                ok = [not t.is_punct and not any(c.isdigit() for c in t.text) and t.lemma not in numbers
                      and t.lower not in numbers and t.lower not in blocked and t.lemma not in blocked
                      and t.lower not in no_inside
                      and not name_like(t.lemma) and not any(a < t.end and t.start < b for a, b, _ in pii)
                      for t in toks]
                content = [ok[j] and any(c.isalpha() for c in toks[j].text) and toks[j].lemma not in stop
                           and len(toks[j].text) > 1 for j in range(len(toks))]
                text_i = texts[i]
                # A label starts and ends on word boundaries of the statement: never half of
                # "gas-fired", "x-rays" or "daughter's", never a clitic like "'ll" or "ta" of "gotta".
                starts = [j == 0 or not _joined(text_i[toks[j].start - 1]) for j in range(len(toks))]
                starts = [st_ and not toks[j].text[:1] in "'’-" for j, st_ in enumerate(starts)]
                ends = [toks[j].end >= len(text_i) or not _joined(text_i[toks[j].end]) for j in range(len(toks))]
                central = 1.0 - rank / max(1, len(ranked))
                for a in range(len(toks)):
                    for b in range(a + LABEL_MIN_WORDS, min(len(toks), a + LABEL_MAX_WORDS) + 1):
                        if not all(ok[a:b]):
                            break  # a punctuation mark or blocked word ends every longer span too
                        if not (starts[a] and ends[b - 1]):
                            continue
                        lem = {toks[j].lemma for j in range(a, b) if content[j]}
                        if not lem or not _in_script(toks[a:b], lang):
                            continue
                        kw = sum(weight.get(w, 0.0) for w in lem)
                        shared = np.mean([len(lem & m) / len(lem) for m in member_lemmas])
                        sc = kw + shared + 0.3 * central - 0.1 * max(0, (b - a) - 4) - 0.05 * (b - a == 2)
                        text = texts[i][toks[a].start:toks[b - 1].end]
                        clean_edges = content[a] and content[b - 1] or (
                            toks[a].lower in edge_ok and content[b - 1])
                        if clean_edges and (best is None or sc > best[0]):
                            best = (sc, text)
                        elif not clean_edges and content[b - 1] and (fallback is None or sc > fallback[0]):
                            fallback = (sc, text)
            chosen = best or fallback
            if chosen is not None:
                out[lab][lang] = chosen[1][:1].upper() + chosen[1][1:]
    return dict(out), dict(surf_terms)


def _without_names(docs: list[list[str]], texts: Sequence[str]) -> list[list[str]]:
    """The lemma lists without names and e-mails (`nlp.redact.drop_personal_lemmas`): a customer's
    friend "Karen" must not become the label "friend karen / karen use" or a key term."""
    from .language import lemmas_auto
    from .redact import drop_personal_lemmas

    return drop_personal_lemmas(docs, texts, lambda pieces: lemmas_auto(pieces))


def _redact(text: str) -> str:
    from .redact import redact

    return redact(text)


@dataclass
class ThemeSummary:
    kind: str
    statements: int = 0
    themes: int = 0
    other: int = 0
    emerging: int = 0
    refit: bool = True
    seconds: float = 0.0
    model_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Theme:
    theme_id: str
    members: list[int] = field(default_factory=list)
    emerging: bool = False


THEMES_FILE = "themes.csv"
THEMES_COLUMNS = ("kind", "theme_id", "label", "name", "merge_into", "split_into", "statements")


def themes_file(store: "Store") -> Path:
    """The user's theme names and merges: `<store>/themes.csv` (see `read_theme_edits`)."""
    return store.path / THEMES_FILE


def read_theme_edits(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    """{kind: {theme_id: {"name": ..., "merge_into": ...}}} from a themes file; {} when there is none.

    The file is CSV (UTF-8, with or without BOM) with the columns `kind, theme_id, label, name,
    merge_into, split_into, statements`. `label` and `statements` are written by callbridge on every
    run and only read by people; `name` (the user's name for the theme, shown instead of the automatic
    label in every report language), `merge_into` (the id of a theme of the same kind that this one
    joins) and `split_into` (a number N >= 2: the theme becomes themes ID.1 .. ID.N) are the user's and
    are kept across reruns. Raises ThemeError (with the line) on a file that is not such a CSV.
    """
    import csv

    if not path.exists():
        return {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"kind", "theme_id"} - set(reader.fieldnames or [])
            if missing:
                raise ThemeError(f"the themes file has no column(s) {', '.join(sorted(missing))}", path=str(path),
                                 hint=f"keep the header row: {','.join(THEMES_COLUMNS)}")
            out: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
            for line, row in enumerate(reader, start=2):
                kind = (row.get("kind") or "").strip()
                tid = (row.get("theme_id") or "").strip()
                if not kind and not tid:
                    continue
                if kind not in KINDS or not tid:
                    raise ThemeError(f"line {line}: kind {kind!r} / theme_id {tid!r} is not a theme", path=str(path),
                                     hint=f"kind is one of {', '.join(KINDS)} and theme_id as written by callbridge")
                merge = (row.get("merge_into") or "").strip()
                if merge == tid:
                    merge = ""
                split = (row.get("split_into") or "").strip()
                if split and not (split.isdigit() and int(split) >= 2):
                    raise ThemeError(f"line {line}: split_into {split!r} is not a number of 2 or more", path=str(path),
                                     hint="write how many themes to split it into (2, 3, ...) or leave it empty")
                out[kind][tid] = {"name": (row.get("name") or "").strip(), "merge_into": merge,
                                  "split_into": split, "label": (row.get("label") or "").strip()}
    except (UnicodeDecodeError, csv.Error) as e:
        raise ThemeError(f"cannot read the themes file as CSV: {e}", path=str(path),
                         hint="save it as UTF-8 CSV, or delete it to start over") from None
    return dict(out)


def _split_count(edit: dict[str, str]) -> int:
    """The user's `split_into` as a count (0 when empty or not a whole number of 2 or more)."""
    raw = str(edit.get("split_into") or "").strip()
    return int(raw) if raw.isdigit() and int(raw) >= 2 else 0


def _merge_target(edits: dict[str, dict[str, str]], tid: str) -> str:
    """Where theme `tid` ends up after following `merge_into` (a cycle leaves it where it is)."""
    seen = [tid]
    cur = tid
    while (edits.get(cur) or {}).get("merge_into"):
        cur = edits[cur]["merge_into"]
        if cur in seen:
            return tid
        seen.append(cur)
    return cur


def write_theme_edits(path: Path, edits: dict[str, dict[str, dict[str, str]]],
                      current: dict[str, list[tuple[str, str, int]]]) -> None:
    """Rewrite the themes file: a row per current theme ((theme_id, automatic label, statements) per
    kind in `current`) with the user's name and merge kept, plus the user's rows for themes not
    present now (kept so that nothing a user wrote is lost)."""
    import csv
    import io

    from .fileutil import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(THEMES_COLUMNS)
    for kind in KINDS:
        user = edits.get(kind, {})
        done = set()
        for tid, label, n in current.get(kind, []):
            e = user.get(tid, {})
            w.writerow([kind, tid, label, e.get("name", ""), e.get("merge_into", ""), e.get("split_into", ""), n])
            done.add(tid)
        for tid, e in user.items():
            if tid not in done and (e.get("name") or e.get("merge_into") or e.get("split_into")):
                w.writerow([kind, tid, e.get("label", ""), e.get("name", ""), e.get("merge_into", ""),
                            e.get("split_into", ""), 0])
    atomic_write_text(path, "\ufeff" + buf.getvalue())


def edit_themes(store: "Store", rename: tuple[str, str] | None = None, merge: tuple[str, str] | None = None,
                kind: str | None = None, split: tuple[str, int] | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """Record a rename (theme, new name; an empty name gives the theme back its automatic label), a
    merge (theme A into theme B) or a split (theme, into N >= 2 themes; N = 0 undoes it) in the
    store's themes file. A theme is `KIND:ID` (`objection:3`) or a bare ID with `kind`. Raises
    ThemeError for a theme the store does not have."""
    path = themes_file(store)
    edits = read_theme_edits(path)

    def resolve(ref: str) -> tuple[str, str]:
        k, _, tid = ref.rpartition(":")
        k = k or kind
        if not k:
            found = [r["kind"] for r in store.db.execute("SELECT kind FROM themes WHERE theme_id=?", (tid,))]
            if len(found) != 1:
                raise ThemeError(f"theme {ref!r} is {'in ' + ', '.join(found) if found else 'not in the store'}",
                                 hint="name it as KIND:ID, e.g. objection:3 (ids are in the themes table and "
                                      f"{path.name})")
            k = found[0]
        if k not in KINDS:
            raise ThemeError(f"unknown statement kind {k!r} in {ref!r}", hint=f"use one of {', '.join(KINDS)}")
        known = {r["theme_id"] for r in store.db.execute("SELECT theme_id FROM themes WHERE kind=?", (k,))}
        if tid not in known and tid not in edits.get(k, {}):
            raise ThemeError(f"no theme {tid!r} among the {k} themes ({', '.join(sorted(known)) or 'none'})",
                             hint="run `callbridge themes` first; ids are in the report's themes table")
        return k, tid

    if rename is not None:
        k, tid = resolve(rename[0])
        edits.setdefault(k, {}).setdefault(tid, {"name": "", "merge_into": "", "label": ""})["name"] = rename[1].strip()
    if split is not None:
        k, tid = resolve(split[0])
        if split[1] != 0 and split[1] < 2:
            raise ThemeError(f"cannot split a theme into {split[1]}", hint="give 2 or more (0 undoes a split)")
        edits.setdefault(k, {}).setdefault(tid, {"name": "", "merge_into": "", "label": ""})["split_into"] = \
            str(split[1]) if split[1] else ""
    if merge is not None:
        ka, a = resolve(merge[0])
        kb, b = resolve(merge[1])
        if ka != kb:
            raise ThemeError(f"cannot merge a {ka} theme into a {kb} theme", hint="merge themes of one kind")
        if a == b or _merge_target(edits.get(ka, {}), b) == a:
            raise ThemeError(f"theme {b!r} already ends up in {a!r}", hint="merge the other way round")
        edits.setdefault(ka, {}).setdefault(a, {"name": "", "merge_into": "", "label": ""})["merge_into"] = b
    current = {k: [(r["theme_id"], r["label"], r["n_statements"]) for r in
                   store.db.execute("SELECT theme_id, label, n_statements FROM themes WHERE kind=?", (k,))]
               for k in KINDS}
    write_theme_edits(path, edits, current)
    return edits


def _personal(texts: Sequence[str]) -> set[str]:
    """Words and lemmas of the names and e-mails in `texts`: never part of a label."""
    from .language import lemmas_auto
    from .redact import personal_lemmas

    return personal_lemmas(texts, lambda pieces: lemmas_auto(pieces))


def model_path(store: "Store", kind: str) -> Path:
    """Where a store keeps the theme model of `kind`: `<store>/models/themes-<kind>.joblib`."""
    return store.path / "models" / f"themes-{kind}.joblib"


def build_themes(store: "Store", kinds: Sequence[str] | None = None, n_themes: int | None = None, seed: int = 0,
                 refit: bool = False, vectors: str = "e5", progress=None) -> dict:
    """Cluster each kind's statements into themes and fill the `themes` and `statement_themes` tables.

    The first run fits a `ThemeModel` per kind and saves it as `<store>/models/themes-<kind>.joblib`.
    Later runs (new calls added) keep those themes and ids: statements are assigned with
    `predict`, and the ones that fit no theme are clustered into emerging themes (ids `new-1`, ...).
    `refit=True` (or `n_themes`) throws the saved model away and fits anew.
    Returns {kind: ThemeSummary.to_dict()}.
    """
    from .language import lemmas_auto, norm_lang
    from .vectors import EmbedStats, embed

    kinds = list(kinds) if kinds else list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ThemeError(f"unknown statement kind(s): {', '.join(bad)}", hint=f"use one of {', '.join(KINDS)}")
    total_calls = max(1, len(store.call_ids()))
    out: dict[str, dict] = {}
    stats = EmbedStats()
    edits = read_theme_edits(themes_file(store))
    current: dict[str, list[tuple[str, str, int]]] = {}
    for kind in kinds:
        t0 = time.perf_counter()
        rows = store.statements(kind)
        summary = ThemeSummary(kind=kind, statements=len(rows))
        if not rows:
            with store.transaction() as db:
                db.execute("DELETE FROM themes WHERE kind=?", (kind,))
                db.execute("DELETE FROM statement_themes WHERE kind=?", (kind,))
            summary.refit = False
            out[kind] = summary.to_dict()
            continue
        texts = [s.text for _, s in rows]
        langs = [norm_lang(s.language, s.text) for _, s in rows]
        if vectors == "e5":
            X = embed(texts, store=store, stats=stats)
        else:
            X = texts
        path = model_path(store, kind)
        is_new = np.ones(len(texts), dtype=bool)
        model = None
        if path.exists() and not refit and n_themes is None:
            model = ThemeModel.load(path)
            if model.vectors != vectors:
                model = None
        if model is None:
            model = ThemeModel(n_themes=n_themes, vectors=vectors, random_state=seed)
            model.fit(X, texts=texts, langs=langs, store=store)
            labels, scores = model.labels_, model.scores_
            summary.refit = True
        else:
            labels, scores = model.predict_scores(X, langs=langs, store=store)
            # Statements the model was fitted on keep their theme (or stay "other"): a rerun with
            # new calls changes nothing for the old ones, and only new text can be emerging.
            from .store import text_hash

            known = getattr(model, "known_", {})
            for i, t in enumerate(texts):
                lab = known.get(text_key(t), known.get(text_hash(t)))
                if lab is not None:
                    labels[i] = lab
                    is_new[i] = False
            summary.refit = False
        summary.model_path = str(path)

        themes: dict[str, _Theme] = {}
        tid_of = np.array([str(int(v)) for v in labels], dtype=object)
        for tid in range(model.n_themes_):
            themes[str(tid)] = _Theme(str(tid))
        outlier = labels < 0
        if not summary.refit and (outlier & is_new).sum() >= 3:
            # New statements no saved theme explains: cluster them among themselves, emerging themes.
            idx = np.where(outlier & is_new)[0]
            fresh = ThemeModel(vectors=vectors, random_state=seed)
            Xo = X[idx] if isinstance(X, np.ndarray) else [X[i] for i in idx]
            fresh.fit(Xo, texts=[texts[i] for i in idx], langs=[langs[i] for i in idx], store=store)
            scores = np.array(scores, dtype=np.float32)
            for pos, (j, lab) in enumerate(zip(idx, fresh.labels_)):
                if lab >= 0:
                    scores[j] = fresh.scores_[pos]
                    tid = f"new-{int(lab) + 1}"
                    themes.setdefault(tid, _Theme(tid, emerging=True))
                    tid_of[j] = tid
                    outlier[j] = False
        # Identical and near-identical statements share one theme and one outlier flag, whichever
        # path (fit, saved model, emerging) placed them.
        keys = [text_key(t) for t in texts]
        joint = unify(keys, np.array([OTHER_ID if o else t for t, o in zip(tid_of, outlier)], dtype=object))
        outlier = np.array([v == OTHER_ID for v in joint])
        tid_of = np.array([str(v) for v in joint], dtype=object)
        # The user's merges (themes file): a merged theme's statements count under the theme it went into.
        user = edits.get(kind, {})
        for i, tid in enumerate(tid_of):
            target = _merge_target(user, tid)
            if target != tid and not outlier[i]:
                tid_of[i] = target
                themes.setdefault(target, _Theme(target, emerging=target.startswith("new-")))
        # The user's splits: theme ID with split_into N becomes ID.1 .. ID.N (largest first).
        for tid, e in user.items():
            n_split = _split_count(e)
            idx = [i for i in range(len(tid_of)) if tid_of[i] == tid and not outlier[i]]
            if n_split < 2 or len(idx) < n_split:
                continue
            sub = ThemeModel(n_themes=n_split, vectors=vectors, random_state=seed, max_other=0.0)
            Xs = X[idx] if isinstance(X, np.ndarray) else [X[i] for i in idx]
            sub.fit(Xs, texts=[texts[i] for i in idx], langs=[langs[i] for i in idx], store=store)
            sims = sub.transform(Xs, langs=[langs[i] for i in idx], store=store)
            parts = np.where(sub.labels_ >= 0, sub.labels_, sims.argmax(axis=1))
            parts = unify([keys[i] for i in idx], parts)
            for i, part in zip(idx, parts):
                tid_of[i] = f"{tid}.{int(part) + 1}"
                themes.setdefault(tid_of[i], _Theme(tid_of[i], emerging=themes[tid].emerging if tid in themes
                                                    else False))
        for i, tid in enumerate(tid_of):
            if not outlier[i]:
                themes[tid].members.append(i)
        num_of = {tid: k for k, tid in enumerate(themes)}
        lab_num = np.array([num_of[t] if not o else -1 for t, o in zip(tid_of, outlier)])
        lemma_docs = lemmas_auto(texts, langs)
        docs = _without_names(lemma_docs, texts)
        terms = theme_terms(docs, lab_num, langs)
        phrases, shown_terms = phrase_labels(texts, langs, lab_num, scores, terms, blocked=_personal(texts))

        theme_rows = []
        for tid, th in themes.items():
            if not th.members:
                continue
            k = num_of[tid]
            m = th.members
            lang_counts = Counter(langs[i] for i in m)
            main_lang = lang_counts.most_common(1)[0][0]
            by_lang = shown_terms.get(k, {})
            label_terms = by_lang.get(main_lang) or next((v for v in by_lang.values() if v), [])
            by_lang_labels = dict(phrases.get(k, {}))
            for lg, v in by_lang.items():
                if lg not in by_lang_labels and v:
                    by_lang_labels[lg] = make_label(v)
            auto = by_lang_labels.get(main_lang) or next(iter(by_lang_labels.values()), "") \
                or _redact(texts[m[int(np.argmax(scores[m]))]][:60])
            name = (user.get(tid) or {}).get("name", "").strip()
            label = name or auto
            if name:
                # The user's name is the theme's name in every report language.
                by_lang_labels = {lg: name for lg in set(lang_counts) | set(by_lang_labels)}
            ranked = sorted(m, key=lambda i: (-float(scores[i]), i))
            quotes = []
            seen_texts, seen_calls = set(), set()
            # Best-fitting quotes first, from different calls where possible, never the same text twice.
            for pass_ in (0, 1):
                for i in ranked:
                    sid, st = rows[i]
                    if len(quotes) == 3:
                        break
                    if keys[i] in seen_texts or (pass_ == 0 and st.call_id in seen_calls):
                        continue
                    quotes.append({"call_id": st.call_id, "turn": st.turn, "start": st.start, "text": st.text,
                                   "statement_id": sid})
                    seen_texts.add(keys[i])
                    seen_calls.add(st.call_id)
            n_calls = len({rows[i][1].call_id for i in m})
            info = {"quotes": quotes, "terms": label_terms, "labels": by_lang_labels, "auto_label": auto,
                    "user_name": name or None, "merged": sorted(t for t, e in user.items()
                                                               if _merge_target(user, t) == tid and t != tid),
                    "terms_by_language": by_lang, "languages": dict(lang_counts)}
            theme_rows.append((kind, tid, label, len(m), n_calls, n_calls / total_calls, int(th.emerging),
                               json.dumps(info, ensure_ascii=False)))
        if summary.refit:
            model.theme_labels_ = {int(r[1]): r[2] for r in theme_rows if not r[6]}
            model.known_ = {text_key(t): int(v) for t, v in zip(texts, labels)}
            model.save(path)
        st_rows = [(rows[i][0], kind, OTHER_ID if outlier[i] else tid_of[i], int(outlier[i]), float(scores[i]))
                   for i in range(len(rows))]
        with store.transaction() as db:
            db.execute("DELETE FROM themes WHERE kind=?", (kind,))
            db.execute("DELETE FROM statement_themes WHERE kind=?", (kind,))
            db.executemany("INSERT INTO themes(kind, theme_id, label, n_statements, n_calls, share_calls, emerging,"
                           " info_json) VALUES (?,?,?,?,?,?,?,?)", theme_rows)
            db.executemany("INSERT OR REPLACE INTO statement_themes(statement_id, kind, theme_id, outlier, score)"
                           " VALUES (?,?,?,?,?)", st_rows)
        current[kind] = [(r[1], json.loads(r[7])["auto_label"], r[3]) for r in theme_rows]
        summary.themes = sum(1 for r in theme_rows if not r[6])
        summary.emerging = sum(1 for r in theme_rows if r[6])
        summary.other = int(outlier.sum())
        summary.seconds = time.perf_counter() - t0
        out[kind] = summary.to_dict()
        if progress is not None:
            progress(summary)
    # Kinds not themed in this run keep their rows in the file.
    for kind in KINDS:
        if kind not in current:
            current[kind] = [(r["theme_id"], json.loads(r["info_json"] or "{}").get("auto_label") or r["label"],
                              r["n_statements"]) for r in
                             store.db.execute("SELECT theme_id, label, n_statements, info_json FROM themes "
                                              "WHERE kind=?", (kind,))]
    write_theme_edits(themes_file(store), edits, current)
    out["_embedding"] = {"texts": stats.texts, "cache_hits": stats.cache_hits, "embedded": stats.embedded,
                         "hit_rate": stats.hit_rate, "seconds": stats.seconds}
    return out


@dataclass
class ClusterResult:
    """Per-text themes from `cluster_texts`: ids (-1 = other), labels by id, the model used."""

    labels: np.ndarray
    scores: np.ndarray
    theme_labels: dict[int, str]
    model: ThemeModel
    fitted: bool = True

    def label_of(self, i: int, other: str = "other") -> str:
        return self.theme_labels.get(int(self.labels[i]), other)


def label_themes(labels: np.ndarray, texts: Sequence[str], langs: Sequence[str],
                 scores: np.ndarray | None = None) -> dict[int, str]:
    """A label per theme id: a 2-6 word phrase of its own statements (`phrase_labels`) in the theme's
    majority language; its key words joined when no phrase qualifies."""
    from .language import lemmas_auto

    labels = np.asarray(labels)
    scores = np.zeros(len(texts), dtype=np.float32) if scores is None else scores
    terms = theme_terms(_without_names(lemmas_auto(texts, langs), texts), labels, langs)
    phrases, shown = phrase_labels(texts, langs, labels, scores, terms, blocked=_personal(texts))
    out: dict[int, str] = {}
    for lab in sorted({int(v) for v in labels if v >= 0}):
        main = Counter(lg for lg, v in zip(langs, labels) if v == lab).most_common(1)[0][0]
        by_lang = phrases.get(lab, {})
        words = shown.get(lab, {})
        out[lab] = (by_lang.get(main) or next(iter(by_lang.values()), "")
                    or make_label(words.get(main) or next((v for v in words.values() if v), [])) or f"theme {lab}")
    return out


def cluster_texts(texts: Sequence[str], n_themes: int | None = None, vectors: str = "e5", seed: int = 0,
                  store: "Store | None" = None, model: ThemeModel | None = None) -> ClusterResult:
    """Cluster free texts (or assign them with a fitted `model`) and label the themes."""
    from .language import norm_lang

    texts = ["" if t is None else str(t) for t in texts]
    langs = [norm_lang(None, t) for t in texts]
    if not texts:
        empty = np.zeros(0, dtype=np.int64)
        return ClusterResult(empty, np.zeros(0, dtype=np.float32), {}, model or ThemeModel(), fitted=False)
    X = texts
    if (model.vectors if model is not None else vectors) == "e5":
        from .vectors import embed

        X = embed(texts, store=store)
    if model is not None:
        labels, scores = model.predict_scores(X, langs=langs, store=store)
        labels = unify([text_key(t) for t in texts], labels)
        names = dict(getattr(model, "theme_labels_", {}))
        return ClusterResult(labels, scores, names, model, fitted=False)
    model = ThemeModel(n_themes=n_themes, vectors=vectors, random_state=seed)
    model.fit(X, texts=texts, langs=langs, store=store)
    model.theme_labels_ = label_themes(model.labels_, texts, langs, model.scores_)
    return ClusterResult(model.labels_, model.scores_, model.theme_labels_, model)
