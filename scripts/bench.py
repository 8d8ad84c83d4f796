#!/usr/bin/env python3
"""Benchmarks: `python scripts/bench.py transcribe|extract|themes|gaps|scale|load [options]`.

Each prints its numbers as ratios against a baseline measured in the same run.
"""

import runpy
import sys
from pathlib import Path

SUBS = ("transcribe", "extract", "themes", "gaps", "scale", "load")

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in SUBS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(SUBS)}}} [options]")
    sub = sys.argv.pop(1)
    sys.argv[0] = f"bench {sub}"
    runpy.run_path(str(Path(__file__).with_name(f"bench_{sub}.py")), run_name="__main__")
