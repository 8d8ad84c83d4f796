#!/usr/bin/env python3
"""Word error rate of stored transcripts against reference texts, per call.

    python scripts/evaluate.py asr --store DIR [--references data/sample/references]

For each call of the store with a reference `<call_id>.json` (call format; a turn's `spoken` field,
numbers written out, is used when present): speaker-attributed WER (the agent's words then the
customer's, against the reference's; swapped roles therefore cost a lot) and whether the roles are
right (the attributed WER is lower than with the roles swapped). Text is normalised by
`nlp.asr.normalize_for_wer`: lowercase, ё→е, punctuation and hyphens to spaces; digits are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.asr import normalize_for_wer  # noqa: E402
from nlp.store import Store  # noqa: E402


def texts(turns, spoken: bool = True) -> dict[str, str]:
    return {sp: " ".join((t.get("spoken") if spoken else None) or t["text"] for t in turns if t["speaker"] == sp)
            for sp in ("agent", "customer")}


def attributed_wer(ref: dict[str, str], hyp: dict[str, str]) -> float:
    import jiwer

    r = normalize_for_wer(ref["agent"] + " " + ref["customer"])
    h = normalize_for_wer(hyp["agent"] + " " + hyp["customer"])
    return float(jiwer.wer(r, h or "<empty>")) if r else float(bool(h))


def evaluate(store_dir: Path, refdir: Path) -> list[dict]:
    rows = []
    with Store(store_dir, create=False) as st:
        for call in st.iter_calls():
            rp = refdir / f"{call.call_id}.json"
            if not rp.exists():
                continue
            ref = json.loads(rp.read_text(encoding="utf-8"))
            rt = texts(ref["turns"])
            hyp = texts([{"speaker": t.speaker, "text": t.text} for t in call.turns], spoken=False)
            w = attributed_wer(rt, hyp)
            swapped = attributed_wer(rt, {"agent": hyp["customer"], "customer": hyp["agent"]})
            roles = call.source.get("roles", {})
            rows.append({"call_id": call.call_id, "language": ref.get("language"), "variant": ref.get("variant", ""),
                         "wer": round(w, 4), "roles_ok": w <= swapped,
                         "agent_channel": roles.get("agent_channel"), "ref_agent_channel": ref.get("agent_channel"),
                         "role_confidence": roles.get("confidence"), "detected_language": call.language})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--references", default=str(ROOT / "data" / "sample" / "references"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = evaluate(Path(args.store), Path(args.references))
    if not rows:
        print("no stored call has a reference", file=sys.stderr)
        return 2
    print(f"{'call_id':28s} lang variant  WER    roles  agent(ref)  conf")
    for r in rows:
        print(f"{r['call_id']:28s} {r['language']}   {r['variant']:7s} {r['wer']:.3f}  {'ok ' if r['roles_ok'] else 'BAD'}   "
              f"{r['agent_channel']}({r['ref_agent_channel']})  {r['role_confidence']}")
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['variant'] or 'all'}/{r['language']}", []).append(r)
    print("\ngroup        n  mean WER  roles ok")
    for g, sel in sorted(groups.items()):
        print(f"{g:12s} {len(sel):2d}  {sum(r['wer'] for r in sel) / len(sel):.3f}     {sum(r['roles_ok'] for r in sel)}/{len(sel)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
