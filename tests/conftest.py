"""Shared pytest setup: the hostile-input tests' seed, chosen once per run and shown in the header
so a failure can be repeated (`CALLBRIDGE_FUZZ_SEED=<seed> python3 -m pytest tests/test_hostile_input.py`)."""

import os
import random

os.environ.setdefault("CALLBRIDGE_FUZZ_SEED", str(random.SystemRandom().randrange(2 ** 32)))


def pytest_report_header(config):
    return (f"hostile-input fuzz: seed {os.environ['CALLBRIDGE_FUZZ_SEED']} (CALLBRIDGE_FUZZ_SEED), "
            f"scale {os.environ.get('CALLBRIDGE_FUZZ_SCALE', '1')} (CALLBRIDGE_FUZZ_SCALE)")


def pytest_terminal_summary(terminalreporter):
    # also under -q, where the header is not printed: the seed of a run that ran the fuzz tests
    ran = any("test_hostile_input" in getattr(r, "nodeid", "") for reports in terminalreporter.stats.values()
              for r in reports if hasattr(r, "nodeid"))
    if ran:
        terminalreporter.write_line(f"hostile-input fuzz seed {os.environ['CALLBRIDGE_FUZZ_SEED']} "
                                    f"(repeat with CALLBRIDGE_FUZZ_SEED={os.environ['CALLBRIDGE_FUZZ_SEED']})")
