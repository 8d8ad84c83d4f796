"""report.html rendered in real headless Chromium (DevTools protocol over a pipe, see
nlp/report/browser.py): sections present, charts drawn, no console errors, no network, hostile
transcript text inert, prints to PDF. Both languages."""

import pytest

from nlp.report import build_report
from nlp.report.browser import find_chromium, render

from test_report import HOSTILE_IMG, HOSTILE_SCRIPT, make_store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (.ci/run installs it)")]

PROBES = {
    "pwned": "typeof window.__pwned === 'undefined' ? null : window.__pwned",
    "scripts": "document.scripts.length",
    "images": "document.images.length",
    "sections": "Array.from(document.querySelectorAll('section[id]')).map(s => s.id)",
    "bars": "Array.from(document.querySelectorAll('svg rect.bar')).filter(r => r.getBBox().width > 0).length",
    "trends": "document.querySelectorAll('svg polyline.trend').length",
    "cells": "document.querySelectorAll('svg rect.cell').length",
    "svg_visible": "Array.from(document.querySelectorAll('svg.chart')).filter(s => s.getBoundingClientRect().width > 100).length",
    "text": "document.body.innerText",
    "quotes": "document.querySelectorAll('blockquote').length",
    "recs": "document.querySelectorAll('li.rec').length",
    "supports": "document.querySelectorAll('li.rec .support').length",
    # every piece of chart text inside its drawing (1 px tolerance): nothing clipped at either edge
    "clipped": """(() => { const bad = [];
      for (const svg of document.querySelectorAll('svg.chart')) {
        const b = svg.getBoundingClientRect();
        for (const t of svg.querySelectorAll('text')) {
          const r = t.getBoundingClientRect();
          if (r.width && (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1))
            bad.push(t.textContent); } }
      return bad; })()""",
}
LONG = {"ru": "Надо посоветоваться с мужем, с мамой и с соседкой по даче, а потом ещё раз всё пересчитать и перезвонить",
        "en": "Need to talk it over with my wife, my mother-in-law and our accountant before we sign anything at all"}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_report_renders_clean_and_inert(tmp_path, lang):
    st = make_store(tmp_path / "store", lang, hostile=True)
    st.db.execute("UPDATE themes SET label=? WHERE theme_id='think'", (LONG[lang],))
    st.db.execute("UPDATE calls SET metadata_json=json_set(metadata_json, '$.lead_source', ?) WHERE call_id LIKE '%1'",
                  (LONG[lang][:60],))
    st.db.commit()
    # no --offer here: offer matching (e5) is covered in test_report.py and costs seconds
    res = build_report(st, tmp_path / "out")
    st.close()
    page = render(res.html, PROBES, pdf=True)
    v = page.values
    assert page.errors == [], page.errors
    assert v["pwned"] is None and v["scripts"] == 0 and v["images"] == 0
    # the hostile markup is shown to the reader as text
    assert HOSTILE_SCRIPT in v["text"] and HOSTILE_IMG in v["text"]
    assert {"headline", "what-to-change", "kind-opening", "kind-motive", "kind-need", "kind-objection",
            "kind-question", "marketing", "lost-won", "agents", "dynamics", "script", "method"} <= set(v["sections"])
    assert v["bars"] >= 20 and v["trends"] >= 5 and v["cells"] >= 12 and v["svg_visible"] >= 10
    assert v["quotes"] >= 15 and v["recs"] >= 2 and v["supports"] == v["recs"]
    assert v["clipped"] == [] and LONG[lang] in page.dom  # the full label is the tooltip
    # one self-contained file: the page fetched nothing but itself
    assert page.requests == [res.html.resolve().as_uri()]
    assert page.pdf.startswith(b"%PDF")
    heading = "Что изменить" if lang == "ru" else "What to change"
    assert heading in v["text"]


def test_harness_catches_errors_and_live_script(tmp_path):
    """The checks above can fail: an unescaped script and a broken one are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>window.__pwned=1</script><script>nope(</script>"
                   "<script>console.error('boom')</script></body></html>")
    page = render(bad, {"pwned": PROBES["pwned"]})
    assert page.values["pwned"] == 1
    assert any("boom" in e for e in page.errors) and any("SyntaxError" in e for e in page.errors)
