"""`run`: inputs sorted into recordings and transcripts, every stage chained, one progress display;
bad inputs fail before any work. Uses the real stages (import, extract, themes, gaps, report)."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.errors import CallbridgeError, InputFormatError
from nlp.pipeline import Progress, split_inputs
from nlp.store import Store

RU = [
    ("Здравствуйте, сколько стоит кухня под ключ?", "Мы переезжаем в новую квартиру, старая кухня осталась там.",
     "Нам нужно, чтобы собрали быстро, за неделю.", "Дороговато, у конкурентов дешевле."),
    ("Добрый день, хочу вызвать замерщика на субботу.", "Старая кухня совсем развалилась, фасады отклеились.",
     "Важно, чтобы было много места для хранения посуды.", "Мне нужно посоветоваться с мужем."),
    ("Здравствуйте, хотела узнать цену на угловую кухню.", "Купили квартиру, нужна кухня.",
     "Хотим платить в рассрочку, частями.", "Шесть недель ждать — это слишком долго."),
    ("Добрый день, подскажите, сколько стоит кухня?", "Делаем ремонт, хотим новую кухню.",
     "Нужно, чтобы собрали до конца месяца.", "Это слишком дорого для нас."),
]
EN = [
    ("Hi, how much is a solar system for my house?", "Our electricity bills are crazy high.",
     "We need a battery for the power outages.", "That's too expensive for us."),
    ("Hello, I'd like a quote for solar panels.", "We want to be more environmentally friendly.",
     "We would need monthly payments.", "I need to talk to my wife first."),
    ("Hi, can someone come and look at my roof?", "The power bill keeps going up every year.",
     "We need it installed before summer.", "My roof is old, I'm not sure it can hold panels."),
    ("Good morning, what does a solar setup cost?", "I'm tired of paying so much for electricity.",
     "Backup power really matters to us.", "Another company quoted us less."),
]
AGENT = {"ru": ["Здравствуйте, кухни «Дом», меня зовут Ирина.", "Почему решили заняться кухней сейчас?",
                "Что для вас важно?", "Понимаю вас.", "Давайте я запишу вас на замер."],
         "en": ["Good morning, SunCo, this is Alice.", "What made you look into solar now?",
                "What matters most to you?", "I understand.", "Let me book a survey for you."]}
SCRIPT = """# Script
## greeting: Greeting
- Good morning, SunCo / кухни «Дом», меня зовут ...
## motive_question: Why now
- What made you look into solar now?
- Почему решили заняться кухней сейчас?
## needs_question: Needs
- What matters most to you?
- Что для вас важно?
## close: Close
- Let me book a survey for you.
- Давайте я запишу вас на замер.
"""


def write_calls(folder: Path, lang: str, rows=None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i, (opening, motive, need, objection) in enumerate(rows or (RU if lang == "ru" else EN)):
        a = AGENT[lang]
        turns, t = [], 0.0
        for speaker, text in [("agent", a[0]), ("customer", opening), ("agent", a[1]), ("customer", motive),
                              ("agent", a[2]), ("customer", need), ("agent", a[3]), ("customer", objection),
                              ("agent", a[4])]:
            turns.append({"speaker": speaker, "text": text, "start": t, "end": t + 4.0})
            t += 5.0
        cid = f"{lang}-{i:02d}"
        (folder / f"{cid}.json").write_text(json.dumps({"call_id": cid, "language": lang, "turns": turns},
                                                       ensure_ascii=False), encoding="utf-8")
        ids.append(cid)
    return ids


def write_metadata(path: Path, ids: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["call_id", "date", "agent", "lead_source", "campaign", "outcome", "amount"])
        for i, cid in enumerate(ids):
            w.writerow([cid, f"2026-09-{1 + 3 * i:02d}", ["Ирина", "Олег"][i % 2], ["yandex_direct", "avito"][i % 2],
                        "autumn", ["won", "lost"][i % 2], 50000 if i % 2 == 0 else ""])


def test_split_inputs(tmp_path):
    d = tmp_path / "in"
    ids = write_calls(d / "json", "en")
    (d / "audio").mkdir()
    (d / "audio/a.wav").write_bytes(b"RIFF")
    (d / "notes.bin").write_bytes(b"\x00\x01")
    (d / ".hidden.json").write_text("{}")
    audio, transcripts, ignored = split_inputs([d])
    assert [p.name for p in audio] == ["a.wav"]
    assert sorted(p.stem for p in transcripts) == ids
    assert [p.name for p in ignored] == ["notes.bin"]
    # a file given by name must be usable; a path that does not exist is an error
    with pytest.raises(InputFormatError, match="not a recording or a transcript"):
        split_inputs([d / "notes.bin"])
    with pytest.raises(InputFormatError, match="not found"):
        split_inputs([tmp_path / "nope"])
    # the same file twice, or a file also passed as --metadata, is taken once / not at all
    audio, transcripts, _ = split_inputs([d / "json", d / "json" / f"{ids[0]}.json"],
                                         exclude=[d / "json" / f"{ids[1]}.json"])
    assert len(transcripts) == len(ids) - 1
    # a reference transcript beside its recording (same stem) must not overwrite the transcribed call
    (d / "audio/a.json").write_text('{"call_id": "a", "turns": []}')
    audio, transcripts, ignored = split_inputs([d / "audio"])
    assert [p.name for p in audio] == ["a.wav"] and transcripts == []
    assert [p.name for p in ignored] == ["a.json"]
    # named explicitly, it is imported
    _, transcripts, _ = split_inputs([d / "audio", d / "audio/a.json"])
    assert [p.name for p in transcripts] == ["a.json"]


def test_progress_display():
    lines = []
    p = Progress(["extract", "report"], lines.append)
    p.start("extract", "4 calls")
    p.log("12 statements")
    p.start("report")
    assert lines[0].startswith("[1/2] extract: 4 calls") and lines[1].startswith("      12")
    assert lines[2].startswith("[2/2] report")


def test_run_fails_fast_on_bad_side_files(tmp_path):
    from nlp.pipeline import run

    write_calls(tmp_path / "calls", "ru")
    with pytest.raises(CallbridgeError):
        run([tmp_path / "calls"], tmp_path / "out", script=tmp_path / "missing.md", out=lambda m: None)
    (tmp_path / "offer.md").write_text("")
    with pytest.raises(InputFormatError, match="offer"):
        run([tmp_path / "calls"], tmp_path / "out", offer=tmp_path / "offer.md", out=lambda m: None)
    with pytest.raises(InputFormatError, match="explorer-audio"):
        run([tmp_path / "calls"], tmp_path / "out", explorer_audio="mp3", out=lambda m: None)
    assert not (tmp_path / "out" / "store").exists()  # nothing was started
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="no recordings or transcripts"):
        run([tmp_path / "empty"], tmp_path / "out2", out=lambda m: None)


@pytest.mark.slow
def test_run_on_transcripts_both_languages(tmp_path):
    """The real chain on a mixed ru/en folder: import → metadata → extract → themes → gaps → report."""
    from nlp.pipeline import run

    ids = write_calls(tmp_path / "in/ru", "ru") + write_calls(tmp_path / "in/en", "en")
    write_metadata(tmp_path / "calls.csv", ids)
    (tmp_path / "script.md").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "offer.md").write_text("Бесплатный замер. Free site survey.\n", encoding="utf-8")
    lines = []
    res = run([tmp_path / "in"], tmp_path / "out", script=tmp_path / "script.md", offer=tmp_path / "offer.md",
              metadata=tmp_path / "calls.csv", out=lines.append)
    assert [s.stage for s in res.stages] == ["import", "metadata", "extract", "themes", "gaps", "report"]
    assert sum(1 for l in lines if l.startswith("[")) == 6 and lines[-1].strip().endswith(
        f"{res.report.n_recommendations} recommendations)")
    assert res.report.html.exists() and res.report.n_calls == len(ids) and res.n_statements > 0
    with Store(res.store_dir) as st:
        assert st.db.execute("SELECT COUNT(*) FROM themes").fetchone()[0] > 0
        assert st.db.execute("SELECT COUNT(*) FROM adherence").fetchone()[0] > 0
        assert st.calls_frame().set_index("call_id").loc["ru-01", "outcome"] == "lost"
    html = res.report.html.read_text(encoding="utf-8")
    assert "Ирина" in html and "yandex_direct" in html
    assert (tmp_path / "out/script-gaps").is_dir() and (tmp_path / "out/tables/themes.csv").exists()
    # rerun: same report from the same store, nothing duplicated
    res2 = run([tmp_path / "in"], tmp_path / "out", script=tmp_path / "script.md", out=lambda m: None)
    assert res2.report.n_calls == len(ids)


@pytest.mark.slow
def test_cli_run_and_report(tmp_path):
    from cli import app

    ids = write_calls(tmp_path / "in", "en")
    r = CliRunner().invoke(app, ["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--lang", "ru"])
    assert r.exit_code == 0, r.output
    assert str(tmp_path / "out" / "report.html") in r.output
    html = (tmp_path / "out/report.html").read_text(encoding="utf-8")
    assert "Что изменить" in html and ids[0] in html
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "out/store"), "--out", str(tmp_path / "r2"),
                                 "--no-redact"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r2/report.xlsx").exists()
    r = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "nostore"), "--out", str(tmp_path / "r3")])
    assert r.exit_code == 2 and "no store here" in r.output
    r = CliRunner().invoke(app, ["run", str(tmp_path / "in"), "--out", str(tmp_path / "o4"), "--lang", "de"])
    assert r.exit_code == 2


def test_demo_without_the_bundled_sample_is_a_clear_error(monkeypatch, tmp_path):
    """`demo` end to end on real recordings is tests/test_run_real.py; here: the sample is missing."""
    import nlp.pipeline as pl

    monkeypatch.setattr(pl, "sample_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(InputFormatError, match="sample calls are missing"):
        pl.demo(tmp_path / "demo")
    assert not (tmp_path / "demo").exists()
