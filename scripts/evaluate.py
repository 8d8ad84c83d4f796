#!/usr/bin/env python3
"""Evaluation against gold labels: `python scripts/evaluate.py extract|cluster|gaps|asr|roles DIR... [options]`.

Each prints its scores as tables; see the README for what they mean.
"""

import runpy
import sys
from pathlib import Path

SUBS = ("extract", "cluster", "gaps", "asr", "roles")

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in SUBS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(SUBS)}}} [options]")
    sub = sys.argv.pop(1)
    sys.argv[0] = f"evaluate {sub}"
    runpy.run_path(str(Path(__file__).with_name(f"evaluate_{sub}.py")), run_name="__main__")
