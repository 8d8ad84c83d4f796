"""The call explorer (nlp/explorer.py) as files: written with the report, every quote linked to a turn
that exists, text escaped, personal data kept out with redaction on (file names, ids, text, audio),
recordings linked or transcoded with a bad one left out alone. The browser checks are in
test_explorer_browser.py."""

import json
import re
import wave
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from nlp.explorer import page_names, transcode_opus
from nlp.errors import AudioError, InputFormatError
from nlp.report import build_report
from nlp.store import Store
from nlp.types import Call, Statement, Turn

from test_report import EMAIL, HOSTILE_IMG, HOSTILE_SCRIPT, PHONE, make_store

PERSONAL_STEM = "2026-09-22 10-00-00 Дарья Кузнецова +7 926 111-22-33"
PERSONAL = ["Кузнецова", "926 111", "9261112233", "+7 926", "Дарья"]


class Turns(HTMLParser):
    """Turn elements of a call page: id -> data-start (None when absent)."""

    def __init__(self):
        super().__init__()
        self.turns: dict[str, str | None] = {}
        self.audio: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "turn" in (a.get("class") or "").split() and (a.get("id") or "").startswith("turn-"):
            self.turns[a["id"]] = a.get("data-start")
        if tag == "audio":
            self.audio.append(a.get("src") or "")


def parse(page: Path) -> Turns:
    p = Turns()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def write_wav(path: Path, seconds: float = 60.0, rate: int = 8000, channels: int = 2) -> Path:
    """A real recording: a tone whose loudness swells, so every second sounds different."""
    t = np.arange(int(seconds * rate)) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2 * 32767).astype("<i2")
    data = np.stack([x] * channels, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def with_recordings(st: Store, folder: Path, call_ids: list[str], bad: str | None = None) -> dict[str, Path]:
    """Mark calls as transcribed from recordings in `folder` (real WAVs; `bad` gets a damaged one)."""
    paths = {}
    for cid in call_ids:
        p = folder / f"{cid}.wav"
        if cid == bad:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + b"not audio at all" * 64)
        else:
            write_wav(p)
        st.db.execute("UPDATE calls SET status='transcribed', source_path=? WHERE call_id=?", (str(p), cid))
        paths[cid] = p
    st.db.commit()
    return paths


