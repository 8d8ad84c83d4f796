#!/usr/bin/env python3
"""Screenshot a rendered report (for docs/report.png) with headless Chromium.

    callbridge demo --out callbridge-demo
    python3 scripts/report_screenshot.py callbridge-demo/report.html docs/report.png [--height 4000]

Also prints any console error the page produced (there should be none).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.report.browser import render  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=4000, help="maximum height; the page is cut below it")
    a = ap.parse_args()
    page = render(a.html, screenshot=True, width=a.width, max_height=a.height)
    Path(a.png).parent.mkdir(parents=True, exist_ok=True)
    Path(a.png).write_bytes(page.png)
    print(f"{a.png}: {len(page.png)} bytes; console errors: {len(page.errors)}")
    for e in page.errors:
        print("  ", e)
    return 1 if page.errors else 0


if __name__ == "__main__":
    sys.exit(main())
