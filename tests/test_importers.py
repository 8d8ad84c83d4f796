"""Transcript import: call JSON, plain-text dialogues, SRT/WebVTT; roles, timestamps, languages;
broken files fail alone; reruns skip unchanged files; metadata joined."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.importers import (import_paths, is_transcript_file, parse_dialogue, parse_subtitles, parse_timestamp,
                           role_of)
from nlp.store import Store

DATA = Path(__file__).parent / "data" / "importers"
GOOD = DATA / "good"
BROKEN = DATA / "broken"


@pytest.fixture
def store(tmp_path):
    st = Store(tmp_path / "store")
    yield st
    st.close()


def test_is_transcript_file(tmp_path):
    for name in ["a.json", "b.JSONL", "c.txt", "d.srt", "e.vtt"]:
        assert is_transcript_file(name)
    for name in ["a.wav", "b.ogg", "notes.bin", "meta.csv", "script.md", ".hidden.json", "x"]:
        assert not is_transcript_file(name)
    # a text file listing recordings (as `transcribe` takes) is not a dialogue
    (tmp_path / "list.txt").write_text("# batch 1\n/data/a.wav\ncalls/b.MP3\n", encoding="utf-8")
    (tmp_path / "dialogue.txt").write_text("Agent: a.wav\nCustomer: hi\n", encoding="utf-8")
    assert not is_transcript_file(tmp_path / "list.txt") and is_transcript_file(tmp_path / "dialogue.txt")


@pytest.mark.parametrize("label,role", [
    ("Менеджер", "agent"), ("Оператор", "agent"), ("Агент", "agent"), ("Продавец", "agent"),
    ("Менеджер Ирина", "agent"), ("Ирина (менеджер)", "agent"), ("AGENT", "agent"), ("Sales Rep", "agent"),
    ("Rep", "agent"), ("Клиент", "customer"), ("Покупатель", "customer"), ("Customer", "customer"),
    ("Client", "customer"), ("Caller", "customer"), ("клиентка Мария", "customer"),
    ("Ирина", None), ("Speaker 1", None), ("", None),
])
def test_role_words(label, role):
    assert role_of(label) == role


def test_timestamps():
    assert parse_timestamp("00:07") == 7.0
    assert parse_timestamp("1:02:03,5") == 3723.5
    assert parse_timestamp("00:00:01.250") == 1.25
    assert parse_timestamp("nonsense") is None


def test_plain_text_russian_with_timestamps_and_continuations():
    from nlp.importers import _calls_from_file

    (call,), fmt = _calls_from_file(GOOD / "ru-dental-01.txt")
    assert fmt == "text" and call.call_id == "ru-dental-01"
    assert [t.speaker for t in call.turns] == ["agent", "customer"] * 3
    assert [t.start for t in call.turns] == [0, 5, 13, 19, 26, 31]
    # the unprefixed line continues the customer's turn; the '#' header line is not a turn
    assert call.turns[1].text == ("Добрый день. У меня болит зуб уже третий день, хочу попасть к врачу "
                                  "как можно скорее.")
    assert call.source["roles"]["method"] == "labels"


def test_plain_text_variants():
    turns, _ = parse_dialogue("Agent (00:00:01): Hi, thanks for calling.\nCustomer (00:00:04): Hi!\n")
    assert [(t.speaker, t.start, t.text) for t in turns] == [("agent", 1.0, "Hi, thanks for calling."),
                                                             ("customer", 4.0, "Hi!")]
    turns, _ = parse_dialogue("- Оператор: Добрый день.\n— Покупатель: Здравствуйте: есть вопрос.\n")
    assert [t.speaker for t in turns] == ["agent", "customer"] and turns[1].text == "Здравствуйте: есть вопрос."
    turns, _ = parse_dialogue("00:01 - 00:03 Rep: Hello.\n00:04 - 00:09 Caller: My roof leaks.\n")
    assert (turns[1].start, turns[1].end) == (4.0, 9.0)
    turns, _ = parse_dialogue("[Клиент] А сколько стоит?\n[Менеджер] От пяти тысяч.\n")
    assert [t.speaker for t in turns] == ["customer", "agent"]
    # a colon inside a turn is not a new speaker when both roles are known
    turns, _ = parse_dialogue("Менеджер: Итак: три окна.\nКлиент: Да.\nПримечание: перезвонить\n")
    assert len(turns) == 2 and turns[1].text == "Да. Примечание: перезвонить"


def test_plain_text_names_resolved_by_evidence():
    from nlp.importers import _calls_from_file

    (call,), _ = _calls_from_file(GOOD / "ru-fitness-names.txt")
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    roles = call.source["roles"]
    assert roles["method"] == "text-evidence" and roles["labels"] == {"Ольга": "agent", "Пётр": "customer"}
    assert roles["confidence"] <= 0.8  # marked as an inference, not a label
    # the evidence wins over speaking order: the customer speaks first here
    turns, prov = parse_dialogue("Bob: Hi, how much does a roof cost? I need it fixed.\n"
                                 "Alice: Good morning, Brightside Roofing, this is Alice, how can I help? "
                                 "We offer a free inspection.\nBob: Too expensive.\nAlice: Let me check.\n")
    assert [t.speaker for t in turns] == ["customer", "agent", "customer", "agent"]
    # one named speaker opposite a role word takes the other role
    turns, prov = parse_dialogue("Менеджер: Добрый день.\nМария: Здравствуйте.\nМенеджер: Слушаю.\nМария: Хочу окна.\n")
    assert [t.speaker for t in turns] == ["agent", "customer", "agent", "customer"]


def test_subtitles_srt_and_vtt():
    from nlp.importers import _calls_from_file

    (srt,), fmt = _calls_from_file(GOOD / "en-cars-01.srt")
    assert fmt == "srt"
    assert [t.speaker for t in srt.turns] == ["agent", "customer", "agent", "customer"]
    # an untagged cue continues the customer's turn, which ends with that cue
    assert srt.turns[1].text.endswith("and room for three kids.") and srt.turns[1].end == 11.0
    assert srt.turns[3].text == "Yes, is Saturday possible?" and srt.turns[3].end == 15.0
    (vtt,), fmt = _calls_from_file(GOOD / "ru-windows-call.vtt")
    assert fmt == "vtt" and [t.speaker for t in vtt.turns] == ["agent", "customer", "agent"]
    assert vtt.turns[1].text == "Добрый день. Хочу поменять окна на балконе, там очень дует. Сколько это & установка стоит?"
    assert (vtt.turns[1].start, vtt.turns[1].end) == (4.5, 12.0)
    assert "<" not in " ".join(t.text for t in vtt.turns)


def test_hostile_subtitle_markup_is_stripped_not_executed():
    turns, _ = parse_subtitles("WEBVTT\n\n00:00.000 --> 00:01.000\n<v Agent>Hi <b>there</b> &lt;script&gt;\n\n"
                               "00:01.000 --> 00:02.000\n<v Customer>&lt;img src=x onerror=alert(1)&gt; price?\n")
    assert turns[0].text == "Hi there <script>"  # kept as text: escaping is the report's job
    assert turns[1].text == "<img src=x onerror=alert(1)> price?"


def test_import_folder_good_and_broken_files(store):
    summary = import_paths([DATA], store)
    good_ids = {"ru-dental-01", "en-crm-01", "ru-fitness-names", "en-cars-01", "ru-windows-call",
                "ru-json-01", "en-json-01", "ru-single", "ru-cp1251"}
    assert set(store.call_ids()) == good_ids
    assert {r.call_id for r in summary.imported} == good_ids
    broken = sorted(p.name for p in BROKEN.iterdir())
    assert sorted(Path(r.path).name for r in summary.failed) == broken
    errors = store.errors("import")
    assert sorted(Path(e["source_path"]).name for e in errors) == broken
    reasons = {Path(e["source_path"]).name: e["message"] for e in errors}
    assert "invalid JSON at line 2" in reasons["truncated.json"]
    assert "binary" in reasons["binary.vtt"]
    assert "empty" in reasons["empty.txt"]
    assert "no speaker prefix" in reasons["no-speakers.txt"]
    assert "speaker 'robot'" in reasons["bad-speaker.json"]
    assert "not UTF-8" in reasons["bad-encoding.txt"]
    assert "cue timing" in reasons["bad-timing.vtt"]
    assert summary.exit_code() == 0 and summary.exit_code(strict=True) == 1
    # languages detected per call; the JSON's own call_id and language are kept
    langs = {c: store.get_call(c).language for c in good_ids}
    assert langs["ru-dental-01"] == "ru" and langs["en-crm-01"] == "en" and langs["en-json-01"] == "en"
    assert langs["ru-cp1251"] == "ru"
    ru_json = store.get_call("ru-json-01")
    assert ru_json.metadata == {"agent": "Анна", "outcome": "won"}
    assert [t.speaker for t in ru_json.turns] == ["agent", "customer"]  # Оператор / Покупатель
    assert store.transcript_path("ru-dental-01").exists() and store.integrity_check() == []
    assert "imported 9" in summary.text() and "failed 9" in summary.text()


def test_rerun_skips_unchanged_and_reimports_changed(store, tmp_path):
    d = tmp_path / "in"
    shutil.copytree(GOOD, d)
    first = import_paths([d], store)
    assert len(first.imported) == 9
    again = import_paths([d], store)
    assert len(again.imported) == 0 and len(again.skipped) == 9
    p = d / "en-crm-01.txt"
    p.write_text(p.read_text(encoding="utf-8") + "Rep (00:00:35): Yes, Gmail works out of the box.\n", encoding="utf-8")
    third = import_paths([d], store)
    assert [r.call_id for r in third.imported] == ["en-crm-01"]
    assert len(store.get_call("en-crm-01").turns) == 7
    assert store.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 9


def test_duplicate_call_id_in_one_batch_fails_the_second(store, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a/c1.txt").write_text("Agent: Hello.\nCustomer: Hi.\n", encoding="utf-8")
    (tmp_path / "b/c1.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nAgent: Hello again.\n\n"
                                       "2\n00:00:01,000 --> 00:00:02,000\nCustomer: Hi.\n", encoding="utf-8")
    s = import_paths([tmp_path / "a", tmp_path / "b"], store)
    assert len(s.imported) == 1 and len(s.failed) == 1 and "already imported" in s.failed[0].reason
    assert store.get_call("c1").turns[0].text == "Hello."


def test_metadata_joined_on_import(store, tmp_path):
    meta = tmp_path / "crm.csv"
    with open(meta, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["call_id", "date", "agent", "outcome", "amount", "region"])
        w.writerow(["ru-dental-01.txt", "03.09.2026", "Ирина", "успех", "4 000", "Казань"])
        w.writerow(["en-crm-01", "2026-09-04", "Dana", "lost", "", ""])
        w.writerow(["nobody", "2026-09-05", "X", "pending", "", ""])
    s = import_paths([GOOD], store, metadata=meta)
    assert s.metadata_matched == 2 and s.metadata_unmatched == ["nobody"]
    m = store.get_call("ru-dental-01").metadata
    assert m == {"date": "2026-09-03", "agent": "Ирина", "outcome": "won", "amount": 4000, "region": "Казань"}
    saved = json.loads(store.transcript_path("ru-dental-01").read_text(encoding="utf-8"))
    assert saved["metadata"]["outcome"] == "won"
    assert store.get_call("en-crm-01").metadata["outcome"] == "lost"


def test_empty_inputs(store, tmp_path):
    (tmp_path / "empty").mkdir()
    s = import_paths([tmp_path / "empty"], store)
    assert s.imported == [] and s.failed == [] and store.call_ids() == []
    assert s.exit_code() == 0
    s = import_paths([], store)
    assert s.imported == [] and s.failed == []
    s = import_paths([tmp_path / "missing.json"], store)
    assert len(s.failed) == 1 and "no such file" in s.failed[0].reason


def test_cli_import_and_errors(tmp_path):
    from cli import app

    r = CliRunner().invoke(app, ["import", str(DATA), "--store", str(tmp_path / "s"), "-q"])
    assert r.exit_code == 0, r.output
    assert "imported 9" in r.output and "failed: " in r.output and "truncated.json" in r.output
    r = CliRunner().invoke(app, ["import", str(BROKEN), "--store", str(tmp_path / "s2"), "-q"])
    assert r.exit_code == 1  # nothing succeeded
    r = CliRunner().invoke(app, ["import", str(GOOD), "--store", str(tmp_path / "s3"), "--strict", "-q"])
    assert r.exit_code == 0
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,outcome\nx,won\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["import", str(GOOD), "--store", str(tmp_path / "s4"), "--metadata", str(bad_csv)])
    assert r.exit_code == 2 and "no key column" in r.output
    assert not (tmp_path / "s4").exists()  # a bad CSV fails before any work