def explorer_texts(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_bytes().decode("utf-8", errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---- written with the report ---------------------------------------------------------------
def test_quotes_link_to_existing_turns_with_times(tmp_path):
    st = make_store(tmp_path / "store", "en", n=12)
    res = build_report(st, tmp_path / "out")
    starts = {(r[0], r[1]): r[2] for r in st.db.execute("SELECT call_id, idx, start FROM turns")}
    stmts = {(r[0], r[1]) for r in st.db.execute("SELECT call_id, turn FROM statements")}
    st.close()
    ex = res.explorer
    assert ex is not None and ex.index.is_file() and len(ex.pages) == 12 and ex.audio == "none"
    html = res.html.read_text(encoding="utf-8")
    hrefs = re.findall(r'<a class="listen" href="([^"]+)"', html)
    n_quotes = html.count("<blockquote>")
    assert n_quotes >= 15 and len(hrefs) == n_quotes  # every quote, recommendations' included
    by_page = {p.name: cid for cid, p in ex.pages.items()}
    for href in set(hrefs):
        u = urlsplit(href)
        page = res.out_dir / unquote(u.path)
        assert page.is_file(), href
        n = int(u.fragment.removeprefix("turn-"))
        cid = by_page[page.name]
        assert (cid, n) in stmts  # the turn the quote was said in
        turns = parse(page).turns
        assert float(turns[f"turn-{n}"]) == pytest.approx(starts[(cid, n)], abs=0.01)
    # every turn of every call carries its id and start
    for cid, page in ex.pages.items():
        turns = parse(page).turns
        assert len(turns) == sum(1 for k in starts if k[0] == cid)
        assert all(turns[f"turn-{i}"] is not None for (c, i) in starts if c == cid)
    md = res.md.read_text(encoding="utf-8")
    assert len(re.findall(r"\]\(explorer/calls/[^)]+#turn-\d+\)", md)) >= 15
    assert "explorer/index.html" in html and "explorer/index.html" in md
    # redaction on, no audio: the report says how to include recordings
    assert "--explorer-audio copy" in html and "--explorer-audio copy" in md


def test_call_page_holds_statements_steps_and_escaped_text(tmp_path):
    st = make_store(tmp_path / "store", "ru", n=10, hostile=True)
    res = build_report(st, tmp_path / "out")
    st.close()
    page = res.explorer.pages["ru-call-001"].read_text(encoding="utf-8")
    # hostile markup is shown as text, never as markup
    assert HOSTILE_SCRIPT not in page and HOSTILE_IMG not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert page.count("<script") == 1 and "<img" not in page
    # statements marked by kind, with their themes; the script steps with done and skipped
    assert '<mark class="k-opening">' in page and '<mark class="k-need">' in page
    assert "возражение: Дорого" in page or "потребность:" in page
    assert page.count('class="done"') >= 2 and 'class="skipped"' in page
    # the list's data is a script whose text cannot close a tag
    data = (res.explorer.index.parent / "assets" / "data.js").read_text(encoding="utf-8")
    assert "<" not in data and ">" not in data
    payload = json.loads(data.split("=", 1)[1].strip().rstrip(";"))
    texts = [t[3] for t in payload["turns"]]
    assert any(HOSTILE_SCRIPT in t for t in texts)  # the JSON decodes back to the text itself
    assert {c["id"] for c in payload["calls"]} == {f"ru-call-{i:03d}" for i in range(10)}
    index = res.explorer.index.read_text(encoding="utf-8")
    assert HOSTILE_SCRIPT not in index and HOSTILE_IMG not in index and "&lt;img" in index
    # the vendored search library comes with its licence
    assets = res.explorer.index.parent / "assets"
    assert "Permission is hereby granted" in (assets / "LICENSE-minisearch.txt").read_text()
    assert "MiniSearch" in (assets / "minisearch.js").read_text()[:200]


def test_redaction_keeps_personal_data_out_of_files_and_names(tmp_path):
    st = make_store(tmp_path / "store", "ru", n=8, hostile=True)
    turns = [Turn("agent", "Светлый дом, здравствуйте!", 0.0, 2.0),
             Turn("customer", "Меня зовут Дарья Кузнецова, мой телефон +7 926 111-22-33, нужна рассрочка", 2.5, 7.0),
             Turn("agent", "Дарья, записал.", 7.5, 9.0)]
    st.save_call(Call(PERSONAL_STEM, turns, "ru", {"agent": "Ирина", "outcome": "won", "date": "2026-08-01"}),
                 "transcribed", source_path=str(write_wav(tmp_path / "rec" / f"{PERSONAL_STEM}.wav")))
    (pid,) = [c for c in st.call_ids() if c.startswith("call-")]
    rows = st.statements()
    st.replace_statements([s for _, s in rows] + [Statement(pid, 1, "need", "нужна рассрочка", 0.9, "ru", 2.5, 0)])
    secrets = PERSONAL + [PERSONAL_STEM, PHONE["ru"], EMAIL["ru"]]

    res = build_report(st, tmp_path / "on")
    files = explorer_texts(tmp_path / "on" / "explorer")
    assert pid + ".html" in {Path(n).name for n in files}
    leaks = [(n, s) for n, t in files.items() for s in secrets if s.lower() in (n + t).lower()]
    assert leaks == []
    assert not (tmp_path / "on" / "explorer" / "audio").exists()  # no recording by default
    assert all("<audio" not in t for t in files.values())
    assert "[телефон]" in files[f"calls/{pid}.html"] and "[имя]" in files[f"calls/{pid}.html"]
    # asked for, a copy is named by the pseudonym; a link to a file named after the person is refused
    res = build_report(st, tmp_path / "copy", explorer_audio="copy")
    assert res.explorer.n_audio == 1 and (tmp_path / "copy" / "explorer" / "audio" / f"{pid}.opus").is_file()
    res = build_report(st, tmp_path / "link", explorer_audio="link")
    assert res.explorer.n_audio == 0 and any("--explorer-audio copy" in w for w in res.explorer.warnings)
    said = " ".join(res.explorer.warnings)
    assert not any(s.lower() in said.lower() for s in secrets)
    assert all("<audio" not in t for t in explorer_texts(tmp_path / "link" / "explorer").values())

    # with --no-redact the text is there (the checks above could fail) and audio links by default
    res = build_report(st, tmp_path / "off", redact=False)
    st.close()
    off = explorer_texts(tmp_path / "off" / "explorer")
    assert "Дарья Кузнецова" in off[f"calls/{pid}.html"] and PERSONAL_STEM in off[f"calls/{pid}.html"]
    assert res.explorer.audio == "link" and res.explorer.n_audio == 1
    assert all(PERSONAL_STEM not in n for n in off)  # file names never hold it


def test_audio_copy_link_and_a_bad_recording(tmp_path):
    st = make_store(tmp_path / "store", "en", n=6)
    rec = with_recordings(st, tmp_path / "rec", ["en-call-000", "en-call-001", "en-call-002"], bad="en-call-001")
    res = build_report(st, tmp_path / "out", explorer_audio="copy")
    ex = res.explorer
    assert ex.audio == "copy" and ex.n_audio == 2
    assert len(ex.warnings) == 1 and "en-call-001" in ex.warnings[0] and "en-call-001.wav" in ex.warnings[0]
    assert "cannot transcode" in ex.warnings[0]
    audio_dir = tmp_path / "out" / "explorer" / "audio"
    assert sorted(p.name for p in audio_dir.iterdir()) == ["en-call-000.opus", "en-call-002.opus"]
    assert parse(ex.pages["en-call-000"]).audio == ["../audio/en-call-000.opus"]
    assert parse(ex.pages["en-call-001"]).audio == [] and parse(ex.pages["en-call-005"]).audio == []
    import av

    with av.open(str(audio_dir / "en-call-000.opus")) as c:
        assert c.streams.audio[0].codec_context.name == "opus" and abs(c.duration / 1e6 - 60) < 0.5

    res = build_report(st, tmp_path / "out", redact=False, explorer_audio="link")
    (src,) = parse(res.explorer.pages["en-call-002"]).audio
    assert (res.explorer.pages["en-call-002"].parent / unquote(src)).resolve() == rec["en-call-002"].resolve()
    # a rerun without audio leaves no recording of the earlier one behind, nor what a killed run left
    stale = tmp_path / "out" / ".explorer-tmp-99999" / "audio"
    stale.mkdir(parents=True)
    (stale / "en-call-000.opus").write_bytes(b"OggS")
    build_report(st, tmp_path / "out", explorer_audio="none")
    st.close()
    assert not audio_dir.exists() and sorted(p.name for p in (tmp_path / "out").glob(".explorer*")) == []


def test_cli_flags_warning_and_no_explorer(tmp_path):
    st = make_store(tmp_path / "store", "en", n=6)
    with_recordings(st, tmp_path / "rec", ["en-call-000", "en-call-003"], bad="en-call-003")
    st.close()
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "a"),
                                 "--explorer-audio", "copy"])
    assert r.exit_code == 0, r.output
    assert "warning: recording of call en-call-003 left out" in r.output and "Traceback" not in r.output
    assert (tmp_path / "a" / "explorer" / "audio" / "en-call-000.opus").is_file()
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "b"),
                                 "--no-explorer"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "b" / "explorer").exists()
    assert "explorer/" not in (tmp_path / "b" / "report.html").read_text(encoding="utf-8")
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "c"),
                                 "--explorer-audio", "stream"])
    assert r.exit_code == 2 and "link, copy or none" in r.output and not (tmp_path / "c").exists()
    with pytest.raises(InputFormatError):
        with Store(tmp_path / "store") as st:
            build_report(st, tmp_path / "d", explorer_audio="mp3")


