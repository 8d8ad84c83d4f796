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
3. Spectral embedding of the joint graph, then k-means in that embedding (spectral clustering).
   The number of themes grows with the square root of the number of statements, then themes
   whose centroids are near-duplicates are merged, so the count adapts to the data. `n_themes`
   overrides it. Under 4 x n_neighbors statements, average-linkage clustering of the vectors is
   cut where groups stop being more alike than random statements (see `_small_themes`).
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
    small_cut: below 4 x n_neighbors statements (automatic count), average-linkage clustering is
        cut at this cosine distance between groups of centred vectors.
    random_state: seed; the same data and seed give the same themes.
    """

    def __init__(self, n_themes: int | None = None, vectors: str = "e5", n_neighbors: int = 10,
                 lexical_weight: float = 0.5, spectral_dims: int = 32, merge_threshold: float = 0.8,
                 outlier_threshold: float = 0.2, min_theme_size: int = 2, max_other: float = 0.1,
                 max_fit_samples: int = 10000, small_cut: float = 1.0, random_state: int = 0):
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
        if n >= 4 * self.n_neighbors:
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
        if auto and n < 4 * self.n_neighbors:
            labels = self._small_themes(S)
        else:
            labels = KMeans(k0, n_init=5, random_state=seed).fit_predict(S)
        if auto:
            labels = self._merge(E, labels)
        return self._prune(E, labels)

    def _small_themes(self, S: np.ndarray) -> np.ndarray:
        """Few statements: average-linkage agglomerative clustering on the centred vectors.

        Groups keep merging while their statements are, on average, more alike than
        `small_cut` (cosine distance; 1.0 = "more alike than two statements of this set at
        random", since the vectors are centred). With a handful of statements a silhouette or
        an over-cluster-then-merge count is mostly noise and picked far too many themes; this
        cut needs no count at all and adapts to how spread the set is.
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

    def _prune(self, E: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Send tiny themes and far-off statements to "other", never more than `max_other`."""
        labels = labels.copy()
        n = len(labels)
        ids, counts = np.unique(labels, return_counts=True)
        big = ids[counts >= min(self.min_theme_size, n)]
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
    return " / ".join(terms[:n])


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
                lab = known.get(text_hash(t))
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
        for i, tid in enumerate(tid_of):
            if not outlier[i]:
                themes[tid].members.append(i)
        num_of = {tid: k for k, tid in enumerate(themes)}
        lab_num = np.array([num_of[t] if not o else -1 for t, o in zip(tid_of, outlier)])
        docs = _without_names(lemmas_auto(texts, langs), texts)
        terms = theme_terms(docs, lab_num, langs)

        theme_rows = []
        for tid, th in themes.items():
            if not th.members:
                continue
            k = num_of[tid]
            m = th.members
            lang_counts = Counter(langs[i] for i in m)
            main_lang = lang_counts.most_common(1)[0][0]
            by_lang = terms.get(k, {})
            label_terms = by_lang.get(main_lang) or next((v for v in by_lang.values() if v), [])
            label = make_label(label_terms) or _redact(texts[m[int(np.argmax(scores[m]))]][:60])
            quotes = []
            seen_texts, seen_calls = set(), set()
            ranked = sorted(m, key=lambda i: (-float(scores[i]), i))
            # Best-fitting quotes first, from different calls where possible, never the same text twice.
            for pass_ in (0, 1):
                for i in ranked:
                    sid, st = rows[i]
                    if len(quotes) == 3:
                        break
                    if st.text in seen_texts or (pass_ == 0 and st.call_id in seen_calls):
                        continue
                    quotes.append({"call_id": st.call_id, "turn": st.turn, "start": st.start, "text": st.text,
                                   "statement_id": sid})
                    seen_texts.add(st.text)
                    seen_calls.add(st.call_id)
            n_calls = len({rows[i][1].call_id for i in m})
            info = {"quotes": quotes, "terms": label_terms, "labels": {lg: make_label(v) for lg, v in by_lang.items()},
                    "terms_by_language": by_lang, "languages": dict(lang_counts)}
            theme_rows.append((kind, tid, label, len(m), n_calls, n_calls / total_calls, int(th.emerging),
                               json.dumps(info, ensure_ascii=False)))
        if summary.refit:
            from .store import text_hash

            model.theme_labels_ = {int(r[1]): r[2] for r in theme_rows if not r[6]}
            model.known_ = {text_hash(t): int(v) for t, v in zip(texts, labels)}
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
        summary.themes = sum(1 for r in theme_rows if not r[6])
        summary.emerging = sum(1 for r in theme_rows if r[6])
        summary.other = int(outlier.sum())
        summary.seconds = time.perf_counter() - t0
        out[kind] = summary.to_dict()
        if progress is not None:
            progress(summary)
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


def label_themes(labels: np.ndarray, texts: Sequence[str], langs: Sequence[str]) -> dict[int, str]:
    """A short label per theme id from its distinctive lemmas, in the theme's majority language."""
    from .language import lemmas_auto

    terms = theme_terms(_without_names(lemmas_auto(texts, langs), texts), labels, langs)
    out: dict[int, str] = {}
    for lab in sorted({int(v) for v in labels if v >= 0}):
        main = Counter(lg for lg, v in zip(langs, labels) if v == lab).most_common(1)[0][0]
        by_lang = terms.get(lab, {})
        chosen = by_lang.get(main) or next((v for v in by_lang.values() if v), [])
        out[lab] = make_label(chosen) or f"theme {lab}"
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
        names = dict(getattr(model, "theme_labels_", {}))
        return ClusterResult(labels, scores, names, model, fitted=False)
    model = ThemeModel(n_themes=n_themes, vectors=vectors, random_state=seed)
    model.fit(X, texts=texts, langs=langs, store=store)
    model.theme_labels_ = label_themes(model.labels_, texts, langs)
    return ClusterResult(model.labels_, model.scores_, model.theme_labels_, model)
