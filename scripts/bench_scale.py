#!/usr/bin/env python3
"""Benchmark scale-out: the same recordings transcribed in-process and on a local Dask cluster.

    python scripts/bench.py scale [--inputs data/sample/calls] [--limit N] [--crop S] [--workers 2]
                                  [--json out.json]

1. in-process: `transcribe_paths(files, store)` as `callbridge transcribe` runs it (model load
   included, as a user sees it; the load is also timed on its own);
2. Dask: `transcribe_paths(files, other_store, scheduler="local:N")`, as
   `callbridge transcribe --scheduler local:N` runs it: cluster start, each worker's model load,
   tasks, results saved by the client.

Printed: wall time of each and their ratio (one run each); per worker, the audio it transcribed,
its busy time (the tasks' own seconds, measured on the worker) and its throughput; the
coordination overhead (Dask wall time minus the busiest worker's busy time: cluster start,
scheduling, moving results, the client's saves; also as seconds per task); whether both runs
produced the same text; and the projection of audio hours per hour for N workers (see
`projection`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from nlp.audio import AUDIO_EXTENSIONS, decode  # noqa: E402
from nlp.store import Store  # noqa: E402
from nlp.transcribe import TranscribeOptions, Transcriber, transcribe_paths  # noqa: E402


def crop(files: list[Path], seconds: float, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    res = []
    for f in files:
        ch = decode(f).channels[:, : int(seconds * 16000)]
        p = out / f"{f.stem}.wav"
        with wave.open(str(p), "wb") as w:
            w.setnchannels(ch.shape[0])
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(ch.T, -1, 1) * 32767).astype("<i2").tobytes())
        res.append(p)
    return res


def texts(store: Path) -> dict[str, tuple]:
    with Store(store, create=False) as st:
        return {c.call_id: tuple((t.speaker, t.text) for t in c.turns) for c in st.iter_calls()}


def projection(rate_in_process: float, rate_worker: float, overhead_per_task: float, mean_task_s: float,
               n: int) -> tuple[float, float]:
    """Audio hours per hour for `n` workers: (each worker a machine like this one, running one
    recording at a time at the in-process rate; each worker a share of this machine's cores, at
    the rate measured per worker here), both times the coordination efficiency
    mean_task_s / (mean_task_s + overhead_per_task). Linear in n: the client saves a call in
    milliseconds and the scheduler spends about a millisecond per task, so neither is the limit
    at the hundreds of tasks an hour this workload makes."""
    eff = mean_task_s / (mean_task_s + max(0.0, overhead_per_task)) if mean_task_s > 0 else 1.0
    return n * rate_in_process * eff, n * rate_worker * eff


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.py scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=Path, nargs="+", default=[ROOT / "data" / "sample" / "calls"])
    ap.add_argument("--limit", type=int, default=0, help="first N recordings only")
    ap.add_argument("--crop", type=float, default=0.0, help="first S seconds of each recording")
    ap.add_argument("--workers", type=int, default=2, help="local:N")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    files = sorted(f for d in args.inputs for f in (d.rglob("*") if d.is_dir() else [d])
                   if f.suffix.lower() in AUDIO_EXTENSIONS)
    if args.limit:
        files = files[: args.limit]
    if not files:
        sys.exit("no recordings found")
    work = Path(tempfile.mkdtemp(prefix="callbridge-bench-scale-"))
    try:
        if args.crop:
            files = crop(files, args.crop, work / "audio")
        print(f"{len(files)} recordings; this machine: {__import__('os').cpu_count()} cores", flush=True)

        t = time.perf_counter()
        tr = Transcriber(TranscribeOptions(progress=False))
        _ = tr.recognizer.model
        load_s = time.perf_counter() - t
        del tr

        t = time.perf_counter()
        with Store(work / "inproc") as st:
            s1 = transcribe_paths(files, st, progress=False)
        t1 = time.perf_counter() - t
        audio = s1.audio_seconds
        print(f"in-process: {t1:.1f} s for {audio:.0f} s audio (model load alone {load_s:.1f} s)", flush=True)

        t = time.perf_counter()
        with Store(work / "dask") as st:
            s2 = transcribe_paths(files, st, progress=False, scheduler=f"local:{args.workers}")
            workers = {c.call_id: c.source.get("worker") for c in st.iter_calls()}
        t2 = time.perf_counter() - t
        print(f"local:{args.workers}: {t2:.1f} s", flush=True)
        if s1.failed or s2.failed:
            print("failed:", [r.path for r in s1.failed + s2.failed])

        per: dict[str, dict[str, float]] = {}
        for r in s2.done:
            w = per.setdefault(workers.get(r.call_id) or "?", {"calls": 0, "audio_s": 0.0, "busy_s": 0.0})
            w["calls"] += 1
            w["audio_s"] += r.audio_seconds
            w["busy_s"] += r.seconds
        busiest = max((w["busy_s"] for w in per.values()), default=0.0)
        overhead = t2 - busiest
        per_task = overhead / max(1, len(s2.done))
        mean_task = sum(r.seconds for r in s2.done) / max(1, len(s2.done))
        rate_in = audio / t1
        rate_w = sum(w["audio_s"] for w in per.values()) / max(1e-9, sum(w["busy_s"] for w in per.values()))
        same = sum(1 for k, v in texts(work / "inproc").items() if texts(work / "dask").get(k) == v)

        print()
        print("| run | wall s | audio s | audio s per wall s | time ratio |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| in-process | {t1:.1f} | {audio:.0f} | {rate_in:.2f} | 1.00 |")
        print(f"| local:{args.workers} | {t2:.1f} | {s2.audio_seconds:.0f} | {s2.audio_seconds / t2:.2f} | "
              f"**{t2 / t1:.2f}** |")
        print()
        print("| worker | calls | audio s | busy s | audio s per busy s |")
        print("| --- | --- | --- | --- | --- |")
        for name, w in sorted(per.items()):
            print(f"| {name} | {w['calls']} | {w['audio_s']:.0f} | {w['busy_s']:.1f} | "
                  f"{w['audio_s'] / max(1e-9, w['busy_s']):.2f} |")
        print()
        print(f"coordination overhead: {overhead:.1f} s of {t2:.1f} s (cluster start, model loads waited "
              f"for, scheduling, results, saves) = {per_task:.2f} s per task; mean task {mean_task:.1f} s")
        print(f"same text in both runs: {same}/{len(files)} calls")
        print()
        print("projected audio hours per hour (linear in workers, times the coordination efficiency):")
        print("| workers | each a machine like this one | each a share of this machine's cores |")
        print("| --- | --- | --- |")
        rows = []
        for n in (1, 2, 4, 8, 16, 32):
            a, b = projection(rate_in, rate_w, per_task, mean_task, n)
            rows.append((n, a, b))
            print(f"| {n} | {a:.1f} | {b:.1f} |")
        if args.json:
            args.json.write_text(json.dumps({
                "recordings": len(files), "audio_s": audio, "inprocess_s": t1, "dask_s": t2, "ratio": t2 / t1,
                "model_load_s": load_s, "workers": per, "overhead_s": overhead, "overhead_per_task_s": per_task,
                "mean_task_s": mean_task, "same_text": same, "projection": rows}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
