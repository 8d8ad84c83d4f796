#!/bin/sh
# The long hostile-input run: scripts/fuzz.sh [SCALE] [SEED]
# SCALE multiplies every example count of tests/test_hostile_input.py (CI runs 1: 2,000+ inputs per
# reader); 50 is ~100,000 inputs per reader, about half an hour per reader on 2 cores.
# SEED repeats an earlier run (pytest's header prints the one used).
set -e
cd "$(dirname "$0")/.."
export CALLBRIDGE_FUZZ_SCALE="${1:-50}"
[ -n "$2" ] && export CALLBRIDGE_FUZZ_SEED="$2"
exec python3 -m pytest -q -p no:cacheprovider tests/test_hostile_input.py
