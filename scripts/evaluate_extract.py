#!/usr/bin/env python3
"""Score extraction against gold labels: per language and kind P/R/F1, and opening accuracy.

  python scripts/evaluate.py extract DIR... [--mode model|rules|lobo|cv] [--train DIR...] [--folds 5]

DIR: folders holding calls/ and labels/ (a business folder, or a parent of several).
Modes:
  model  score the shipped model (or --model PATH); honest only on calls it was not trained on
  groups businesses shuffled (seed 0) into --folds folds; each fold scored by a model trained on the
         other folds (plus --train): leave-several-businesses-out, k fits instead of one per business
  holdout  train on --train only, score DIRS
  rules  score the rules alone (no classifier)
  lobo   leave one business out: for each group, train on every other group (plus --train) and
         score the held-out one
  cv     k-fold cross-validation by call inside each group (e.g. pfg-dev), plus --train data
Matching: a prediction matches a gold statement of the same call and kind when their word sets
have Jaccard >= 0.5 or one contains the other; each gold matches at most one prediction.
Opening accuracy: a call is right when both say "no opening", or the predicted opening matches.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.extract import (LABEL_KINDS, StatementClassifier, call_units, embed_units,  # noqa: E402
                         extract_units, load_model, read_labelled, spans_match, training_set, unit_groups,
                         words)


def match_count(preds: list[str], golds: list[str]) -> int:
    """Greedy one-to-one matching, best Jaccard first."""
    pairs = []
    for i, p in enumerate(preds):
        wp = words(p)
        for j, g in enumerate(golds):
            if spans_match(p, g):
                wg = words(g)
                pairs.append((len(wp & wg) / max(len(wp | wg), 1), i, j))
    used_p, used_g = set(), set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    return len(used_g)


class Scores:
    def __init__(self):
        self.tp = defaultdict(int)
        self.np = defaultdict(int)
        self.ng = defaultdict(int)
        self.op_ok = defaultdict(int)
        self.op_n = defaultdict(int)
        self.has_openings = defaultdict(bool)
        self.errors: list[str] = []

    def add(self, items, stmts, group_key=lambda c, g: g):
        by_call = defaultdict(list)
        for s in stmts:
            by_call[s.call_id].append(s)
        for call, lab, group in items:
            lang = call.language or "?"
            key = group_key(call, group)
            preds = by_call.get(call.call_id, [])
            for kind in LABEL_KINDS:
                p = [(s.turn, s.text) for s in preds if s.kind == kind]
                g = [(x["turn"], x["text"]) for x in lab.get("statements", []) if x["kind"] == kind]
                tp = 0
                for turn in {t for t, _ in p} | {t for t, _ in g}:
                    tp += match_count([x for t, x in p if t == turn], [x for t, x in g if t == turn])
                for k in (lang, key):
                    self.tp[(k, kind)] += tp
                    self.np[(k, kind)] += len(p)
                    self.ng[(k, kind)] += len(g)
            gold_op = lab.get("opening")
            pred_op = [s for s in preds if s.kind == "opening"]
            if gold_op is None:
                ok = not pred_op
            else:
                ok = bool(pred_op) and pred_op[0].turn == gold_op["turn"] and spans_match(pred_op[0].text,
                                                                                         gold_op["text"])
            if not ok:
                self.errors.append(f"{call.call_id}: opening gold={gold_op and gold_op['text']!r} "
                                   f"pred={pred_op and pred_op[0].text!r}")
            for k in (lang, key):
                self.op_ok[k] += ok
                self.op_n[k] += 1
                self.has_openings[k] |= gold_op is not None

    def table(self) -> str:
        keys = sorted({k for k, _ in self.ng} | set(self.op_n))
        lines = [f"{'set':<14} {'kind':<10} {'P':>5} {'R':>5} {'F1':>5} {'pred':>5} {'gold':>5}"]
        for k in keys:
            for kind in LABEL_KINDS:
                tp, n_p, n_g = self.tp[(k, kind)], self.np[(k, kind)], self.ng[(k, kind)]
                if n_g == 0 and n_p == 0:
                    continue
                p = tp / n_p if n_p else 0.0
                r = tp / n_g if n_g else 0.0
                f = 2 * p * r / (p + r) if p + r else 0.0
                lines.append(f"{k:<14} {kind:<10} {p:5.2f} {r:5.2f} {f:5.2f} {n_p:5d} {n_g:5d}")
            if self.has_openings[k]:
                lines.append(f"{k:<14} {'opening':<10} accuracy {self.op_ok[k] / self.op_n[k]:.2f} "
                             f"({self.op_ok[k]}/{self.op_n[k]} calls)")
        return "\n".join(lines)


# Units of every call, analysed and embedded once (through the store's vector cache) and reused by
# every fold: the folds differ only in which calls train and which are scored.
_UNITS: dict[str, list] = {}


def _prepare(items, store, dense: bool = True) -> None:
    todo = [x for x in items if x[0].call_id not in _UNITS]
    if not todo:
        return
    calls = [c for c, _, _ in todo]
    ups = call_units(calls)
    if dense:
        embed_units([u for us in ups for u in us], store)
    for c, us in zip(calls, ups):
        _UNITS[c.call_id] = us


def _fit(train, params):
    X, y = training_set(train, [_UNITS[c.call_id] for c, _, _ in train])
    return StatementClassifier(**params).fit(X, y, groups=unit_groups(train, X))


def _score(sc, test, model, store):
    calls = [c for c, _, _ in test]
    sc.add(test, extract_units(calls, [_UNITS[c.call_id] for c in calls], model, store))


def worst(sc: Scores, groups) -> str:
    """The lowest per-business F1 of each kind (businesses with at least 3 gold statements of it)."""
    out = []
    for kind in LABEL_KINDS:
        fs = []
        for g in groups:
            tp, n_p, n_g = sc.tp[(g, kind)], sc.np[(g, kind)], sc.ng[(g, kind)]
            if n_g < 3:
                continue
            p = tp / n_p if n_p else 0.0
            r = tp / n_g
            fs.append((2 * p * r / (p + r) if p + r else 0.0, g))
        if fs:
            f, g = min(fs)
            out.append(f"{kind} {f:.2f} ({g})")
    ops = [(sc.op_ok[g] / sc.op_n[g], g) for g in groups if sc.op_n[g] and sc.has_openings[g]]
    if ops:
        f, g = min(ops)
        out.append(f"opening {f:.2f} ({g})")
    return "worst business: " + "; ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(prog="evaluate extract", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--mode", choices=("model", "rules", "lobo", "groups", "cv", "holdout"), default="lobo",
                    help="holdout: train on --train only, score DIRS (e.g. real-dev, or pfg-dev with no pfg data); "
                         "groups: businesses split into --folds folds, each scored by a model that saw none of them")
    ap.add_argument("--model", default=None, help="extractor model for --mode model")
    ap.add_argument("--train", nargs="*", default=[], help="extra labelled folders added to every training set")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--in-weight", type=int, default=1,
                    help="cv: the held-out business's own training calls count this many times")
    ap.add_argument("--C", type=float, default=None)
    ap.add_argument("--rule-weight", type=float, default=None)
    ap.add_argument("--no-lexical", action="store_true", help="no hashed lemma n-grams")
    ap.add_argument("--no-dense", action="store_true", help="no e5 vectors (cue features only)")
    ap.add_argument("--no-context", action="store_true", help="no vector of the agent's preceding sentence")
    ap.add_argument("--tune", action="store_true",
                    help="per-kind decision weights chosen by inner cross-validation on the training calls")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "callbridge" / "eval-store"),
                    help="store whose vectors table caches the e5 vectors between runs")
    ap.add_argument("--show-errors", action="store_true")
    a = ap.parse_args()

    from nlp.store import Store

    store = Store(a.cache)
    items = read_labelled(a.dirs)
    extra = read_labelled(a.train) if a.train else []
    params: dict = {}
    if a.C is not None:
        params["C"] = a.C
    if a.rule_weight is not None:
        params["rule_weight"] = a.rule_weight
    if a.no_lexical:
        params["lexical"] = False
    if a.no_dense:
        params["dense"] = False
    if a.no_context:
        params["context"] = False
    if a.tune:
        params["tune_thresholds"] = True
    sc = Scores()
    t0 = time.perf_counter()
    _prepare(items + extra, store, dense=not a.no_dense)
    groups = sorted({g for _, _, g in items})
    if a.mode in ("model", "rules"):
        model = load_model(a.model) if a.mode == "model" else None
        if a.mode == "model" and model is None:
            print("no trained model found: scoring the rules alone")
        _score(sc, items, model, store)
    elif a.mode == "holdout":
        if not extra:
            sys.exit("holdout needs --train folders")
        _score(sc, items, _fit(extra, params), store)
    elif a.mode == "lobo":
        if len(groups) < 2 and not extra:
            sys.exit("leave-one-business-out needs at least two groups (or --train data)")
        for g in groups:
            test = [x for x in items if x[2] == g]
            _score(sc, test, _fit([x for x in items if x[2] != g] + extra, params), store)
    elif a.mode == "groups":
        import random

        order = groups[:]
        random.Random(0).shuffle(order)
        fold = {g: i % a.folds for i, g in enumerate(order)}
        for f in range(a.folds):
            test = [x for x in items if fold[x[2]] == f]
            _score(sc, test, _fit([x for x in items if fold[x[2]] != f] + extra, params), store)
    else:
        import random

        for g in groups:
            test_all = [x for x in items if x[2] == g]
            idx = list(range(len(test_all)))
            random.Random(0).shuffle(idx)
            for f in range(a.folds):
                held = {i for k, i in enumerate(idx) if k % a.folds == f}
                test = [test_all[i] for i in sorted(held)]
                # --in-weight K: the business's own training calls count K times (a user's few
                # labelled calls against the shipped corpus)
                train = ([test_all[i] for i in idx if i not in held] * a.in_weight
                         + [x for x in items if x[2] != g] + extra)
                _score(sc, test, _fit(train, params), store)
    print(f"mode={a.mode} calls={len(items)} groups={len(groups)} train_extra={len(extra)} "
          f"({time.perf_counter() - t0:.1f}s)")
    print(sc.table())
    if a.mode in ("lobo", "groups") and len(groups) > 2:
        print(worst(sc, groups))
    if a.show_errors:
        print("\n".join(sc.errors))


if __name__ == "__main__":
    main()
