#!/usr/bin/env python3
"""Theme clustering against gold labels: NMI and ARI (x100), the "other" bucket counted as one more cluster.

    python scripts/evaluate.py cluster [--banking77 CSV] [--calls-dev DIR ...] [--vectors e5,tfidf]
                                       [--part held-out|dev] [--cache DIR] [--baselines] [--lobo]

Banking77: the rows of train.csv are shuffled with a fixed seed (numpy default_rng(0)); the first
3,000 are the held-out part (report numbers there), the other 7,003 the development part (tune
there: `--part dev` scores three seeded 3,000-row samples of it). The number of themes is automatic.
calls-dev: every gold statement text of each business is clustered per kind (opening, motive,
need, objection) and compared with its gold theme ids; `--calls-dev` takes several folders (the
default adds the project's labelled corpus `data/train`). Per folder: mean ARI and the theme count
against the gold count (mean |k - gold| / gold, and the signed mean).
`--lobo`: leave-one-business-out choice of the small-set cut (`small_cut`, `small_lexical`): for each
business the grid point best on all the others (mean ARI/100 - mean |count error|) is scored on it.
`--cache DIR` keeps e5 vectors in a callbridge store there, so a second run embeds nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from nlp.store import Store  # noqa: E402
from nlp.themes import ThemeModel  # noqa: E402
from nlp.vectors import EmbedStats, embed  # noqa: E402

DEFAULT_B77 = ROOT.parent / "shared/data/eval/banking77/train.csv"
DEFAULT_CALLS = ROOT.parent / "shared/data/eval/calls-dev"
DEFAULT_TRAIN = ROOT / "data/train"
HELD_OUT = 3000


def scores(gold, pred) -> tuple[float, float]:
    return 100 * normalized_mutual_info_score(gold, pred), 100 * adjusted_rand_score(gold, pred)


def banking77_parts(path: Path, part: str):
    import pandas as pd

    df = pd.read_csv(path)
    if not {"text", "category"} <= set(df.columns):
        sys.exit(f"{path}: needs columns text,category")
    perm = np.random.default_rng(0).permutation(len(df))
    if part == "held-out":
        return df, [np.sort(perm[:HELD_OUT])]
    dev = perm[HELD_OUT:]
    r = np.random.default_rng(1)
    return df, [np.sort(r.choice(dev, min(HELD_OUT, len(dev)), replace=False)) for _ in range(3)]


def run_model(vectors: str, texts: list[str], X: np.ndarray | None, seed: int = 0, **params):
    t = time.perf_counter()
    m = ThemeModel(vectors=vectors, random_state=seed, **params)
    m.fit(X if vectors == "e5" else texts, texts=texts)
    return m.labels_, time.perf_counter() - t


def eval_banking77(args, cache: Store | None) -> None:
    from sklearn.cluster import KMeans

    df, parts = banking77_parts(Path(args.banking77), args.part)
    texts_all = df["text"].astype(str).tolist()
    gold_all = df["category"].astype(str).to_numpy()
    stats = EmbedStats()
    print(f"Banking77 {args.part} part: {len(parts)} sample(s) of {len(parts[0])} rows")
    print(f"{'method':44s} {'themes':>6s} {'other%':>6s} {'NMI':>6s} {'ARI':>6s} {'sec':>6s}")
    for idx in parts:
        texts = [texts_all[i] for i in idx]
        gold = gold_all[idx]
        k_true = len(set(gold))
        X = embed(texts, store=cache, stats=stats) if "e5" in args.vectors else None
        for vec in args.vectors:
            labels, sec = run_model(vec, texts, X)
            nmi, ari = scores(gold, labels)
            n_th = len(set(labels[labels >= 0]))
            print(f"{'callbridge ThemeModel (' + vec + ', automatic)':44s} {n_th:6d} {100 * np.mean(labels < 0):6.1f}"
                  f" {nmi:6.1f} {ari:6.1f} {sec:6.1f}", flush=True)
        if args.baselines:
            if X is not None:
                t = time.perf_counter()
                p = KMeans(k_true, n_init=3, random_state=0).fit_predict(X)
                nmi, ari = scores(gold, p)
                print(f"{'baseline KMeans e5 (true k)':44s} {k_true:6d} {0:6.1f} {nmi:6.1f} {ari:6.1f}"
                      f" {time.perf_counter() - t:6.1f}", flush=True)
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import TfidfVectorizer
            from sklearn.preprocessing import normalize

            t = time.perf_counter()
            Z = normalize(TruncatedSVD(100, random_state=0).fit_transform(TfidfVectorizer().fit_transform(texts)))
            p = KMeans(k_true, n_init=3, random_state=0).fit_predict(Z)
            nmi, ari = scores(gold, p)
            print(f"{'baseline TF-IDF+SVD KMeans (true k)':44s} {k_true:6d} {0:6.1f} {nmi:6.1f} {ari:6.1f}"
                  f" {time.perf_counter() - t:6.1f}", flush=True)
    if stats.texts:
        print(f"embedding: {stats.texts} texts, cache hit rate {100 * stats.hit_rate:.1f}%, "
              f"{stats.embedded} embedded in {stats.seconds:.1f} s")


def gold_statements(business: Path) -> dict[str, tuple[list[str], list[str]]]:
    """kind -> (texts, gold theme ids) from labels/*.json."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for f in sorted((business / "labels").glob("*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        items = []
        if d.get("opening"):
            items.append(("opening", d["opening"]))
        items += [(s["kind"], s) for s in d.get("statements", [])]
        for kind, s in items:
            if s.get("theme"):
                t, g = out.setdefault(kind, ([], []))
                t.append(s["text"])
                g.append(s["theme"])
    return out


def _businesses(root: Path) -> list[Path]:
    return [root] if (root / "labels").is_dir() else sorted(p for p in root.iterdir() if (p / "labels").is_dir())


def eval_calls(args, cache: Store | None) -> None:
    print(f"\ngold statements per business and kind (targets: mean ARI >= 50, theme count within +-30% of gold)")
    print(f"{'business':20s} {'kind':10s} {'vectors':7s} {'n':>4s} {'gold':>4s} {'themes':>6s} {'other%':>6s}"
          f" {'NMI':>6s} {'ARI':>6s}")
    summary = []
    for root in args.calls_dev:
        root = Path(root)
        rows = {v: [] for v in args.vectors}
        for b in _businesses(root):
            for kind, (texts, gold) in gold_statements(b).items():
                X = embed(texts, store=cache) if "e5" in args.vectors else None
                for vec in args.vectors:
                    labels, _ = run_model(vec, texts, X)
                    nmi, ari = scores(gold, labels)
                    k, kg = len(set(labels[labels >= 0])), len(set(gold))
                    rows[vec].append((ari, (k - kg) / kg, kind))
                    print(f"{b.name:20s} {kind:10s} {vec:7s} {len(texts):4d} {kg:4d}"
                          f" {k:6d} {100 * np.mean(labels < 0):6.1f} {nmi:6.1f} {ari:6.1f}", flush=True)
        for vec, r in rows.items():
            if r:
                summary.append(f"{root.name:12s} {vec:6s} {len(r):3d} sets: mean ARI {np.mean([x[0] for x in r]):5.1f},"
                               f" count error mean |k-gold|/gold {100 * np.mean([abs(x[1]) for x in r]):4.0f}%,"
                               f" signed {100 * np.mean([x[1] for x in r]):+4.0f}%")
    print("\n" + "\n".join(summary))


LOBO_GRID = [(cut, lex) for cut in (0.9, 0.925, 0.95, 0.975, 1.0) for lex in (0.0, 0.25, 0.5)]


def eval_lobo(args, cache: Store | None) -> None:
    """Leave-one-business-out choice of the small-set cut over every business of --calls-dev."""
    sets = []
    for root in args.calls_dev:
        for b in _businesses(Path(root)):
            for kind, (texts, gold) in gold_statements(b).items():
                sets.append((Path(root).name, b.name, texts, gold, embed(texts, store=cache)))
    res = {}
    for cut, lex in LOBO_GRID:
        res[(cut, lex)] = []
        for _, _, texts, gold, X in sets:
            labels, _ = run_model("e5", texts, X, small_cut=cut, small_lexical=lex)
            k, kg = len(set(labels[labels >= 0])), len(set(gold))
            res[(cut, lex)].append((scores(gold, labels)[1], (k - kg) / kg))
    names = [s[1] for s in sets]
    picked: dict = {}
    held: dict[str, list] = {}
    for b in sorted(set(names)):
        keep = [i for i, n in enumerate(names) if n != b]
        best = max(LOBO_GRID, key=lambda g: np.mean([res[g][i][0] / 100 - abs(res[g][i][1]) for i in keep]))
        picked[best] = picked.get(best, 0) + 1
        for i, n in enumerate(names):
            if n == b:
                held.setdefault(sets[i][0], []).append(res[best][i])
    print("\nleave-one-business-out (small_cut, small_lexical) picks:",
          ", ".join(f"{g}: {n}x" for g, n in sorted(picked.items(), key=lambda x: -x[1])))
    for root, r in held.items():
        print(f"  held-out {root:12s} {len(r):3d} sets: mean ARI {np.mean([x[0] for x in r]):5.1f},"
              f" count error |k-gold|/gold {100 * np.mean([abs(x[1]) for x in r]):4.0f}%,"
              f" signed {100 * np.mean([x[1] for x in r]):+4.0f}%")
    print("  every grid point (ARI / |count error| per folder):")
    for g in LOBO_GRID:
        print(f"    {g}: " + "  ".join(
            f"{root} {np.mean([res[g][i][0] for i, s in enumerate(sets) if s[0] == root]):5.1f}/"
            f"{100 * np.mean([abs(res[g][i][1]) for i, s in enumerate(sets) if s[0] == root]):3.0f}%"
            for root in dict.fromkeys(s[0] for s in sets)))


def main() -> None:
    ap = argparse.ArgumentParser(prog="evaluate cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--banking77", default=str(DEFAULT_B77), help="Banking77 train.csv ('' to skip)")
    ap.add_argument("--calls-dev", nargs="*", default=[str(DEFAULT_CALLS), str(DEFAULT_TRAIN)],
                    help="folder(s) of labelled businesses ('' to skip)")
    ap.add_argument("--vectors", default="e5,tfidf", help="comma-separated: e5, tfidf")
    ap.add_argument("--part", choices=("held-out", "dev"), default="held-out")
    ap.add_argument("--cache", default=None, help="folder for a vector-cache store")
    ap.add_argument("--baselines", action="store_true", help="also score KMeans with the true k")
    ap.add_argument("--lobo", action="store_true", help="leave-one-business-out choice of the small-set cut")
    args = ap.parse_args()
    args.vectors = [v.strip() for v in args.vectors.split(",") if v.strip()]
    args.calls_dev = [c for c in args.calls_dev if c]
    cache = Store(args.cache) if args.cache else None
    if args.banking77:
        eval_banking77(args, cache)
    if args.calls_dev:
        eval_calls(args, cache)
    if args.lobo and args.calls_dev:
        eval_lobo(args, cache)


if __name__ == "__main__":
    main()
