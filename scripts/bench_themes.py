#!/usr/bin/env python3
"""Theme benchmark: `python scripts/bench.py themes [--n 100000] [--embed 300] [--texts CSV]`.

1. Embedding speed and cache: embed `--embed` texts into a fresh store (cold), then again (warm):
   texts/s, cache hit rate, and warm/cold speed-up.
2. Clustering `--n` statements with cached vectors (ThemeModel.fit, automatic theme count), each
   run in its own process limited to 2 threads so peak memory is its own: seconds and peak RSS,
   against plain mini-batch-free KMeans (sklearn, same number of themes, n_init=1) on the same
   vectors in the same run.
The `--n` vectors are the embedded texts repeated with small Gaussian noise (re-normalised), so
they have the geometry of real sentence embeddings without embedding 100,000 texts first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_TEXTS = ROOT.parent / "shared/data/eval/banking77/train.csv"
FALLBACK_TEXTS = ROOT / "tests/data/themes/objections.csv"

CHILD = r"""
import json, resource, sys, time
import numpy as np
X = np.load(sys.argv[2])
t = time.perf_counter()
if sys.argv[1] == "themes":
    from nlp.themes import ThemeModel
    m = ThemeModel(random_state=0).fit(X)
    k, other = m.n_themes_, float(np.mean(m.labels_ < 0))
else:
    from sklearn.cluster import KMeans
    k = int(sys.argv[3])
    KMeans(k, n_init=1, random_state=0).fit(X)
    other = 0.0
sec = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": sec, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "themes": int(k), "other": other}))
"""


def child(mode: str, npy: str, k: int = 0) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2",
               PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, mode, npy, str(k)], capture_output=True, text=True, env=env,
                         cwd=str(ROOT))
    if out.returncode != 0:
        sys.exit(f"{mode} run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import numpy as np
    import pandas as pd

    from nlp.store import Store
    from nlp.vectors import EmbedStats, embed

    ap = argparse.ArgumentParser(prog="bench themes", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="statements to cluster")
    ap.add_argument("--embed", type=int, default=300, help="texts to embed for the speed/cache numbers")
    ap.add_argument("--texts", default=None, help="CSV with a text column (default: Banking77 if present)")
    ap.add_argument("--base-npy", default=None, help="skip embedding: base vectors (.npy) to build the --n from")
    args = ap.parse_args()
    if args.base_npy:
        cluster_part(np.load(args.base_npy), args.n)
        return

    src = Path(args.texts) if args.texts else (DEFAULT_TEXTS if DEFAULT_TEXTS.exists() else FALLBACK_TEXTS)
    texts = pd.read_csv(src)["text"].astype(str).drop_duplicates().tolist()[: args.embed]
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "store") as st:
            cold, warm = EmbedStats(), EmbedStats()
            X = embed(texts, store=st, stats=cold)
            t = time.perf_counter()
            embed(texts, store=st, stats=warm)
            warm_s = time.perf_counter() - t
        print(f"embedding ({src.name}, {len(texts)} texts, multilingual-e5-small q4)")
        print(f"  cold: {cold.embedded} embedded in {cold.seconds:.1f} s = {cold.texts_per_second:.1f} texts/s,"
              f" cache hit rate {100 * cold.hit_rate:.0f}%")
        print(f"  warm: cache hit rate {100 * warm.hit_rate:.0f}%, {len(texts) / max(warm_s, 1e-9):.0f} texts/s"
              f" = {cold.seconds / max(warm_s, 1e-9):.0f}x faster than embedding")

    cluster_part(X, args.n)


def cluster_part(X, n: int) -> None:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        if len(X) < 300:
            # Few distinct texts (the small fallback file): mix pairs of them into more base points.
            i, j = rng.integers(0, len(X), size=(2, 300 - len(X)))
            a = rng.uniform(0.2, 0.8, size=(300 - len(X), 1)).astype(np.float32)
            mix = a * X[i] + (1 - a) * X[j]
            X = np.vstack([X, mix / np.linalg.norm(mix, axis=1, keepdims=True)])
        reps = -(-n // len(X))
        big = np.repeat(X, reps, axis=0)[:n]
        big = big + rng.normal(scale=0.02, size=big.shape).astype(np.float32)
        big /= np.linalg.norm(big, axis=1, keepdims=True)
        npy = str(Path(tmp) / "vectors.npy")
        np.save(npy, big.astype(np.float32))
        del big
        ours = child("themes", npy)
        base = child("kmeans", npy, ours["themes"])
    print(f"clustering {n} statements with cached vectors (2 threads, each run in its own process)")
    print(f"  {'method':38s} {'seconds':>8s} {'CPU s':>8s} {'peak MB':>8s} {'themes':>7s}")
    print(f"  {'ThemeModel (automatic count)':38s} {ours['seconds']:8.1f} {ours['cpu_s']:8.1f} {ours['peak_mb']:8.0f}"
          f" {ours['themes']:7d}   other {100 * ours['other']:.1f}%")
    print(f"  {'baseline: sklearn KMeans, same k':38s} {base['seconds']:8.1f} {base['cpu_s']:8.1f} {base['peak_mb']:8.0f}"
          f" {base['themes']:7d}")
    print("  (seconds are wall-clock: on a machine shared with other jobs, compare CPU s)")
    print(f"  time ratio ThemeModel/KMeans: {ours['seconds'] / max(base['seconds'], 1e-9):.2f}x;"
          f" memory ratio {ours['peak_mb'] / max(base['peak_mb'], 1e-9):.2f}x;"
          f" targets: < 60 s and < 4096 MB -> {'OK' if ours['seconds'] < 60 and ours['peak_mb'] < 4096 else 'MISSED'}")


if __name__ == "__main__":
    main()
