#!/usr/bin/env python3
"""How often `callbridge import` gets every turn's role right when speakers are only names.

    python scripts/evaluate_import_roles.py DIR... [--seed 7]

Each DIR holds call JSON files (`calls/*.json`, searched recursively) with gold agent/customer turns.
Every call is rendered as a dialogue text whose labels are invented first names (no role words), in
three layouts, and parsed back with `nlp.importers.parse_dialogue`:

- 2 speakers: the agent and the customer;
- 3, second agent: the agent's turns in the second half of the call belong to another person (a
  specialist takes over, a trainer steps in);
- 3, second customer: the customer's turns in the second half belong to another person.

Score: calls whose every turn got its gold role. A call the importer refuses counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.errors import CallbridgeError  # noqa: E402
from nlp.importers import parse_dialogue  # noqa: E402

NAMES = {"ru": ["Ирина", "Олег", "Светлана", "Павел", "Анна", "Дмитрий"],
         "en": ["Dana", "Tom", "Ray", "Alice", "Mike", "Jenny"]}
LAYOUTS = ("2 speakers", "3, second agent", "3, second customer")


def render(turns: list[dict], names: list[str], layout: str) -> str:
    half = len(turns) // 2
    lines = []
    for i, t in enumerate(turns):
        who = names[0] if t["speaker"] == "agent" else names[1]
        if i >= half and ((layout == LAYOUTS[1] and t["speaker"] == "agent")
                          or (layout == LAYOUTS[2] and t["speaker"] == "customer")):
            who = names[2]
        lines.append(f"{who}: {' '.join(t['text'].split())}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    totals = {layout: [0, 0] for layout in LAYOUTS}
    for d in args.dirs:
        files = sorted(p for p in d.rglob("*.json") if p.parent.name == "calls")
        for layout in LAYOUTS:
            ok = n = 0
            for f in files:
                call = json.loads(f.read_text(encoding="utf-8"))
                turns = [t for t in call["turns"] if t["text"].strip()]
                if len({t["speaker"] for t in turns}) < 2:
                    continue
                names = rng.sample(NAMES["ru" if call.get("language") == "ru" else "en"], 3)
                n += 1
                try:
                    got, _ = parse_dialogue(render(turns, names, layout))
                except CallbridgeError:
                    continue
                ok += [t.speaker for t in got] == [t["speaker"] for t in turns]
            totals[layout][0] += ok
            totals[layout][1] += n
            print(f"{str(d):45s} {layout:20s} {ok}/{n}")
    for layout, (ok, n) in totals.items():
        print(f"{'all':45s} {layout:20s} {ok}/{n} ({100 * ok / max(1, n):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
