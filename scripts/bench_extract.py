#!/usr/bin/env python3
"""Extraction speed: customer sentences per second, against a baseline measured in the same run.

  python scripts/bench.py extract [DIR...] [--repeat 20] [--threads 2]

DIR: call JSON files or folders (default: the bundled sample calls under data/). The calls are
repeated (with fresh call ids) to get a measurable amount of text. Baseline: spaCy's own
pipeline as `nlp.language.get_nlp` builds it (sentencizer + lemmatizer component) over the same
customer turns, which is the least any lemma-based extractor has to do. Printed: both rates
and the ratio, for the rules-only path and the shipped model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench extract")
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (the target machine has 2 cores)")
    a = ap.parse_args()
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(a.threads)

    from dataclasses import replace

    from nlp import extract as ex
    from nlp import language as lg
    from nlp.callio import read_calls

    inputs = []
    for d in (a.inputs or [str(ROOT / "tests/data/extract")]):
        sub = [str(p) for p in Path(d).rglob("calls") if p.is_dir()] if Path(d).is_dir() else []
        inputs += sub or [d]  # labelled layouts keep calls in calls/, next to labels/
    base = read_calls(inputs)
    if not base:
        sys.exit("no calls found")
    calls = [replace(c, call_id=f"{c.call_id}#{r}") for r in range(a.repeat) for c in base]
    cust = {}
    for c in calls:
        cust.setdefault(ex.call_language(c), []).extend(t.text for t in c.turns if t.speaker == "customer")
    n_sent = sum(len(an.units) for k, v in cust.items() for an in lg.analyze(v, k))
    print(f"{len(calls)} calls ({len(base)} distinct x {a.repeat}), {n_sent} customer sentences")

    # warm up caches and model loading outside the timed part (a long batch run amortises them)
    ex.extract_calls(base[:2])
    for k in cust:
        lg.get_nlp(k)("warm up")

    t0 = time.perf_counter()
    for k, v in cust.items():
        list(lg.get_nlp(k).pipe(v, batch_size=256))
    t_base = time.perf_counter() - t0

    t0 = time.perf_counter()
    ex.extract_calls(calls, use_model=False)
    t_rules = time.perf_counter() - t0

    t0 = time.perf_counter()
    stmts = ex.extract_calls(calls)
    t_model = time.perf_counter() - t0

    rb, rr, rm = n_sent / t_base, n_sent / t_rules, n_sent / t_model
    print(f"baseline spaCy pipe (customer turns only): {rb:8.0f} sentences/s")
    print(f"extract, rules only (all turns analysed):  {rr:8.0f} sentences/s  ratio {rr / rb:.2f}")
    print(f"extract, shipped model:                    {rm:8.0f} sentences/s  ratio {rm / rb:.2f}"
          f"  ({len(stmts)} statements)")
    print(f"target >= 500 customer sentences/s: {'met' if rm >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
