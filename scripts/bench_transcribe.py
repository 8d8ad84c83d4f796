#!/usr/bin/env python3
"""Benchmark transcription: a plain faster-whisper loop vs callbridge, on the same audio, same run.

    python scripts/bench.py transcribe [--sample data/sample] [--limit N] [--json out.json]
                                       [--text-refs tests/data/librivox] [--no-sample]

Baseline (what a team writes first): for each recording, split the channels, and for each channel
`WhisperModel.transcribe(channel, beam_size=5, vad_filter=True)` with the same Whisper base model,
int8 on CPU, default options (language detected per channel). Its channel-to-role mapping is an
oracle (whichever mapping gives the lower WER), so its WER is a lower bound of what it would get.

callbridge: `nlp.transcribe.Transcriber` (echo suppression, one batched pass over both channels,
language detected once per call, roles decided automatically).

Recordings with a plain-text reference beside them (`--text-refs`, default the LibriVox clips of
`tests/data/librivox`: real human speech, `<id>.txt` next to `<id>.flac`) are compared as well:
faster-whisper's own `WhisperModel.transcribe(path, beam_size=5, vad_filter=True)` on the file
(its own decoding, every other option at its default) against `callbridge transcribe`'s text, WER
on the whole text (one speaker, so no roles).

Both decode the file with the same PyAV code and are timed per file, alternating which goes first,
so load from other processes on a shared machine hits both alike. Model loading is excluded from
both times. WER: speaker-attributed (all agent words, then all customer words, against the
reference's), normalised by `nlp.asr.normalize_for_wer`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.asr import normalize_for_wer, resolve_model, wer  # noqa: E402
from nlp.audio import AUDIO_EXTENSIONS, decode  # noqa: E402


def find_reference(audio: Path, refdir: Path) -> Path | None:
    """references/<stem>.json, else the stem without a variant suffix (-echo, -8k, ...)."""
    stem = audio.stem
    cands = [stem]
    for suf in ("-echo", "_echo", "-8k", "_8k", "-8khz", "_8khz", "-mono", "_mono"):
        if suf in stem:
            cands.append(stem.replace(suf, ""))
    for c in cands:
        p = refdir / f"{c}.json"
        if p.exists():
            return p
    return None


def variant(audio: Path, src_rate: int) -> str:
    s = audio.stem.lower()
    if "echo" in s:
        return "echo"
    if src_rate and src_rate <= 8000 or "8k" in s:
        return "8k"
    return "clean"


def role_texts(call) -> dict[str, str]:
    return {sp: " ".join(t.text for t in call.turns if t.speaker == sp) for sp in ("agent", "customer")}


def reference_texts(path: Path) -> tuple[dict[str, str], dict]:
    """Agent and customer text of a reference call; a turn's `spoken` form (numbers as words) wins."""
    d = json.loads(path.read_text(encoding="utf-8"))
    out = {sp: " ".join(t.get("spoken") or t["text"] for t in d["turns"] if t["speaker"] == sp)
           for sp in ("agent", "customer")}
    return out, d


