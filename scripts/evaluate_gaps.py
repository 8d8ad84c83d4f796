#!/usr/bin/env python3
"""Step-presence accuracy of script-gap analysis against gold labels, on scripts the model never saw.

    python scripts/evaluate.py gaps DIR... [--holdout DIR...] [--models lr,hgb,rf] [--curve] [--train]

Each DIR is a business folder (`script.md`, `calls/`, `labels/` whose `script_steps` list the steps the
agent performed) or a folder of such folders (`data/train/`, `calls-dev/`). Score: balanced accuracy per
step (mean of recall on calls with and without the step; steps whose gold is one class only are left out),
averaged over the business's steps. Nothing is scored by a model that saw its script:

- anchor: TF-IDF character n-gram similarity between agent sentences and step examples, one global
  threshold chosen on the other businesses;
- e5-max: the best e5 similarity, thresholded the same way;
- <model> LOBO: leave one business out over every DIR business: the calibrator (`lr`: the shipped
  logistic regression; `hgb`: gradient boosting; `rf`: random forest, both scikit-learn) is trained on
  all the other businesses and scores the held-out one's whole batch of calls;
- --holdout businesses (e.g. pfg-dev) are never trained on: scored by the model of all DIR businesses.

`--curve` measures `callbridge gaps --labels`: for businesses with at least 10 calls, n of their calls
are labelled (random draws, 10 per n), the model trained without the business is adapted to them as the
product does it (`gaps.adapt_to_script`) and scores the other calls, against the unadapted model on the
same calls.

`--train` fits the logistic calibrator on every DIR business (not --holdout) and writes
`nlp/data/gaps_calibration.json`.
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

# Users also run a handful of calls, where batch statistics are noisy: training rows from random
# sub-batches teach the calibrator how much to trust them, at this weight against the full batches.
AUG_SIZES = (1, 3)
AUG_DRAWS = 2
AUG_WEIGHT = 0.3


@dataclass(eq=False)
class Business:
    name: str
    fingerprint: str
    step_ids: list[str]
    kinds: list[str]
    call_ids: list[str]
    X: np.ndarray           # (calls*steps) x features
    y: np.ndarray           # (calls*steps,)
    anchor: np.ndarray      # (calls*steps,) TF-IDF char n-gram max similarity
    aug_X: np.ndarray
    aug_y: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.call_ids), len(self.step_ids)


def find_businesses(dirs: list[str]) -> list[Path]:
    out = []
    for d in map(Path, dirs):
        if (d / "script.md").exists() and (d / "calls").is_dir():
            out.append(d)
        elif d.is_dir():
            out += sorted(p for p in d.iterdir() if (p / "script.md").exists() and (p / "calls").is_dir()
                          and (p / "labels").is_dir())
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


def load_business(d: Path, cache: Store, augment: bool) -> Business | None:
    script = read_script(d / "script.md")
    calls, y = [], []
    for f in sorted((d / "calls").glob("*.json")):
        lab_path = d / "labels" / f.name
        if not lab_path.exists():
            continue  # a call still being written
        call = read_call(f)
        done = set(json.loads(lab_path.read_text(encoding="utf-8")).get("script_steps") or [])
        calls.append(call)
        y += [int(s.step_id in done) for s in script.steps]
    if not calls:
        return None
    units = gaps.agent_units(calls)
    m = gaps.match_calls(calls, script, cache, units=units)
    K = len(script.steps)
    aug_X, aug_y = [np.zeros((0, m.X.shape[1]))], [np.zeros(0, int)]
    if augment:
        rng = np.random.default_rng(0)
        yy = np.asarray(y).reshape(len(calls), K)
        for size in AUG_SIZES:
            for _ in range(AUG_DRAWS if size < len(calls) else 0):
                pick = sorted(rng.choice(len(calls), size=size, replace=False))
                aug_X.append(gaps.match_calls([calls[i] for i in pick], script, cache).X)
                aug_y.append(yy[pick].reshape(-1))
    return Business(d.name, gaps.script_fingerprint(script), script.step_ids(), m.kinds,
                    [c.call_id for c in calls], m.X.astype(np.float64), np.asarray(y),
                    anchor_scores(calls, units, script), np.vstack(aug_X), np.concatenate(aug_y))


def step_bacc(b: Business, pred: np.ndarray) -> dict[str, float]:
    Y, P = b.y.reshape(b.shape), np.asarray(pred).reshape(b.shape)
    out = {}
    for k, s in enumerate(b.step_ids):
        pos, neg = Y[:, k] == 1, Y[:, k] == 0
        if pos.any() and neg.any():
            out[s] = 0.5 * ((P[pos, k] == 1).mean() + (P[neg, k] == 0).mean())
    return out


def mean(d: dict[str, float]) -> float:
    return float(np.mean(list(d.values()))) if d else float("nan")


def best_threshold(pairs: list[tuple[Business, np.ndarray]]) -> float:
    allv = np.concatenate([v for _, v in pairs])
    best, best_t = -1.0, float(np.median(allv))
    for t in np.quantile(allv, np.linspace(0.02, 0.98, 49)):
        score = np.mean([x for b, v in pairs for x in step_bacc(b, (v >= t).astype(int)).values()] or [0])
        if score > best:
            best, best_t = score, float(t)
    return best_t


def make_model(name: str):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    if name == "lr":
        return gaps.AdherenceCalibrator()
    if name == "hgb":
        return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_depth=2, min_samples_leaf=50,
                                              l2_regularization=1.0, class_weight="balanced", random_state=0)
    if name == "rf":
        return RandomForestClassifier(300, min_samples_leaf=20, max_features=0.3, class_weight="balanced_subsample",
                                      n_jobs=1, random_state=0)
    raise SystemExit(f"unknown model {name!r}: use lr, hgb or rf")


def table(train: list[Business]):
    X = np.vstack([np.vstack([b.X, b.aug_X]) for b in train])
    y = np.concatenate([np.concatenate([b.y, b.aug_y]) for b in train])
    w = np.concatenate([[1.0] * len(b.y) + [AUG_WEIGHT] * len(b.aug_y) for b in train])
    return X, y, w


def fit(name: str, train: list[Business]):
    X, y, w = table(train)
    return make_model(name).fit(X, y, sample_weight=w)


def logit(model, X: np.ndarray) -> np.ndarray:
    p = np.clip(model.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def learning_curve(bs: list[Business], train: list[Business], ns=(1, 2, 4, 8, 16, 32), draws=10,
                   min_calls=10) -> dict[str, dict[int, tuple[float, float]]]:
    """`--labels` as the product does it (`gaps.adapt_to_script`), for every business with >= min_calls
    calls: n of its calls labelled (random draws), the model trained without the business refitted with
    them and shifted per step; scored on its other calls. n -> (mean unadapted, mean adapted) balanced
    accuracy over the draws."""
    out = {}
    for b in bs:
        n_calls, K = b.shape
        if n_calls < min_calls:
            continue
        others = [o for o in train if o is not b]
        TX, Ty, Tw = table(others)
        base_model = gaps.AdherenceCalibrator().fit(TX, Ty, sample_weight=Tw)
        X3, Y = b.X.reshape(n_calls, K, -1), b.y.reshape(n_calls, K)
        G0 = base_model.decision_function(b.X).reshape(n_calls, K)
        rng = np.random.default_rng(1)
        res = {}
        for n in ns:
            if n > n_calls - 4:
                continue
            base, adapted = [], []
            for _ in range(draws):
                lab = rng.choice(n_calls, size=n, replace=False)
                rest = np.setdiff1d(np.arange(n_calls), lab)
                sub = Business(b.name, b.fingerprint, b.step_ids, b.kinds, [b.call_ids[i] for i in rest],
                               b.X, Y[rest].reshape(-1), b.anchor, b.aug_X, b.aug_y)
                cal, ad = gaps.adapt_to_script(base_model, X3[lab], Y[lab],
                                               train={"X": TX, "y": Ty, "weights": Tw})
                G = ad.predict_proba(cal.decision_function(X3[rest].reshape(-1, X3.shape[-1])).reshape(len(rest), K))
                base.append(mean(step_bacc(sub, (G0[rest] >= 0).astype(int).reshape(-1))))
                adapted.append(mean(step_bacc(sub, (G >= 0.5).astype(int).reshape(-1))))
            res[n] = (float(np.nanmean(base)), float(np.nanmean(adapted)))
        out[b.name] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="business folders, or folders of them (trained on, scored LOBO)")
    ap.add_argument("--holdout", nargs="*", default=[], help="business folders never trained on (e.g. pfg-dev)")
    ap.add_argument("--cache", default="/tmp/callbridge-gaps-eval-cache", help="embedding cache folder")
    ap.add_argument("--models", default="lr", help="comma-separated: lr (shipped), hgb, rf")
    ap.add_argument("--curve", action="store_true", help="learning curve of --labels adaptation")
    ap.add_argument("--train", action="store_true", help="fit on all DIR businesses and save the calibration")
    ap.add_argument("--calibration", default=None, help="where --train writes (default: the shipped file)")
    ap.add_argument("--json", default=None, help="write every score to this JSON file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    dirs, hold_dirs = find_businesses(args.dirs), find_businesses(args.holdout)
    if not dirs:
        sys.exit("no business folder (script.md + calls/ + labels/) under " + " ".join(args.dirs))
    with Store(args.cache) as cache:  # only its vector cache is used
        bs = [b for b in (load_business(d, cache, augment=True) for d in dirs) if b]
        hold = [b for b in (load_business(d, cache, augment=False) for d in hold_dirs) if b]
    print(f"features for {sum(len(b.call_ids) for b in bs + hold)} calls of {len(bs) + len(hold)} businesses "
          f"in {time.perf_counter() - t0:.0f}s")

    if args.train:
        X, y, w = table(bs)
        model = gaps.AdherenceCalibrator().fit(X, y, sample_weight=w)
        out = Path(args.calibration) if args.calibration else gaps.CALIBRATION_PATH
        out.parent.mkdir(parents=True, exist_ok=True)
        groups = [b.fingerprint for b in bs for _ in range(len(b.y) + len(b.aug_y))]
        doc = {"model": model.to_dict(),
               "trained_on": {b.fingerprint: {"name": b.name, "calls": len(b.call_ids)} for b in bs},
               "train": {"X": np.round(X, 3).tolist(), "y": y.tolist(), "groups": groups, "weights": w.tolist()}}
        out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"wrote {out} ({len(bs)} businesses, {len(y)} rows)")

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    scores: dict[str, dict[str, dict[str, float]]] = {b.name: {} for b in bs + hold}
    for b in bs + hold:
        others = [o for o in bs if o is not b]
        for name, vals in (("anchor", lambda o: o.anchor), ("e5-max", lambda o: o.X[:, 0])):
            t = best_threshold([(o, vals(o)) for o in others])
            scores[b.name][name] = step_bacc(b, (vals(b) >= t).astype(int))
        for mname in models:
            model = fit(mname, others)
            scores[b.name][mname] = step_bacc(b, (logit(model, b.X) >= 0).astype(int))
    methods = ["anchor", "e5-max"] + models
    print(f"\n{'business':<20}{'calls':>6}{'steps':>6}" + "".join(f"{m:>10}" for m in methods))
    for b in bs + hold:
        print(f"{b.name:<20}{len(b.call_ids):>6}{len(scores[b.name]['anchor']):>6}"
              + "".join(f"{mean(scores[b.name][m]):>10.3f}" for m in methods) + ("  (held out)" if b in hold else ""))
    print()
    for label, group in (("LOBO, mean over businesses", bs), ("held out (never trained on)", hold)):
        if not group:
            continue
        for stat, fn in (("mean", np.mean), ("worst", np.min)):
            print(f"{label + ' ' + stat:<44}" + "".join(
                f"{fn([mean(scores[b.name][m]) for b in group]):>10.3f}" for m in methods))
    by_kind: dict[str, list[float]] = {}
    for b in bs:
        for k, s in enumerate(b.step_ids):
            if s in scores[b.name].get("lr", {}):
                by_kind.setdefault(b.kinds[k], []).append(scores[b.name]["lr"][s])
    if by_kind:
        print("\nLOBO (lr) per step kind: " + ", ".join(
            f"{k} {np.mean(v):.2f} (n={len(v)})" for k, v in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))))
    curve = {}
    if args.curve and "lr" in models:
        curve = learning_curve(bs + hold, bs)
        ns = sorted({n for r in curve.values() for n in r})
        print("\n--labels learning curve: balanced accuracy on the unlabelled calls, unadapted > adapted")
        print(f"{'business':<20}" + "".join(f"{'n=' + str(n):>14}" for n in ns))
        for name, r in curve.items():
            print(f"{name:<20}" + "".join(f"{r[n][0]:>7.3f}>{r[n][1]:.3f}" if n in r else f"{'-':>14}" for n in ns))
        if curve:
            print(f"{'mean gain':<20}" + "".join(
                f"{np.mean([r[n][1] - r[n][0] for r in curve.values() if n in r]):>+14.3f}" for n in ns))
    if args.json:
        Path(args.json).write_text(json.dumps({"scores": scores, "curve": curve}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
