#!/usr/bin/env python3
"""Benchmark load: 10,000 generated text calls through import -> extract -> themes -> report.

    python scripts/bench.py load [--calls 10000] [--source DIR ...] [--out DIR] [--seed 0]
                                 [--embed-sample 200] [--json out.json]

Each stage is the real command in its own process (`callbridge import --metadata`, `extract
--rules-only`, `themes --vectors tfidf`, `report`), timed with its peak memory (the process's
maximum resident set, from wait4). Then the report is opened in headless Chromium
(`nlp.report.browser`): the page's own load time (Navigation Timing: navigation start to the end
of the load event) and the whole render including the browser's start.

The calls: dialogue .txt files ("Менеджер: ..." / "Agent: ...") and a CRM CSV (date, agent,
lead source, campaign, outcome, amount) for every call. Each call takes a call of the pool as its
frame (agent turns, order, language) and gets its customer turns from random sentences of the
pool's customer turns of that language, with their numbers changed; the pool is the bundled sample
dialogues plus every call JSON under `--source` (e.g. a folder of your own calls).

The default extractor embeds every customer sentence with e5 (~15-30 sentences/s on two shared
cores), which for 10,000 calls is hours, so this bench extracts with `--rules-only` and themes
with TF-IDF vectors, and measures the embedding rate on `--embed-sample` distinct sentences to
project the e5 time (printed, not run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIX = {"ru": {"agent": "Менеджер", "customer": "Клиент"}, "en": {"agent": "Agent", "customer": "Customer"}}
AGENTS = {"ru": ["Ирина", "Дмитрий", "Ольга", "Сергей", "Анна", "Павел"], "en": ["Mike", "Sarah", "Tom", "Emma"]}
SOURCES = ["yandex_direct", "google_ads", "instagram", "referral", "website", "avito", "cold_call"]
CAMPAIGNS = ["autumn_sale", "winter_promo", "brand", "retargeting", "new_year", ""]
_SENT = re.compile(r"(?<=[.!?…])\s+")


def pool(sources: list[Path]) -> list[dict]:
    calls = []
    for c in json.loads((ROOT / "scripts" / "sample_dialogues.json").read_text(encoding="utf-8"))["calls"]:
        calls.append({"language": c["language"], "turns": [{"speaker": s, "text": t} for s, t in c["turns"]]})
    for d in sources:
        for f in sorted(Path(d).rglob("*.json")):
            try:
                c = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(c, dict) and isinstance(c.get("turns"), list) and c.get("language") in PREFIX:
                turns = [t for t in c["turns"] if isinstance(t, dict) and t.get("speaker") in ("agent", "customer")
                         and isinstance(t.get("text"), str) and t["text"].strip()]
                if len(turns) >= 4:
                    calls.append({"language": c["language"], "turns": turns})
    return calls


def generate(out: Path, n: int, sources: list[Path], seed: int) -> tuple[int, int]:
    """`n` dialogue files in out/calls and out/crm.csv; returns (calls in the pool, customer sentences)."""
    rng = random.Random(seed)
    frames = pool(sources)
    sentences: dict[str, list[str]] = {}
    for c in frames:
        for t in c["turns"]:
            if t["speaker"] == "customer":
                sentences.setdefault(c["language"], []).extend(s for s in _SENT.split(t["text"].strip()) if s)
    (out / "calls").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        frame = rng.choice(frames)
        lang = frame["language"]
        lines = []
        for k, t in enumerate(frame["turns"]):
            text = t["text"]
            if t["speaker"] == "customer" and k > 0:
                picked = rng.sample(sentences[lang], min(len(sentences[lang]), rng.randint(1, 3)))
                text = re.sub(r"\d+", lambda m: str(rng.randint(2, 99) * 10 ** max(0, len(m.group()) - 2)),
                              " ".join(picked))
            lines.append(f"{PREFIX[lang][t['speaker']]}: {' '.join(text.split())}")
        cid = f"load-{i:05d}"
        (out / "calls" / f"{cid}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        outcome = rng.choices(["won", "lost", "pending"], [3, 4, 2])[0]
        rows.append([cid, f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", rng.choice(AGENTS[lang]),
                     rng.choice(SOURCES), rng.choice(CAMPAIGNS), outcome,
                     rng.randint(5, 300) * 1000 if outcome == "won" else ""])
    with open(out / "crm.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["call_id", "date", "agent", "lead_source", "campaign", "outcome", "amount"])
        w.writerows(rows)
    return len(frames), sum(len(v) for v in sentences.values())


def timed(name: str, args: list[str]) -> dict:
    """Run `callbridge ARGS` in its own process: wall and CPU seconds, peak resident memory (MB,
    the child's own, from wait4), the last line it printed."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", "from cli import app; app()", *args], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # read stderr fully before reaping, so a chatty stage cannot block on a full pipe
    err = p.stderr.read()
    p.stderr.close()
    _pid, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if p.returncode:
        sys.exit(f"{name} failed ({p.returncode}):\n{err[-3000:]}")
    return {"stage": name, "wall_s": round(wall, 1), "peak_mb": round(usage.ru_maxrss / 1024),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "last_line": (err.strip().splitlines() or [""])[-1]}


def open_in_chromium(html: Path) -> dict:
    from nlp.report.browser import render

    t = time.perf_counter()
    r = render(html, {"load_ms": "(() => { const e = performance.getEntriesByType('navigation')[0]; "
                                 "return e ? e.loadEventEnd - e.startTime : -1; })()",
                      "dom_nodes": "document.getElementsByTagName('*').length"})
    return {"page_load_s": round((r.values.get("load_ms") or -1) / 1000, 2), "render_s": round(time.perf_counter() - t, 1),
            "dom_nodes": r.values.get("dom_nodes"), "errors": r.errors, "requests": [u for u in r.requests
                                                                                    if not u.startswith("file:")]}


def embed_rate(store: Path, sample: int, seed: int) -> dict:
    """e5 sentences per second on `sample` distinct customer sentences, and how many sentences the
    default extractor would embed for this store."""
    from nlp.extract import call_units
    from nlp.store import Store
    from nlp.vectors import embed

    with Store(store, create=False) as st:
        calls = list(st.iter_calls())
    units = [u for us in call_units(calls) for u in us]
    texts = sorted({u.text for u in units} | {u.context for u in units if getattr(u, "context", None)})
    rng = random.Random(seed)
    batch = rng.sample(texts, min(sample, len(texts)))
    embed(batch[:8], None)  # model load and warm-up, not timed
    t = time.perf_counter()
    embed(batch[8:], None)
    rate = (len(batch) - 8) / (time.perf_counter() - t)
    return {"units": len(units), "distinct_texts": len(texts), "texts_per_s": round(rate, 1),
            "projected_s": round(len(texts) / rate)}


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench.py load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--source", type=Path, nargs="*", default=[])
    ap.add_argument("--out", type=Path, help="keep everything here (default: a temp folder, removed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embed-sample", type=int, default=200, help="0 skips the e5 rate")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="callbridge-bench-load-"))
    work.mkdir(parents=True, exist_ok=True)
    store, report = work / "store", work / "report"
    try:
        t = time.perf_counter()
        n_pool, n_sent = generate(work, args.calls, args.source, args.seed)
        print(f"generated {args.calls} calls from a pool of {n_pool} calls ({n_sent} customer sentences) "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
        stages = []
        for name, a in (("import", ["import", str(work / "calls"), "--store", str(store), "--metadata",
                                    str(work / "crm.csv"), "-q"]),
                        ("extract", ["extract", "--store", str(store), "--rules-only"]),
                        ("themes", ["themes", "--store", str(store), "--vectors", "tfidf"]),
                        ("report", ["report", "--store", str(store), "--out", str(report)])):
            stages.append(timed(name, a))
            s = stages[-1]
            print(f"{name}: {s['wall_s']} s, peak {s['peak_mb']} MB ({s['last_line'][:120]})", flush=True)
        browser = open_in_chromium(report / "report.html")
        size = (report / "report.html").stat().st_size
        print(f"chromium: page load {browser['page_load_s']} s, whole render with browser start "
              f"{browser['render_s']} s, {browser['dom_nodes']} elements, {size / 1e6:.1f} MB, "
              f"errors {browser['errors'] or 'none'}, network {browser['requests'] or 'none'}", flush=True)
        emb = embed_rate(store, args.embed_sample, args.seed) if args.embed_sample else None
        if emb:
            print(f"e5 (default extractor, not run here): {emb['distinct_texts']} distinct sentences and contexts "
                  f"to embed at {emb['texts_per_s']}/s = {emb['projected_s'] / 3600:.1f} h on this machine", flush=True)
        total = sum(s["wall_s"] for s in stages)
        print()
        print("| stage | wall s | CPU s | peak memory MB |")
        print("| --- | --- | --- | --- |")
        for s in stages:
            print(f"| {s['stage']} | {s['wall_s']} | {s['cpu_s']} | {s['peak_mb']} |")
        print(f"| **all** | **{total:.0f}** | {sum(s['cpu_s'] for s in stages):.0f} | "
              f"{max(s['peak_mb'] for s in stages)} |")
        if args.json:
            args.json.write_text(json.dumps({"calls": args.calls, "pool_calls": n_pool, "stages": stages,
                                             "chromium": browser, "report_bytes": size, "e5": emb}, indent=1))
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