def attributed_wer(ref: dict[str, str], hyp: dict[str, str]) -> float:
    import jiwer

    r = normalize_for_wer(ref["agent"] + " " + ref["customer"])
    h = normalize_for_wer(hyp.get("agent", "") + " " + hyp.get("customer", ""))
    if not r:
        return 0.0
    return float(jiwer.wer(r, h or "<empty>"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", default=str(ROOT / "data" / "sample"))
    ap.add_argument("--references", default=None, help="folder of reference call JSON (default SAMPLE/references)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None, help="also write the per-file numbers here")
    ap.add_argument("--text-refs", default=str(ROOT / "tests" / "data" / "librivox"),
                    help="folder of recordings with a <stem>.txt reference beside each ('' to skip)")
    ap.add_argument("--no-sample", action="store_true", help="only the --text-refs recordings")
    args = ap.parse_args()

    sample = Path(args.sample)
    refdir = Path(args.references) if args.references else sample / "references"
    files = sorted(p for p in sample.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and "references" not in p.parts)
    files = [f for f in files if find_reference(f, refdir)] if not args.no_sample else []
    if args.limit:
        files = files[: args.limit]
    text_files = []
    if args.text_refs and Path(args.text_refs).is_dir():
        text_files = sorted(p for p in Path(args.text_refs).rglob("*")
                            if p.suffix.lower() in AUDIO_EXTENSIONS and p.with_suffix(".txt").exists())
    if not files and not text_files:
        print(f"no audio with references under {sample} or {args.text_refs}", file=sys.stderr)
        return 2

    from faster_whisper import WhisperModel

    from nlp.script import read_script
    from nlp.transcribe import TranscribeOptions, Transcriber

    path, model_id = resolve_model(args.model)
    threads = os.cpu_count() or 1
    t = time.time()
    plain_model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
    plain_load = time.time() - t
    script = read_script(sample / "script.md") if (sample / "script.md").exists() else None
    t = time.time()
    tr = Transcriber(TranscribeOptions(model=args.model, device="cpu", compute_type="int8", script=script))
    tr.recognizer.model  # noqa: B018 - load now, outside the timed part
    cb_load = time.time() - t
    # Warm both up (first-call allocations) on a second of audio, untimed.
    import numpy as np

    warm = np.zeros(16000, np.float32)
    warm[4000:12000] = 0.1 * np.sin(np.arange(8000) / 5)
    list(plain_model.transcribe(warm, beam_size=5, vad_filter=True)[0])
    print(f"model {model_id}; load plain {plain_load:.1f} s, callbridge {cb_load:.1f} s (not counted)", file=sys.stderr)

    def run_plain(f: Path):
        audio = decode(f)
        texts = []
        for ch in audio.channels:
            segs, _ = plain_model.transcribe(ch, beam_size=5, vad_filter=True)
            texts.append(" ".join(s.text.strip() for s in segs))
        return audio, texts

    def run_cb(f: Path):
        audio = decode(f)
        return tr.transcribe_audio(audio, f.stem)

    rows = []
    for i, f in enumerate(files):
        reft, refd = reference_texts(find_reference(f, refdir))
        order = ("plain", "cb") if i % 2 == 0 else ("cb", "plain")
        res: dict = {}
        cpu: dict = {}
        for which in order:
            t, c = time.time(), time.process_time()
            out = run_plain(f) if which == "plain" else run_cb(f)
            res[which] = (out, time.time() - t)
            cpu[which] = time.process_time() - c
        (audio, ptexts), pt = res["plain"]
        call, ct = res["cb"]
        if len(ptexts) == 2:
            w_plain = min(attributed_wer(reft, {"agent": ptexts[0], "customer": ptexts[1]}),
                          attributed_wer(reft, {"agent": ptexts[1], "customer": ptexts[0]}))
        else:
            w_plain = attributed_wer(reft, {"agent": ptexts[0], "customer": ""})
        hyp = role_texts(call)
        w_cb = attributed_wer(reft, hyp)
        swapped = attributed_wer(reft, {"agent": hyp["customer"], "customer": hyp["agent"]})
        roles_ok = w_cb <= swapped if audio.is_stereo else None
        row = {"file": f.name, "variant": refd.get("variant") or variant(f, audio.source_rate),
               "language": refd.get("language"),
               "duration": round(audio.duration, 2), "plain_s": round(pt, 2), "callbridge_s": round(ct, 2),
               "plain_cpu_s": round(cpu["plain"], 2), "callbridge_cpu_s": round(cpu["cb"], 2),
               "ratio": round(ct / pt, 3), "wer_plain": round(w_plain, 4), "wer_callbridge": round(w_cb, 4),
               "roles_ok": roles_ok, "role_confidence": call.source.get("roles", {}).get("confidence"),
               "detected_language": call.language}
        rows.append(row)
        print(f"{f.name:32s} {row['variant']:5s} {row['language']} {audio.duration:6.1f}s  plain {pt:6.1f}s "
              f"({cpu['plain']:.1f} CPU s) WER {w_plain:.3f} | callbridge {ct:6.1f}s ({cpu['cb']:.1f} CPU s) "
              f"WER {w_cb:.3f} roles {'ok' if roles_ok else 'WRONG'} ({row['role_confidence']})", flush=True)

    text_rows = []
    # No sales script here: these are not the sample business's calls (same loaded model).
    tr_text = Transcriber(TranscribeOptions(model=args.model, device="cpu", compute_type="int8"), recognizer=tr.recognizer)
    for i, f in enumerate(text_files):
        ref = f.with_suffix(".txt").read_text(encoding="utf-8").strip()
        order = ("plain", "cb") if i % 2 == 0 else ("cb", "plain")
        res = {}
        for which in order:
            t, c = time.time(), time.process_time()
            if which == "plain":
                segs, _info = plain_model.transcribe(str(f), beam_size=5, vad_filter=True)
                out = " ".join(s.text.strip() for s in segs)
            else:
                out = " ".join(t_.text for t_ in tr_text.transcribe_file(f).turns)
            res[which] = (out, time.time() - t, time.process_time() - c)
        row = {"file": f.name, "duration": round(decode(f).duration, 2),
               "plain_s": round(res["plain"][1], 2), "callbridge_s": round(res["cb"][1], 2),
               "plain_cpu_s": round(res["plain"][2], 2), "callbridge_cpu_s": round(res["cb"][2], 2),
               "wer_plain": round(wer(ref, res["plain"][0], "en"), 4), "wer_callbridge": round(wer(ref, res["cb"][0], "en"), 4)}
        text_rows.append(row)
        print(f"{f.name:44s} {row['duration']:5.1f}s  faster-whisper transcribe WER {row['wer_plain']:.3f} "
              f"({row['plain_cpu_s']:.1f} CPU s) | callbridge WER {row['wer_callbridge']:.3f} "
              f"({row['callbridge_cpu_s']:.1f} CPU s)", flush=True)

    def agg(sel):
        if not sel:
            return None
        dur = sum(r["duration"] for r in sel)
        p = sum(r["plain_s"] for r in sel)
        c = sum(r["callbridge_s"] for r in sel)
        return {"n": len(sel), "audio_s": round(dur, 1), "plain_s": round(p, 1), "callbridge_s": round(c, 1),
                "plain_cpu_s": round(sum(r["plain_cpu_s"] for r in sel), 1),
                "callbridge_cpu_s": round(sum(r["callbridge_cpu_s"] for r in sel), 1),
                "ratio": round(c / p, 3), "rtf_plain": round(p / dur, 3), "rtf_callbridge": round(c / dur, 3),
                "wer_plain": round(sum(r["wer_plain"] for r in sel) / len(sel), 4),
                "wer_callbridge": round(sum(r["wer_callbridge"] for r in sel) / len(sel), 4),
                "roles_ok": sum(1 for r in sel if r["roles_ok"]), }

    if text_rows:
        worse = [r["file"] for r in text_rows if r["wer_callbridge"] > r["wer_plain"]]
        n = len(text_rows)
        print(f"\ntext references: mean WER faster-whisper transcribe {sum(r['wer_plain'] for r in text_rows) / n:.4f}, "
              f"callbridge {sum(r['wer_callbridge'] for r in text_rows) / n:.4f}; callbridge worse on "
              f"{len(worse)}/{n} files{': ' + ', '.join(worse) if worse else ''}")
    if not rows:
        if args.json:
            Path(args.json).write_text(json.dumps({"text_files": text_rows}, indent=1, ensure_ascii=False))
        return 0
    worse = [r["file"] for r in rows if r["wer_callbridge"] > r["wer_plain"]]
    print(f"sample: callbridge WER above the plain loop's on {len(worse)}/{len(rows)} files"
          f"{': ' + ', '.join(worse) if worse else ''}")
    groups = {"all": rows}
    for v in ("clean", "8k", "echo"):
        for lang in ("ru", "en"):
            groups[f"{v}/{lang}"] = [r for r in rows if r["variant"] == v and r["language"] == lang]
        groups[v] = [r for r in rows if r["variant"] == v]
    print("\ngroup        n  audio_s  plain_s  cb_s   ratio  RTF_plain RTF_cb  WER_plain WER_cb  roles_ok  CPU_plain CPU_cb")
    summary = {}
    for name, sel in groups.items():
        a = agg(sel)
        if not a:
            continue
        summary[name] = a
        print(f"{name:10s} {a['n']:3d} {a['audio_s']:8.1f} {a['plain_s']:8.1f} {a['callbridge_s']:6.1f} "
              f"{a['ratio']:6.3f} {a['rtf_plain']:9.3f} {a['rtf_callbridge']:6.3f} {a['wer_plain']:9.3f} "
              f"{a['wer_callbridge']:7.3f} {a['roles_ok']}/{a['n']}  {a['plain_cpu_s']:9.1f} {a['callbridge_cpu_s']:6.1f}")
    if "echo" in summary:
        e = summary["echo"]
        print(f"\necho calls: callbridge WER / plain WER = {e['wer_callbridge'] / max(1e-9, e['wer_plain']):.3f} "
              f"(target <= 0.7)")
    print(f"time ratio callbridge / plain (all): {summary['all']['ratio']:.3f} (target <= 1.0, aim <= 0.75)")
    if args.json:
        Path(args.json).write_text(json.dumps({"files": rows, "groups": summary, "text_files": text_rows},
                                              indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