def test_page_names_are_safe_and_distinct(tmp_path):
    with Store(tmp_path / "store") as st:
        names = page_names(st, ["a/b", "a b", "a_b", "ru-kitchen-001", "..", "звонок 1"])
        assert names["ru-kitchen-001"] == "ru-kitchen-001"
        assert len(set(n.lower() for n in names.values())) == 6
        assert all(re.fullmatch(r"[\w.-]+", n) and not n.startswith(".") for n in names.values())
        # an id from an older store that still holds a phone number gets its pseudonym
        (n,) = page_names(st, ["+7 926 111-22-33 Кузнецова"]).values()
        assert n.startswith("call-") and "926" not in n


def test_transcode_refuses_a_damaged_file(tmp_path):
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS" + b"\x00" * 200)
    with pytest.raises(AudioError):
        transcode_opus(bad, tmp_path / "bad.opus")
    assert not (tmp_path / "bad.opus").exists()
    seconds = transcode_opus(write_wav(tmp_path / "ok.wav", seconds=3.0, channels=1), tmp_path / "ok.opus")
    assert seconds == pytest.approx(3.0, abs=0.05)


CODECS = Path(__file__).parent / "data" / "audio" / "codecs"


def test_copy_plays_phone_recorder_amr_on_the_transcribed_timeline(tmp_path):
    # AMR-NB/3GP with DTX frames: FFmpeg's own decoder stops at the first one ("not implemented"),
    # so a copy made with it failed for every phone-recorder file; the transcriber's decoding does not
    from nlp.audio import decode

    import av

    for name in ("speech.dtx.amr", "speech.dtx.3gp"):
        seconds = transcode_opus(CODECS / name, tmp_path / f"{name}.opus")
        assert seconds == pytest.approx(decode(CODECS / name).duration, abs=0.05)
        with av.open(str(tmp_path / f"{name}.opus")) as c:
            assert c.streams.audio[0].codec_context.name == "opus" and c.duration / 1e6 == pytest.approx(seconds, abs=0.1)


