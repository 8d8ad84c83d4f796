#!/usr/bin/env python3
"""Benchmark: script adherence for N calls (default 1,000) with every embedding already cached.

    python scripts/bench.py gaps [--business DIR] [--calls 1000] [--store DIR]

Builds N calls by cycling the business's calls (each copy's agent sentences made unique by a suffix,
so nothing is deduplicated), puts their vectors in the store's cache (the vector of the original
sentence, window or whole turn), then times `run_gaps` (sentence splitting, cache lookups, matching with
customer turns and TF-IDF overlap, calibration, order, outcome statistics, store writes), and apart
from it the four CSVs with personal data redacted (`nlp.redact`, which reads every evidence sentence
in the context of its whole call). Baseline, same calls, same run: the anchor matcher (TF-IDF
character n-grams between agent sentences and step examples).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp import gaps  # noqa: E402
from nlp.gaps.matching import customer_turns, with_turn_units  # noqa: E402
from nlp.callio import read_calls  # noqa: E402
from nlp.redact import Redactor  # noqa: E402
from nlp.script import read_script  # noqa: E402
from nlp.store import Store  # noqa: E402
from nlp.types import Call, Turn  # noqa: E402
from nlp.vectors import E5_MODEL, embed  # noqa: E402

DEFAULT = "/work/shared/data/eval/calls-dev/ru-kitchen"


def make_calls(base: list[Call], n: int) -> list[Call]:
    out = []
    for i in range(n):
        c = base[i % len(base)]
        k = i // len(base)
        turns = [Turn(t.speaker, t.text if t.speaker != "agent" or k == 0 else f"{t.text} ({k})",
                      t.start, t.end) for t in c.turns]
        out.append(Call(f"{c.call_id}-{i:04d}", turns, c.language, dict(c.metadata)))
    return out


def anchor(calls: list[Call], script) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    units = gaps.agent_units(calls)
    texts, owner = gaps.step_prototypes(script)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    U = vec.fit_transform([u.text for u in units])
    S = (U @ vec.transform(texts).T).toarray()
    owner = np.asarray(owner)
    K = len(script.steps)
    per = np.stack([S[:, owner == k].max(axis=1) for k in range(K)], axis=1)
    call_of = np.asarray([u.call for u in units])
    out = np.zeros((len(calls), K))
    np.maximum.at(out, call_of, per)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--business", default=DEFAULT, help="folder with script.md and calls/")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--store", default=None, help="store folder (default: a temporary one)")
    ap.add_argument("--limit", type=float, default=20.0, help="target seconds for run_gaps")
    args = ap.parse_args()
    biz = Path(args.business)
    script = read_script(biz / "script.md")
    base = read_calls([biz / "calls"])
    calls = make_calls(base, args.calls)
    tmp = tempfile.TemporaryDirectory(prefix="callbridge-bench-gaps-") if args.store is None else None
    store = Store(args.store or tmp.name)
    try:
        t0 = time.perf_counter()
        for c in calls:
            store.save_call(c, "imported")
        # fill the cache: embed the originals once (cached across runs in --store), copy to the variants
        # (agent sentences, word windows and whole turns; customer turns are not varied)
        units = with_turn_units(calls, gaps.agent_units(calls))
        orig = with_turn_units(base, gaps.agent_units(base))
        ovec = embed([u.text for u in orig], store)
        by_pos = {(u.call, u.turn, u.char_start, u.whole_turn): v for u, v in zip(orig, ovec)}
        texts, _ = gaps.step_prototypes(script)
        embed(texts, store)
        embed(customer_turns(base)[2], store)
        fill = {}
        for u in units:
            key = (u.call % len(base), u.turn, u.char_start, u.whole_turn)
            fill[u.text] = by_pos.get(key, ovec[0])
        store.put_vectors(fill, E5_MODEL)
        prep = time.perf_counter() - t0
        print(f"{len(calls)} calls, {len(units)} agent units, {len(script.steps)} steps; setup {prep:.1f}s")

        t0 = time.perf_counter()
        anchor(calls, script)
        t_anchor = time.perf_counter() - t0

        t0, c0 = time.perf_counter(), time.process_time()
        res = gaps.run_gaps(store, script)  # adherence, order, outcome statistics, coverage, store writes
        t_run, c_run = time.perf_counter() - t0, time.process_time() - c0
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            gaps.write_csvs(res, out, Redactor(store, True))
            t_csv = time.perf_counter() - t0
        n_present = sum(r.present for r in res.adherence)
        print(f"baseline  anchor TF-IDF char n-gram matching : {t_anchor:6.2f}s")
        print(f"callbridge run_gaps (cached embeddings)       : {t_run:6.2f}s  ({c_run:.1f} CPU s; "
              f"{t_run / t_anchor:.2f}x the baseline; {len(calls) / t_run:.0f} calls/s; "
              f"{n_present} step performances found)")
        print(f"  + the four CSVs, personal data redacted      : {t_csv:6.2f}s  (nlp.redact on every evidence "
              f"sentence, in the context of its whole call)")
        print(f"target: run_gaps < {args.limit:.0f}s: {'PASS' if t_run < args.limit else 'FAIL'}")
    finally:
        store.close()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
