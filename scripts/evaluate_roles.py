#!/usr/bin/env python3
"""Agent-side decisions on labelled calls: `python scripts/evaluate.py roles DIR... [--asr-style]`.

Each call JSON (the call format: turns with speaker agent/customer) is split into two "channels" by
its gold speakers, the agent put on the left or right at random (seeded by the file name), and
`nlp.roles.decide_stereo` decides from the turn texts alone (no script, no company names: as for a
business callbridge knows nothing about). Counts per folder: right, wrong, unknown (confidence under
`unknown_below`), and the wrong calls with their confidence. `--asr-style` lowercases the text and
drops punctuation, as a speech recogniser's output may look.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.roles import decide_stereo  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="folders holding call JSON files (searched recursively under calls/)")
    ap.add_argument("--asr-style", action="store_true")
    args = ap.parse_args()
    for d in args.dirs:
        files = sorted(Path(d).rglob("calls/*.json")) or sorted(Path(d).rglob("*.json"))
        right = wrong = unknown = 0
        wrong_ids = []
        for f in files:
            call = json.loads(f.read_text(encoding="utf-8"))
            if not isinstance(call, dict) or "turns" not in call:
                continue
            agent_ch = random.Random(f.name).randint(0, 1)
            chans: list[list[tuple[float, str]]] = [[], []]
            for i, t in enumerate(call["turns"]):
                text = t["text"]
                if args.asr_style:
                    text = re.sub(r"[^\w\s]", "", text.lower())
                ch = agent_ch if t["speaker"] == "agent" else 1 - agent_ch
                chans[ch].append((float(t.get("start", i * 3.0)), text))
            dec = decide_stereo(chans, call.get("language"))
            if dec.unknown:
                unknown += 1
            elif dec.agent_channel == agent_ch:
                right += 1
            else:
                wrong += 1
                wrong_ids.append(f"{call.get('call_id', f.stem)} ({dec.confidence:.2f})")
        n = right + wrong + unknown
        print(f"{d}: {n} calls, right {right}, wrong {wrong}, unknown {unknown}"
              + (f"; wrong: {', '.join(wrong_ids[:10])}" if wrong_ids else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
