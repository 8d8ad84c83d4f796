"""The call explorer in real headless Chromium (nlp/report/browser.py), opened from file:// with
http(s) blocked: search finds a phrase and lists its call, a report quote opens its call page at the
turn with the recording there (audio.currentTime within 0.5 s of the turn's start, for a copied Opus
and a linked WAV), clicks and #turn-N changes move the recording, hostile text stays inert, no console
errors, nothing fetched but the explorer's own files."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from nlp.report import build_report
from nlp.report.browser import find_chromium, render

from test_explorer import with_recordings
from test_report import HOSTILE_IMG, HOSTILE_SCRIPT, make_store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (.ci/run installs it)")]

PWNED = "typeof window.__pwned === 'undefined' ? null : window.__pwned"


def search(q: str) -> str:
    return ("(() => { const box = document.getElementById('q'); box.value = %r; box.dispatchEvent(new Event('input'));"
            " return {calls: Array.from(document.querySelectorAll('#rows tr.call')).map(r => r.dataset.call),"
            " hits: Array.from(document.querySelectorAll('#rows tr.matches li .hit')).map(h => h.textContent),"
            " marks: document.querySelectorAll('#rows mark').length,"
            " links: Array.from(document.querySelectorAll('#rows a.turnlink')).map(a => a.getAttribute('href')),"
            " count: document.getElementById('count').textContent}; })()" % q)


def only_local(page, root: Path) -> bool:
    """Nothing but the explorer's own files (and the browser's built-in data: icons) was fetched."""
    return all(u.startswith(("file://", "data:")) for u in page.requests) and any(
        u.startswith(root.resolve().as_uri()) for u in page.requests)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explorer")
    st = make_store(tmp / "store", "ru", n=10, hostile=True)
    with_recordings(st, tmp / "rec", [f"ru-call-{i:03d}" for i in range(10)])
    res = build_report(st, tmp / "out", explorer_audio="copy")
    st.close()
    assert res.explorer.n_audio == 10
    return res


def test_search_finds_a_phrase_and_lists_its_call(report):
    page = render(report.explorer.index, {
        "all": "document.querySelectorAll('#rows tr.call').length",
        "phrase": search("бесплатный замер"),
        "hostile": search("pwned"),
        "none": search("совершенно отсутствующее слово"),
        # Russian endings: the dictionary form finds the inflected word, and marks all of it
        "inflected": search("рассрочка"),
        "typed": search("ящик"),
        "filter": """(() => { const box = document.getElementById('q'); box.value = ''; box.dispatchEvent(new Event('input'));
            const s = document.getElementById('f-outcome'); s.value = 'won'; s.dispatchEvent(new Event('change'));
            return Array.from(document.querySelectorAll('#rows tr.call')).map(r => r.dataset.call); })()""",
        "pwned": PWNED}, block_network=True)
    v = page.values
    assert page.errors == [], page.errors
    assert v["all"] == 10
    # "Хочу записаться на бесплатный замер" is said in the odd calls only
    assert sorted(v["phrase"]["calls"]) == [f"ru-call-{i:03d}" for i in (1, 3, 5, 7, 9)]
    assert all("бесплатный замер" in h for h in v["phrase"]["hits"]) and v["phrase"]["marks"] >= 10
    assert all(link.startswith("calls/ru-call-") and "#turn-" in link for link in v["phrase"]["links"])
    # the hostile turn is found and shown as text; nothing ran
    assert v["hostile"]["calls"] == ["ru-call-001"] and HOSTILE_SCRIPT in v["hostile"]["hits"][0]
    assert v["none"]["calls"] == [] and v["none"]["count"]
    # "Хотим в рассрочку" (need 'installment', first wording): calls 2 and 8; "много ящиков": call 4
    assert sorted(v["inflected"]["calls"]) == ["ru-call-002", "ru-call-008"], v["inflected"]
    assert all("рассрочку" in h for h in v["inflected"]["hits"]) and v["inflected"]["marks"] == 2
    assert v["typed"]["calls"] == ["ru-call-004"]
    assert v["filter"] == [f"ru-call-{i:03d}" for i in (0, 3, 5, 8)]  # won: i % 5 in (0, 3)
    assert v["pwned"] is None
    assert only_local(page, report.explorer.index.parent)


def test_report_quote_opens_the_call_at_its_turn_with_the_audio_there(report):
    # the first quote of the report, as a reader would click it
    page = render(report.html, {"href": "document.querySelector('blockquote a.listen').getAttribute('href')"})
    href = page.values["href"]
    u = urlsplit(href)
    call_page = report.out_dir / unquote(u.path)
    assert call_page.is_file() and u.fragment.startswith("turn-")
    ready = "document.getElementById('audio').readyState >= 1"
    probes = {
        "start": f"parseFloat(document.getElementById({u.fragment!r}).dataset.start)",
        "time": "document.getElementById('audio').currentTime",
        "current": "document.querySelector('.turn.current').id",
        "duration": "document.getElementById('audio').duration",
        # another turn by a hash change, then a click on a third
        "hash": """new Promise(r => { const t = document.querySelectorAll('.turn[data-start]')[4];
            window.location.hash = '#' + t.id;
            setTimeout(() => r([parseFloat(t.dataset.start), document.getElementById('audio').currentTime]), 300); })""",
        "click": """new Promise(r => { const t = document.querySelectorAll('.turn[data-start]')[2];
            t.querySelector('.said').click();
            setTimeout(() => r([parseFloat(t.dataset.start), document.getElementById('audio').currentTime]), 300); })""",
        "pwned": PWNED,
    }
    page = render(call_page, probes, fragment=u.fragment, block_network=True, wait_for=ready)
    v = page.values
    assert page.errors == [], page.errors
    assert v["start"] > 1.0 and abs(v["time"] - v["start"]) < 0.5, v
    assert v["current"] == u.fragment and 55 < v["duration"] < 65
    assert abs(v["hash"][1] - v["hash"][0]) < 0.5 and abs(v["click"][1] - v["click"][0]) < 0.5, v
    assert only_local(page, report.out_dir / "explorer")
    assert any(r.endswith(".opus") for r in page.requests)


def test_linked_wav_plays_from_the_turn(tmp_path):
    st = make_store(tmp_path / "store", "en", n=4)
    with_recordings(st, tmp_path / "rec", ["en-call-002"])
    res = build_report(st, tmp_path / "out", redact=False)  # link is the default without redaction
    st.close()
    assert res.explorer.audio == "link" and res.explorer.n_audio == 1
    page = render(res.explorer.pages["en-call-002"], {
        "start": "parseFloat(document.getElementById('turn-5').dataset.start)",
        "time": "document.getElementById('audio').currentTime"},
        fragment="turn-5", block_network=True, wait_for="document.getElementById('audio').readyState >= 1")
    assert page.errors == [], page.errors
    assert abs(page.values["time"] - page.values["start"]) < 0.5 and page.values["start"] > 10
    assert any(r.endswith("/rec/en-call-002.wav") for r in page.requests)


def test_hostile_call_page_is_inert_and_offline(report):
    page = render(report.explorer.pages["ru-call-001"], {
        "pwned": PWNED, "scripts": "document.scripts.length", "images": "document.images.length",
        "text": "document.body.innerText",
        "marks": "Array.from(document.querySelectorAll('.said mark')).map(m => m.className)",
        "steps": "document.querySelectorAll('.steps li').length",
        # an injected script would not run either: the policy allows only the explorer's files
        "csp": "document.querySelector('meta[http-equiv=Content-Security-Policy]').content"},
        block_network=True)
    v = page.values
    assert page.errors == [], page.errors
    assert v["pwned"] is None and v["scripts"] == 1 and v["images"] == 0
    assert HOSTILE_SCRIPT in v["text"] and HOSTILE_IMG in v["text"]
    assert "k-opening" in v["marks"] and v["steps"] == 4
    assert "script-src 'self'" in v["csp"] and "connect-src 'none'" in v["csp"]
    assert only_local(page, report.out_dir / "explorer")


def test_harness_sees_a_network_request(tmp_path):
    """The offline checks can fail: a page that asks the network is seen (and refused)."""
    bad = tmp_path / "net.html"
    bad.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    page = render(bad, block_network=True)
    assert any(u.startswith("http://example.invalid") for u in page.requests)
    assert not only_local(page, tmp_path)


def test_real_clicks_on_a_turn_its_time_and_a_side_link_play_from_the_turn(report):
    """Trusted mouse clicks (DevTools Input events, so the browser lets the page play): the turn's
    text, its time link and a statement's link in the side list each play from that turn's start."""
    import json
    import shutil
    import tempfile
    import time

    from nlp.report.browser import _Pipe

    page = report.explorer.pages["ru-call-003"]
    profile = tempfile.mkdtemp(prefix="callbridge-chromium-")
    pipe = _Pipe(find_chromium(), profile)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime"):
            pipe.send(f"{domain}.enable", session=sid)
        pipe.send("Page.navigate", {"url": page.resolve().as_uri()}, session=sid)
        pipe.wait_event("Page.loadEventFired")

        def js(expr):
            return pipe.send("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                             session=sid)["result"].get("value")

        deadline = time.monotonic() + 10
        while not js("document.getElementById('audio').readyState >= 1") and time.monotonic() < deadline:
            time.sleep(0.1)

        def click(selector, turn):
            js(f"document.getElementById('audio').pause(); document.querySelector({json.dumps(selector)})"
               ".scrollIntoView({block: 'center'})")
            x, y = js(f"(() => {{ const b = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                      " return [b.x + b.width / 2, b.y + b.height / 2]; })()")
            for kind in ("mousePressed", "mouseReleased"):
                pipe.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                       "clickCount": 1}, session=sid)
            time.sleep(0.5)
            start = float(js(f"document.getElementById('turn-{turn}').dataset.start"))
            now, paused = js("[document.getElementById('audio').currentTime, document.getElementById('audio').paused]")
            return start, now, paused

        for selector, turn in (("#turn-3 .said", 3), ("#turn-5 a.ts", 5), ('.found a[href="#turn-1"]', 1)):
            start, now, paused = click(selector, turn)
            assert not paused and start <= now < start + 1.5, (selector, start, now, paused)
    finally:
        pipe.close()
        shutil.rmtree(profile, ignore_errors=True)