def test_link_leaves_out_what_a_browser_cannot_play(tmp_path):
    # Chromium fails AMR, 3GP, G.722 and GSM with MEDIA_ERR_SRC_NOT_SUPPORTED: a player that never plays
    from nlp.explorer import browser_unplayable

    unplayable = {p.name for p in CODECS.iterdir() if browser_unplayable(p)}
    assert unplayable == {"speech.dtx.amr", "speech.dtx.3gp", "speech.g722", "speech.g722.wav", "speech.gsm.wav"}
    st = make_store(tmp_path / "store", "en", n=6)
    folder = tmp_path / "rec"
    folder.mkdir()
    for cid, name in (("en-call-000", "speech.dtx.amr"), ("en-call-001", "speech.opus.ogg")):
        (folder / name).write_bytes((CODECS / name).read_bytes())
        st.db.execute("UPDATE calls SET status='transcribed', source_path=? WHERE call_id=?", (str(folder / name), cid))
    st.db.commit()
    res = build_report(st, tmp_path / "link", redact=False, explorer_audio="link")
    assert res.explorer.n_audio == 1 and parse(res.explorer.pages["en-call-000"]).audio == []
    (w,) = res.explorer.warnings
    assert "en-call-000" in w and "cannot play" in w and "--explorer-audio copy" in w
    res = build_report(st, tmp_path / "copy", redact=False, explorer_audio="copy")
    st.close()
    assert res.explorer.n_audio == 2 and res.explorer.warnings == []
    assert parse(res.explorer.pages["en-call-000"]).audio == ["../audio/en-call-000.opus"]


def test_turn_times_read_as_the_player_shows_them():
    # a click moves the player to the turn's start; its clock shows whole seconds down
    from nlp.report.analysis import fmt_ts

    assert [fmt_ts(x) for x in (55.736, 59.99, 0.408, 3600.5, 61.0)] == ["0:55", "0:59", "0:00", "1:00:00", "1:01"]


def test_two_sentences_of_one_theme_in_a_turn_are_marked_both_and_named_once(tmp_path):
    st = make_store(tmp_path / "store", "ru", n=6)
    sid, cid, turn, kind = st.db.execute("SELECT id, call_id, turn, kind FROM statements WHERE kind='motive' "
                                         "ORDER BY id LIMIT 1").fetchone()
    (text,) = st.db.execute("SELECT text FROM turns WHERE call_id=? AND idx=?", (cid, turn)).fetchone()
    extra = "И соседи тоже так сделали."
    with st.transaction() as db:
        db.execute("UPDATE turns SET text=? WHERE call_id=? AND idx=?", (f"{text} {extra}", cid, turn))
        cur = db.execute("INSERT INTO statements(call_id, turn, kind, text, confidence, language, start, char_start)"
                         " SELECT call_id, turn, kind, ?, confidence, language, start, ? FROM statements WHERE id=?",
                         (extra, len(text) + 1, sid))
        db.execute("INSERT INTO statement_themes(statement_id, kind, theme_id, outlier, score) SELECT ?, kind, "
                   "theme_id, outlier, score FROM statement_themes WHERE statement_id=?", (cur.lastrowid, sid))
    res = build_report(st, tmp_path / "out", redact=False)
    st.close()
    html = res.explorer.pages[cid].read_text(encoding="utf-8")
    block = html.split(f'id="turn-{turn}"')[1].split('class="turn ')[0]
    assert block.count('<mark class="k-motive">') == 2 and extra in block
    assert block.count('class="chip k-motive"') == 1
