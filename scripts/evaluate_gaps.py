#!/usr/bin/env python3
"""Step-presence accuracy of script-gap analysis against gold labels.

    python scripts/evaluate.py gaps DIR... [--cache DIR] [--train]

Each DIR is a business folder (`script.md`, `calls/`, `labels/` whose `script_steps` list the steps the
agent performed) or a folder of such folders (`calls-dev/`). Score: balanced accuracy per step (mean of
recall on calls with and without the step; steps whose gold is one class only are listed, not scored),
averaged over steps. Nothing is scored by a model that saw its calls:

- anchor: TF-IDF character n-gram similarity between agent sentences and step examples, one global
  threshold chosen on the other given businesses (with only one business given: the median score);
- e5-max: the best e5 similarity, thresholded the same way;
- calibrated LOBO: `nlp.gaps.AdherenceCalibrator` trained on every other business (the shipped training
  table plus the other DIRs, minus any calls of this business's script);
- CV + step adapter: 5-fold cross-validation by call inside the business: the LOBO model's scores,
  recalibrated per step (`nlp.gaps.StepAdapter`, what `callbridge gaps --labels` does) on the other folds.

`--train` fits the calibrator on all given businesses and writes `nlp/data/gaps_calibration.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp import gaps  # noqa: E402
from nlp.callio import read_call  # noqa: E402
from nlp.script import read_script  # noqa: E402
from nlp.store import Store  # noqa: E402


@dataclass(eq=False)
class Business:
    name: str
    fingerprint: str
    step_ids: list[str]
    call_ids: list[str]
    X: np.ndarray           # (calls*steps) x features
    y: np.ndarray           # (calls*steps,)
    anchor: np.ndarray      # (calls*steps,) TF-IDF char n-gram max similarity
    aug_X: np.ndarray | None = None  # features of random small sub-batches (training only)
    aug_y: np.ndarray | None = None


def find_businesses(dirs: list[str]) -> list[Path]:
    out = []
    for d in map(Path, dirs):
        if (d / "script.md").exists() and (d / "calls").is_dir():
            out.append(d)
        else:
            out += sorted(p for p in d.iterdir() if (p / "script.md").exists() and (p / "calls").is_dir())
    if not out:
        sys.exit("no business folder (script.md + calls/ + labels/) under " + " ".join(dirs))
    return out


def anchor_scores(calls, units, script) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    ex = [[e for e in s.examples] + [s.title] for s in script.steps]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vec.fit([u.text for u in units] + [e for x in ex for e in x])
    U = vec.transform([u.text for u in units])
    K = len(script.steps)
    S = np.zeros((len(units), K))
    for k, e in enumerate(ex):
        S[:, k] = (U @ vec.transform(e).T).toarray().max(axis=1)
    out = np.zeros((len(calls), K))
    call_of = np.asarray([u.call for u in units])
    for c in range(len(calls)):
        m = call_of == c
        if m.any():
            out[c] = S[m].max(axis=0)
    return out.reshape(-1)


def load_business(d: Path, cache: Store) -> Business:
    script = read_script(d / "script.md")
    fp = gaps.script_fingerprint(script)
    files = sorted((d / "calls").glob("*.json"))
    calls = [read_call(f) for f in files]
    y = []
    for c in calls:
        lab = json.loads((d / "labels" / f"{c.call_id}.json").read_text(encoding="utf-8"))
        done = set(lab.get("script_steps") or [])
        y += [int(s.step_id in done) for s in script.steps]
    units = gaps.agent_units(calls)
    m = gaps.match_calls(calls, script, cache, units=units)
    b = Business(d.name, fp, script.step_ids(), [c.call_id for c in calls], m.X, np.asarray(y),
                 anchor_scores(calls, units, script))
    # Small batches: users also run a handful of calls, where batch statistics are noisy. Training rows
    # from random sub-batches teach the calibrator how much to trust them (used by --train only).
    rng = np.random.default_rng(0)
    K = len(script.steps)
    yy = np.asarray(y).reshape(len(calls), K)
    aug_X, aug_y = [], []
    for size in (2, 4, 8):
        for _ in range(3):
            if size >= len(calls):
                continue
            pick = sorted(rng.choice(len(calls), size=size, replace=False))
            sub = [calls[i] for i in pick]
            aug_X.append(gaps.match_calls(sub, script, cache).X)
            aug_y.append(yy[pick].reshape(-1))
    b.aug_X = np.vstack(aug_X) if aug_X else np.zeros((0, m.X.shape[1]))
    b.aug_y = np.concatenate(aug_y) if aug_y else np.zeros(0, int)
    return b


def step_bacc(b: Business, pred: np.ndarray) -> dict[str, float]:
    K = len(b.step_ids)
    y, p = b.y.reshape(-1, K), np.asarray(pred).reshape(-1, K)
    out = {}
    for k, s in enumerate(b.step_ids):
        pos, neg = y[:, k] == 1, y[:, k] == 0
        if pos.any() and neg.any():
            out[s] = 0.5 * ((p[pos, k] == 1).mean() + (p[neg, k] == 0).mean())
    return out


def best_threshold(pairs: list[tuple[Business, np.ndarray]]) -> float:
    allv = np.concatenate([v for _, v in pairs])
    best, best_t = -1.0, float(np.median(allv))
    for t in np.quantile(allv, np.linspace(0.02, 0.98, 97)):
        score = np.mean([x for b, v in pairs for x in step_bacc(b, (v >= t).astype(int)).values()] or [0])
        if score > best:
            best, best_t = score, float(t)
    return best_t


AUG_WEIGHT = 0.3  # sub-batch rows teach robustness to small batches without outvoting the real batches


def training_table(calib_path: Path | None, others: list[Business], exclude: str):
    X, y, g, w = [], [], [], []
    try:
        train = gaps.load_calibration(calib_path).get("train") or {}
    except Exception:
        train = {}
    given = {o.fingerprint for o in others} | {exclude}
    if train:
        ws = train.get("weights") or [1.0] * len(train["y"])
        for xi, yi, gi, wi in zip(train["X"], train["y"], train["groups"], ws):
            if gi not in given:
                X.append(xi)
                y.append(yi)
                g.append(gi)
                w.append(wi)
    for o in others:
        X += o.X.tolist() + o.aug_X.tolist()
        y += o.y.tolist() + o.aug_y.tolist()
        g += [o.fingerprint] * (len(o.y) + len(o.aug_y))
        w += [1.0] * len(o.y) + [AUG_WEIGHT] * len(o.aug_y)
    return np.asarray(X, dtype=np.float64), np.asarray(y), g, np.asarray(w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--cache", default="/tmp/callbridge-gaps-eval-cache", help="embedding cache folder")
    ap.add_argument("--calibration", default=None, help="calibration JSON (default: the shipped one)")
    ap.add_argument("--train", action="store_true", help="fit on all given businesses and save the calibration")
    ap.add_argument("--C", type=float, default=gaps.AdherenceCalibrator().C)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with Store(args.cache) as cache:  # only its vector cache is used
        bs = [load_business(d, cache) for d in find_businesses(args.dirs)]
    print(f"features for {sum(len(b.call_ids) for b in bs)} calls of {len(bs)} businesses in "
          f"{time.perf_counter() - t0:.1f}s")

    if args.train:
        X = np.vstack([np.vstack([b.X, b.aug_X]) for b in bs]).astype(np.float64)
        y = np.concatenate([np.concatenate([b.y, b.aug_y]) for b in bs])
        groups = [b.fingerprint for b in bs for _ in range(len(b.y) + len(b.aug_y))]
        weights = np.concatenate([[1.0] * len(b.y) + [AUG_WEIGHT] * len(b.aug_y) for b in bs])
        model = gaps.AdherenceCalibrator(C=args.C).fit(X, y, sample_weight=weights)
        out = Path(args.calibration) if args.calibration else gaps.CALIBRATION_PATH
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"model": model.to_dict(),
               "trained_on": {b.fingerprint: {"name": b.name, "calls": len(b.call_ids)} for b in bs},
               "train": {"X": np.round(X, 5).tolist(), "y": y.tolist(), "groups": groups,
                         "weights": weights.tolist()}}
        out.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out}: weights " + ", ".join(f"{f}={w:+.2f}" for f, w in zip(gaps.FEATURES, model.coef_)))

    rows = []
    calib = Path(args.calibration) if args.calibration else None
    for b in bs:
        others = [o for o in bs if o is not b]
        res: dict[str, dict[str, float]] = {}
        for name, col in (("anchor", None), ("e5-max", 0)):
            vals = (lambda o: o.anchor) if col is None else (lambda o, c=col: o.X[:, c])
            if others:
                t = best_threshold([(o, vals(o)) for o in others])
            else:
                t = float(np.median(vals(b)))
            res[name] = step_bacc(b, (vals(b) >= t).astype(int))
        X, y, _, w = training_table(calib, others, b.fingerprint)
        K, n = len(b.step_ids), len(b.call_ids)
        if len(set(y.tolist())) == 2:
            model = gaps.AdherenceCalibrator(C=args.C).fit(X, y, sample_weight=w)
            res["calibrated LOBO"] = step_bacc(b, model.predict(b.X))
            # CV inside the business: the LOBO model's scores, recalibrated per step on the other folds
            G = model.decision_function(b.X).reshape(n, K)
            X3, Y = b.X.reshape(n, K, -1), b.y.reshape(n, K)
            folds = np.arange(n) % 5
            pred = np.zeros((n, K), dtype=int)
            for f in range(5):
                tr = folds != f
                ad = gaps.StepAdapter().fit(G[tr], X3[tr], Y[tr])
                pred[~tr] = ad.predict_proba(G[~tr], X3[~tr]) >= 0.5
            res["CV + step adapter"] = step_bacc(b, pred.reshape(-1))
        rows.append((b, res))

    methods = ["anchor", "e5-max", "calibrated LOBO", "CV + step adapter"]
    print(f"\n{'business':<14}{'calls':>6}{'steps':>6}" + "".join(f"{m:>19}" for m in methods))
    for b, res in rows:
        print(f"{b.name:<14}{len(b.call_ids):>6}{len(res['anchor']):>6}"
              + "".join(f"{np.mean(list(res[m].values())):>19.3f}" if res.get(m) else f"{'-':>19}" for m in methods))
        one = [s for s in b.step_ids if s not in res["anchor"]]
        if one:
            print(f"{'':<14}not scored (gold one class only): {', '.join(one)}")
    sales = [(b, r) for b, r in rows if not b.name.startswith("pfg")]
    if len(sales) > 1:
        print(f"{'sales (pooled)':<26}" + "".join(
            f"{np.mean([v for _, r in sales for v in r.get(m, {}).values()] or [np.nan]):>19.3f}" for m in methods))
    print("\nper step (calibrated LOBO, anchor):")
    for b, res in rows:
        cal = res.get("calibrated LOBO", {})
        print(f"  {b.name}: " + ", ".join(f"{s} {cal.get(s, float('nan')):.2f}/{res['anchor'][s]:.2f}"
                                         for s in res["anchor"]))


if __name__ == "__main__":
    main()
