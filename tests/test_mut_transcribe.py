"""The transcription batch around the recogniser (`nlp/transcribe.py`): pieces, the cross-channel
duplicate guard, roles, turn merging, resume and the summary, with a scripted stand-in for Whisper
whose words and times are known. Written against the mutants that survived
`scripts/mutation.sh transcribe`; the real model runs in the slow tests."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

from nlp.asr import Seg
from nlp.audio import Audio
from nlp.errors import InputFormatError
from nlp.script import Script, ScriptStep
from nlp.store import Store
from nlp.types import Call, Turn
from nlp import transcribe as T

SR = 16000


def write_wav(path: Path, seconds: float, channels: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    data = (0.3 * rng.standard_normal((channels, int(seconds * SR)))).astype(np.float32)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(data.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def seg(ch, start, words, gap=0.1, dur=0.4):
    """A recognised segment of channel `ch`: words one after another from `start`."""
    ws, t = [], start
    for w in words.split():
        ws.append((" " + w, t, t + dur, 0.9))
        t += dur + gap
    return Seg(ws[0][1], ws[-1][2], "".join(w[0] for w in ws).strip(), ch, ws)


class Scripted:
    """Stand-in for Whisper: returns the given segments per channel (or from `by_duration`)."""

    def __init__(self, per_channel=None, language="en", by_duration=None):
        self.per_channel, self.language, self.by_duration = per_channel, language, by_duration
        self.calls, self.main = 0, None

    def identity(self):
        return {"model": "scripted", "device": "cpu", "compute_type": "int8", "beam_size": 5}

    def transcribe_channels(self, channels, language, main=0, hotwords=None, prompt=None):
        self.calls += 1
        self.main = main
        if self.by_duration is not None:
            secs = round(len(channels[0]) / SR)
            said = [f"{self.by_duration} {secs} seconds", "hello there my friend"]
            return [[seg(ch, 0.5 + ch, said[ch])] for ch in range(len(channels))], language or self.language, 0.97
        return [list(self.per_channel[ch]) for ch in range(len(channels))], language or self.language, 0.97


def stereo(seconds=12.0, loud=(0.3, 0.3)):
    rng = np.random.default_rng(1)
    return Audio((rng.standard_normal((2, int(seconds * SR))) * np.array(loud)[:, None]).astype(np.float32), SR, 2)


AGENT = [seg(0, 0.0, "Thank you for calling Swift Movers, my name is Carlos."),
         seg(0, 6.0, "We offer a free estimate, it is nine hundred dollars.")]
CUSTOMER = [seg(1, 3.0, "I want to move next week, how much is it?")]


# ---- pieces --------------------------------------------------------------------------------------
def test_split_by_pauses():
    s = Seg(0.0, 5.0, "a b c", 0, [(" a", 0.0, 0.5, 1.0), (" b", 1.4, 1.8, 1.0), (" c", 3.0, 3.5, 1.0)])
    assert T._split_by_pauses(s, 1.0) == [(0.0, 1.8, "a b", s.words[:2]), (3.0, 3.5, "c", s.words[2:])]
    assert len(T._split_by_pauses(s, 1.3)) == 1 and len(T._split_by_pauses(s, 0.85)) == 3
    # a gap of exactly `gap` keeps the words together
    s2 = Seg(0.0, 2.0, "a b", 0, [(" a", 0.0, 0.5, 1.0), (" b", 1.5, 2.0, 1.0)])
    assert len(T._split_by_pauses(s2, 1.0)) == 1
    assert T._split_by_pauses(Seg(1.0, 2.0, " hi ", 0, []), 1.0) == [(1.0, 2.0, " hi ", [])]


def piece(ch, start, end, text, energy):
    return {"channel": ch, "start": start, "end": end, "text": text, "energy": energy}


def test_cross_channel_duplicate_guard():
    loud, echo = piece(0, 1.0, 3.0, "we offer a free estimate", 0.5), piece(1, 1.2, 3.1, "we offer free estimate", 0.01)
    pieces = [loud, echo]
    assert T._dedupe_cross_channel(pieces) == 1 and echo["drop"] and not loud.get("drop")
    # the louder copy may come second in the list
    echo, loud = piece(0, 1.0, 3.0, "we offer a free estimate", 0.01), piece(1, 1.2, 3.1, "we offer a free estimate", 0.5)
    assert T._dedupe_cross_channel([echo, loud]) == 1 and echo["drop"] and not loud.get("drop")
    # same words at another time, on the same channel, few words in common, or one word only: kept
    for other in (piece(1, 3.7, 5.0, "we offer a free estimate", 0.01), piece(0, 1.0, 3.0, "we offer a free estimate", 0.01),
                  piece(1, 1.0, 3.0, "yes a free ride today maybe", 0.01)):
        first = piece(0, 1.0, 3.0, "we offer a free estimate", 0.5)
        assert T._dedupe_cross_channel([first, other]) == 0 and not other.get("drop")
    one = [piece(0, 1.0, 2.0, "okay", 0.5), piece(1, 1.0, 2.0, "okay", 0.01)]
    assert T._dedupe_cross_channel(one) == 0
    # within 0.5 s of each other still counts as the same time
    near = [piece(0, 1.0, 3.0, "we offer a free estimate", 0.5), piece(1, 3.4, 4.0, "we offer a free estimate", 0.01)]
    assert T._dedupe_cross_channel(near) == 1
    # 3 of 5 words in common (0.6) is a duplicate
    edge = [piece(0, 1.0, 3.0, "alpha beta gamma delta epsilon", 0.5), piece(1, 1.0, 3.0, "alpha beta gamma x y", 0.1)]
    assert T._dedupe_cross_channel(edge) == 1
    # an already dropped piece drops nothing more
    a, b, c = (piece(0, 1.0, 3.0, "we offer a free estimate", 0.5), piece(1, 1.0, 3.0, "we offer a free estimate", 0.1),
               piece(0, 1.0, 3.0, "we offer a free estimate", 0.05))
    assert T._dedupe_cross_channel([a, b, c]) == 1 and b["drop"] and not c.get("drop")


# ---- one call ----------------------------------------------------------------------------------
@pytest.mark.parametrize("agent", [0, 1])
def test_call_roles_either_channel_and_merged_turns(agent):
    a = [Seg(s.start, s.end, s.text, agent, s.words) for s in AGENT]
    c = [Seg(s.start, s.end, s.text, 1 - agent, s.words) for s in CUSTOMER]
    rec = Scripted({agent: a, 1 - agent: c})
    call = T.Transcriber(T.TranscribeOptions(), recognizer=rec).transcribe_audio(stereo(), "x")
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent"]
    assert call.source["roles"]["agent_channel"] == ("left", "right")[agent]
    assert call.turns[0].text == AGENT[0].text and call.turns[0].start == 0.0
    assert call.turns[0].words[0].word == "Thank" and call.language == "en"
    assert call.source["channels"] == 2 and call.source["echo_duplicates_dropped"] == 0
    assert call.source["language_probability"] == 0.97 and call.source["duration"] == 12.0


def test_forced_agent_channel():
    rec = Scripted({0: AGENT, 1: CUSTOMER})
    call = T.Transcriber(T.TranscribeOptions(agent_channel="right"), recognizer=rec).transcribe_audio(stereo(), "x")
    assert [t.speaker for t in call.turns] == ["customer", "agent", "customer"]
    assert call.source["roles"] == {"agent_channel": "right", "confidence": 1.0, "method": "forced"}
    call = T.Transcriber(T.TranscribeOptions(agent_channel="left"), recognizer=rec).transcribe_audio(stereo(), "x")
    assert call.source["roles"]["agent_channel"] == "left"
    with pytest.raises(InputFormatError, match="agent-channel"):
        T.Transcriber(T.TranscribeOptions(agent_channel="middle"), recognizer=rec)


def test_turns_merge_within_two_seconds_and_split_at_pauses():
    left = [Seg(0.0, 4.6, "one two three four", 0, [(" one", 0.0, 0.4, 1.0), (" two", 0.5, 0.9, 1.0),
                                                       (" three", 2.0, 2.4, 1.0), (" four", 4.2, 4.6, 1.0)]),
            seg(0, 7.0, "five six"), seg(0, 12.0, "seven")]
    rec = Scripted({0: left, 1: []})
    call = T.Transcriber(T.TranscribeOptions(agent_channel="left"), recognizer=rec).transcribe_audio(stereo(16.0), "x")
    # pieces: "one two" | "three" | "four" (pauses > 1 s) | "five six" | "seven"; merged when < 2 s apart
    assert [(t.text, t.start, t.end) for t in call.turns] == [("one two three four", 0.0, 4.6),
                                                               ("five six", 7.0, 7.9), ("seven", 12.0, 12.4)]
    assert [w.word for w in call.turns[0].words] == ["one", "two", "three", "four"]


def test_echo_duplicate_dropped_from_the_quieter_side():
    echo = seg(1, 6.1, "We offer a free estimate, it is nine hundred dollars.")
    rec = Scripted({0: AGENT, 1: CUSTOMER + [echo]})
    call = T.Transcriber(T.TranscribeOptions(), recognizer=rec).transcribe_audio(stereo(loud=(0.3, 0.05)), "x")
    assert call.source["echo_duplicates_dropped"] == 1
    assert sum("free estimate" in t.text for t in call.turns) == 1
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent"]
    # the louder side is the one the language is detected on
    assert rec.main == 0
    T.Transcriber(T.TranscribeOptions(), recognizer=rec).transcribe_audio(stereo(loud=(0.05, 0.3)), "x")
    assert rec.main == 1


def test_mono_customer_first():
    segs = [seg(0, 0.0, "Hello, I want to move next week, how much is it?"),
            seg(0, 5.0, "Thank you for calling Swift Movers, my name is Carlos, it is nine hundred dollars."),
            seg(0, 20.0, "Too expensive for me.")]
    mono = Audio((np.random.default_rng(2).standard_normal((1, 24 * SR)) * 0.3).astype(np.float32), SR, 1)
    call = T.Transcriber(T.TranscribeOptions(), recognizer=Scripted({0: segs})).transcribe_audio(mono, "m")
    assert [t.speaker for t in call.turns] == ["customer", "agent", "customer"]
    assert call.source["roles"]["method"] == "mono-heuristic" and call.source["channels"] == 1
    assert call.turns[0].words is None


def test_blank_pieces_are_no_turns():
    rec = Scripted({0: [Seg(0.0, 1.0, "  ", 0, [])] + AGENT, 1: CUSTOMER})
    call = T.Transcriber(T.TranscribeOptions(agent_channel="left"), recognizer=rec).transcribe_audio(stereo(), "x")
    assert all(t.text.strip() for t in call.turns) and len(call.turns) == 3


# ---- options -----------------------------------------------------------------------------------
SCRIPT = Script("Swift Movers — script", [
    ScriptStep("g", "Greeting", ["Thank you for calling Swift Movers...", "Спасибо за звонок…", "x" * 280]),
    ScriptStep("n", "Needs", ["How many rooms?", "Сколько комнат?"])])


def test_prompt_for_language_and_budget():
    tr = T.Transcriber(T.TranscribeOptions(script=SCRIPT), recognizer=Scripted({}))
    assert tr.prompt_for("en") == "Thank you for calling Swift Movers"
    assert tr.prompt_for("ru") == "Спасибо за звонок Сколько комнат?"
    assert tr.prompt_for("uk") == tr.prompt_for("ru")
    small = Script("S", [ScriptStep("a", "A", ["One two.", "Three four."])])
    assert T.Transcriber(T.TranscribeOptions(script=small), recognizer=Scripted({})).prompt_for("en") == \
        "One two. Three four."
    assert T.Transcriber(T.TranscribeOptions(script=SCRIPT, script_prompt=False),
                         recognizer=Scripted({})).prompt_for("en") is None
    assert T.Transcriber(T.TranscribeOptions(), recognizer=Scripted({})).prompt_for("en") is None
    only_ru = Script("S", [ScriptStep("a", "A", ["Привет."])])
    assert T.Transcriber(T.TranscribeOptions(script=only_ru), recognizer=Scripted({})).prompt_for("en") is None
    exact = Script("S", [ScriptStep("a", "A", ["a" * 150, "b" * 149, "c"])])      # 150 + 1 + 149 = 300
    assert T.Transcriber(T.TranscribeOptions(script=exact), recognizer=Scripted({})).prompt_for("en") == \
        "a" * 150 + " " + "b" * 149


def test_hotwords_and_settings_hash():
    tr = T.Transcriber(T.TranscribeOptions(script=SCRIPT, vocabulary=["Swift Movers", "Packing"]), recognizer=Scripted({}))
    assert tr.hotwords == "Swift Movers, Packing"
    assert T.Transcriber(T.TranscribeOptions(), recognizer=Scripted({})).hotwords is None
    long = T.Transcriber(T.TranscribeOptions(vocabulary=[f"term{i:03d}" for i in range(100)]), recognizer=Scripted({}))
    assert len(long.hotwords) == 400
    base = T.Transcriber(T.TranscribeOptions(), recognizer=Scripted({})).settings_hash()
    assert base == T.Transcriber(T.TranscribeOptions(workers=4), recognizer=Scripted({})).settings_hash()
    assert len(base) == 20
    for change in (dict(language="ru"), dict(agent_channel="left"), dict(vocabulary=["X"]), dict(echo_suppression=False),
                   dict(script_prompt=False), dict(batch_size=4), dict(script=SCRIPT)):
        assert T.Transcriber(T.TranscribeOptions(**change), recognizer=Scripted({})).settings_hash() != base, change


# ---- inputs ------------------------------------------------------------------------------------
def test_expand_inputs_lists_folders_and_duplicates(tmp_path):
    d = tmp_path / "calls"
    (d / "sub").mkdir(parents=True)
    a, b = write_wav(d / "a.wav", 0.1), write_wav(d / "sub" / "b.WAV", 0.1)
    (d / "notes.txt").write_text("x")
    lst = tmp_path / "list.lst"
    lst.write_text("\ufeff# a comment\n\ncalls/a.wav\n  calls/sub  \n" + str(tmp_path / "missing.mp3") + "\n",
                   encoding="utf-8")
    out = T.expand_inputs([lst, d, a])
    assert out == [d / "a.wav", d / "sub" / "b.WAV", tmp_path / "missing.mp3"]
    assert T.expand_inputs([d]) == [a, b]
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(InputFormatError, match="list of paths") as e:
        T.expand_inputs([tmp_path / "bad.txt"])
    assert e.value.path == str(tmp_path / "bad.txt")


def test_call_ids_for_duplicate_stems(tmp_path):
    paths = [tmp_path / "x" / "a.wav", tmp_path / "y" / "a.mp3", tmp_path / "b.wav"]
    ids = T.call_ids_for(paths)
    assert ids[2] == "b" and ids[0] != ids[1] and ids[0].startswith("a-") and len(ids[0]) == 8
    assert T.call_ids_for(paths) == ids


def test_read_vocabulary(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("\ufeffSwift Movers, Packing  # brands\n# only a comment\n\n Storage ,\n", encoding="utf-8")
    assert T.read_vocabulary(p) == ["Swift Movers", "Packing", "Storage"]
    with pytest.raises(InputFormatError, match="vocabulary"):
        T.read_vocabulary(tmp_path / "none.txt")


def test_small_helpers():
    assert T._fmt_t(3725.9) == "1:02:05" and T._fmt_t(-5) == "0:00:00" and T._fmt_t(59) == "0:00:59"
    assert T._speech_energy(np.zeros(0, np.float32)) == 0.0
    quiet, loud = (np.random.default_rng(0).standard_normal(SR).astype(np.float32) * g for g in (0.01, 0.3))
    assert T._speech_energy(loud) > T._speech_energy(quiet) > 0


def test_summary_exit_codes_and_text():
    ok, bad = T.FileResult("a.wav", "a", "done"), T.FileResult("/in/+79161234567.wav", "call-q", "failed", "bad header")
    assert T.BatchSummary(done=[ok]).exit_code() == 0 and T.BatchSummary(done=[ok]).exit_code(strict=True) == 0
    assert T.BatchSummary(done=[ok], failed=[bad]).exit_code() == 0
    assert T.BatchSummary(done=[ok], failed=[bad]).exit_code(strict=True) == 1
    assert T.BatchSummary(skipped=[ok], failed=[bad]).exit_code() == 0
    assert T.BatchSummary(failed=[bad]).exit_code() == 1 and T.BatchSummary().exit_code(strict=True) == 0
    s = T.BatchSummary(done=[ok], skipped=[T.FileResult("b.wav", "b", "skipped")], failed=[bad],
                       audio_seconds=7200.0, wall_seconds=360.0, metadata_matched=2,
                       metadata_unmatched=["2026-09-14_+79161234567_Ivan"])
    lines = s.text().splitlines()
    assert lines[0] == ("transcribed 1, skipped 1 (already done), failed 1; 2.000 h audio in 360.0 s "
                        "(real-time factor 0.050)")
    assert lines[1] == "  failed: /in/[call-q].wav: bad header"
    assert lines[2] == "metadata: 2 calls matched, unmatched rows: […]"
    assert s.call_ids == ["a", "b"]
    assert T.BatchSummary().text() == "transcribed 0, skipped 0 (already done), failed 0; 0.000 h audio in 0.0 s"


# ---- the batch: resume -------------------------------------------------------------------------
def test_resume_redoes_changed_audio_settings_and_lost_transcripts(tmp_path):
    rec = Scripted(by_duration="call")
    f = write_wav(tmp_path / "c.wav", 4.0)
    logs = []
    with Store(tmp_path / "st") as st:
        tr = T.Transcriber(T.TranscribeOptions(), recognizer=rec)
        s = T.transcribe_paths([f], st, transcriber=tr, log=logs.append)
        assert [r.call_id for r in s.done] == ["c"] and rec.calls == 1 and s.audio_seconds == 4.0
        assert st.get_call("c").turns[0].text == "call 4 seconds"
        assert st.get_call("c").source["settings_hash"] == tr.settings_hash()
        assert s.wall_seconds > 0 and s.done[0].audio_seconds == 4.0
        assert T.transcribe_paths([f], st, transcriber=tr, log=logs.append).skipped[0].call_id == "c"
        assert rec.calls == 1 and "skipped (already transcribed" in logs[-1]
        # the same name, other audio: done again, and replaced
        write_wav(f, 6.0, seed=5)
        s = T.transcribe_paths([f], st, transcriber=tr, log=logs.append)
        assert [r.call_id for r in s.done] == ["c"] and rec.calls == 2
        assert st.get_call("c").turns[0].text == "call 6 seconds"
        assert st.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1
        # a lost transcript file: done again
        st.transcript_path("c").unlink()
        assert len(T.transcribe_paths([f], st, transcriber=tr, log=logs.append).done) == 1 and rec.calls == 3
        # other settings: done again
        tr2 = T.Transcriber(T.TranscribeOptions(vocabulary=["Swift Movers"]), recognizer=rec)
        assert len(T.transcribe_paths([f], st, transcriber=tr2, log=logs.append).done) == 1 and rec.calls == 4


def test_batch_failures_are_recorded_and_the_rest_saved(tmp_path):
    rec = Scripted(by_duration="call")
    good = write_wav(tmp_path / "good.wav", 2.0)
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    logs = []
    with Store(tmp_path / "st") as st:
        s = T.transcribe_paths([good, tmp_path / "bad.wav", tmp_path / "gone.wav"], st, log=logs.append,
                               transcriber=T.Transcriber(T.TranscribeOptions(), recognizer=rec))
        assert [r.call_id for r in s.done] == ["good"] and sorted(r.call_id for r in s.failed) == ["bad", "gone"]
        assert {e["call_id"] for e in st.errors("transcribe")} == {"bad", "gone"}
        assert [c.call_id for c in st.iter_calls()] == ["good"]
        assert sum("FAILED" in m for m in logs) == 2 and any(m.startswith("[1/3]") for m in logs)
        assert s.exit_code() == 0 and s.exit_code(strict=True) == 1
        assert "ETA" in next(m for m in logs if "good" in m)


def test_batch_quiet_without_progress(tmp_path, capsys):
    f = write_wav(tmp_path / "q.wav", 1.0)
    with Store(tmp_path / "st") as st:
        T.transcribe_paths([f], st, progress=False, transcriber=T.Transcriber(T.TranscribeOptions(),
                                                                              recognizer=Scripted(by_duration="x")))
        assert capsys.readouterr().err == ""
        T.transcribe_paths([f], st, progress=True, transcriber=T.Transcriber(T.TranscribeOptions(),
                                                                             recognizer=Scripted(by_duration="x")))
        assert "skipped" in capsys.readouterr().err


def test_personal_file_name_gets_a_pseudonym(tmp_path):
    f = write_wav(tmp_path / "+79161234567.wav", 1.0)
    with Store(tmp_path / "st") as st:
        s = T.transcribe_paths([f], st, progress=False,
                               transcriber=T.Transcriber(T.TranscribeOptions(), recognizer=Scripted(by_duration="x")))
        cid = s.done[0].call_id
        assert cid.startswith("call-") and st.get_call(cid).source["audio_path"] == str(f)
        assert "79161234567" not in os.listdir(st.transcripts_dir)[0]


# ---- second round: cases the first mutation run showed unguarded ---------------------------------
def test_settings_hash_follows_the_scripts_steps_not_only_its_title():
    a = Script("Swift Movers — script", [ScriptStep("g", "Greeting", ["Hello there."])])
    b = Script("Swift Movers — script", [ScriptStep("g", "Greeting", ["Good morning."])])
    ha = T.Transcriber(T.TranscribeOptions(script=a), recognizer=Scripted({})).settings_hash()
    hb = T.Transcriber(T.TranscribeOptions(script=b), recognizer=Scripted({})).settings_hash()
    assert ha != hb
    assert ha == T.Transcriber(T.TranscribeOptions(script=a), recognizer=Scripted({})).settings_hash()


def test_prompt_for_upper_case_russian():
    s = Script("S", [ScriptStep("a", "A", ["ДОБРЫЙ ДЕНЬ!", "Hello."])])
    tr = T.Transcriber(T.TranscribeOptions(script=s), recognizer=Scripted({}))
    assert tr.prompt_for("ru") == "ДОБРЫЙ ДЕНЬ!" and tr.prompt_for("en") == "Hello."


def test_vocabulary_comments_and_errors(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("Swift # brand # old\n", encoding="utf-8")
    assert T.read_vocabulary(p) == ["Swift"]
    with pytest.raises(InputFormatError) as e:
        T.read_vocabulary(tmp_path / "gone.txt")
    assert e.value.message.startswith("cannot read the vocabulary") and e.value.path == str(tmp_path / "gone.txt")


def test_summary_text_details():
    bad = T.FileResult("/in/+79161234567.wav", "call-q", "failed", "cannot decode /in/+79161234567.wav")
    assert T.BatchSummary(failed=[bad]).text().splitlines()[1] == "  failed: /in/[call-q].wav: cannot decode /in/[call-q].wav"
    s = T.BatchSummary(metadata_matched=2)
    assert s.text().splitlines()[1] == "metadata: 2 calls matched"
    s = T.BatchSummary(metadata_unmatched=[f"c{i}" for i in range(12)])
    assert s.text().splitlines()[1] == "metadata: 0 calls matched, unmatched rows: " + ", ".join(f"c{i}" for i in range(10))
    assert T._fmt_t(7200) == "2:00:00" and T._fmt_t(3540) == "0:59:00"


def test_transcribe_file_keeps_the_given_call_id(tmp_path):
    f = write_wav(tmp_path / "rec.wav", 1.0)
    tr = T.Transcriber(T.TranscribeOptions(), recognizer=Scripted(by_duration="x"))
    assert tr.transcribe_file(f, "custom").call_id == "custom" and tr.transcribe_file(f).call_id == "rec"
    assert tr.transcribe_file(f).source["audio_path"] == str(f)


def test_same_file_names_in_two_folders_are_two_calls(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fa, fb = write_wav(tmp_path / "a" / "c.wav", 1.0), write_wav(tmp_path / "b" / "c.wav", 2.0, seed=3)
    with Store(tmp_path / "st") as st:
        s = T.transcribe_paths([fa, fb], st, progress=False,
                               transcriber=T.Transcriber(T.TranscribeOptions(), recognizer=Scripted(by_duration="x")))
        ids = sorted(r.call_id for r in s.done)
        assert len(ids) == 2 and ids[0] != ids[1] and all(i.startswith("c-") for i in ids)
        assert sorted(st.get_call(i).source["duration"] for i in ids) == [1.0, 2.0]
        assert all(0 <= r.seconds < 60 for r in s.done)
        s2 = T.transcribe_paths([fa, fb], st, progress=False,
                                transcriber=T.Transcriber(T.TranscribeOptions(), recognizer=Scripted(by_duration="x")))
        assert 0 <= s2.skipped[0].seconds < 60


def test_no_recordings_error_says_what_to_give(tmp_path):
    (tmp_path / "none").mkdir()
    with Store(tmp_path / "st") as st, pytest.raises(InputFormatError) as e:
        T.transcribe_paths([tmp_path / "none"], st, transcriber=T.Transcriber(T.TranscribeOptions(),
                                                                               recognizer=Scripted({})))
    assert e.value.hint.startswith("give audio files or folders holding .") and ".aac" in e.value.hint
    assert e.value.message == "no recordings found in the given inputs"


def test_batch_records_results_errors_and_logs_in_full(tmp_path):
    from nlp.errors import CallbridgeError

    class Failing(Scripted):
        def transcribe_channels(self, channels, language, main=0, hotwords=None, prompt=None):
            if round(len(channels[0]) / SR) == 3:
                raise CallbridgeError("decoder gave up", hint="re-export the file")
            return super().transcribe_channels(channels, language, main, hotwords, prompt)

    a, b = write_wav(tmp_path / "a.wav", 1.0), write_wav(tmp_path / "b.wav", 2.0, seed=2)
    bad = write_wav(tmp_path / "bad.wav", 3.0, seed=4)
    logs = []
    with Store(tmp_path / "st") as st:
        st.save_call(Call("a", [Turn("customer", "old", 0.0, 1.0)], "en", {"outcome": "won", "city": "Oslo"}), "imported")
        tr = T.Transcriber(T.TranscribeOptions(), recognizer=Failing(by_duration="x"))
        s = T.transcribe_paths([a, b, bad], st, transcriber=tr, log=logs.append)
        assert [(r.path, r.call_id, r.status) for r in s.done] == [(str(a), "a", "done"), (str(b), "b", "done")]
        assert s.audio_seconds == 3.0 and [r.audio_seconds for r in s.done] == [1.0, 2.0]
        (f,) = s.failed
        assert (f.path, f.call_id, f.status, f.reason) == (str(bad), "bad", "failed", "decoder gave up (re-export the file)")
        (err,) = st.errors("transcribe")
        assert err["source_path"] == str(bad) and err["message"] == "decoder gave up (re-export the file)"
        assert logs[2] == f"[3/3] {bad}: FAILED: decoder gave up (re-export the file)"
        assert logs[0].startswith(f"[1/3] {a}: 2 turns, en, 1 s audio in ")
        # the CRM fields joined earlier stay when a call is transcribed again
        assert st.get_call("a").metadata["city"] == "Oslo" and st.get_call("a").turns[0].text == "x 1 seconds"
        row = st.db.execute("SELECT status, source_path FROM calls WHERE call_id='a'").fetchone()
        assert tuple(row) == ("transcribed", str(a))
        logs.clear()
        s = T.transcribe_paths([a, b], st, transcriber=tr, log=logs.append)
        assert [(r.path, r.status) for r in s.skipped] == [(str(a), "skipped"), (str(b), "skipped")]
        assert logs == [f"[1/2] {a}: skipped (already transcribed with these settings)",
                        f"[2/2] {b}: skipped (already transcribed with these settings)"]


def test_times_and_words_are_kept_to_the_millisecond():
    w = [(" Hello", 0.12345, 0.45678, 0.98765), (" there.", 0.5, 0.91234, 0.5)]
    rec = Scripted({0: [Seg(0.12345, 0.91234, "Hello there.", 0, w)], 1: []})
    call = T.Transcriber(T.TranscribeOptions(agent_channel="left"), recognizer=rec).transcribe_audio(stereo(2.0), "x")
    (t,) = call.turns
    assert (t.start, t.end) == (0.123, 0.912)
    assert [(x.word, x.start, x.end, x.probability) for x in t.words] == [("Hello", 0.123, 0.457, 0.988),
                                                                          ("there.", 0.5, 0.912, 0.5)]
    # a merged turn ends where its last piece ends, to the millisecond, and keeps every word
    rec = Scripted({0: [Seg(0.0, 0.4, "one", 0, [(" one", 0.0, 0.4, 0.9)]),
                        Seg(1.8, 2.34567, "two", 0, [(" two", 1.8, 2.34567, 0.9)])], 1: []})
    (t,) = T.Transcriber(T.TranscribeOptions(agent_channel="left"), recognizer=rec).transcribe_audio(stereo(3.0), "x").turns
    assert t.end == 2.346 and [x.word for x in t.words] == ["one", "two"]
    # exactly MERGE_GAP_S apart: two turns
    rec = Scripted({0: [Seg(0.0, 0.4, "one", 0, [(" one", 0.0, 0.4, 0.9)]),
                        Seg(2.4, 2.8, "two", 0, [(" two", 2.4, 2.8, 0.9)])], 1: []})
    assert len(T.Transcriber(T.TranscribeOptions(agent_channel="left"), recognizer=rec).transcribe_audio(stereo(3.0), "x").turns) == 2
    assert call.source["duration"] == 2.0 and call.source["language_probability"] == 0.97


def test_duplicate_guard_boundaries():
    # two words are enough to be a duplicate
    p = [piece(0, 1.0, 2.0, "free estimate", 0.5), piece(1, 1.0, 2.0, "free estimate", 0.1)]
    assert T._dedupe_cross_channel(p) == 1
    # equal energy: the piece checked first stays
    p = [piece(0, 1.0, 2.0, "free estimate", 0.5), piece(1, 1.0, 2.0, "free estimate", 0.5)]
    assert T._dedupe_cross_channel(p) == 1 and p[1]["drop"] and not p[0].get("drop")
    # exactly 0.5 s apart on either side still overlaps
    for other in (piece(1, 2.5, 3.0, "free estimate", 0.1), piece(1, 0.0, 0.5, "free estimate", 0.1)):
        p = [piece(0, 1.0, 2.0, "free estimate", 0.5), other]
        assert T._dedupe_cross_channel(p) == 1, other
    # 0.6 s apart: no
    assert T._dedupe_cross_channel([piece(0, 1.0, 2.0, "free estimate", 0.5), piece(1, 2.6, 3.0, "free estimate", 0.1)]) == 0
    # several echoes of one loud piece are all dropped, and counted
    p = [piece(0, 1.0, 3.0, "we offer a free estimate", 0.5), piece(1, 1.0, 2.0, "we offer a free", 0.1),
         piece(1, 2.0, 3.0, "offer a free estimate", 0.1)]
    assert T._dedupe_cross_channel(p) == 2 and p[1]["drop"] and p[2]["drop"]
    # a quieter piece first: it is dropped and the loop moves on to the next piece
    p = [piece(1, 1.0, 2.0, "we offer a free", 0.1), piece(0, 1.0, 3.0, "we offer a free estimate", 0.5),
         piece(1, 2.0, 3.0, "offer a free estimate", 0.1)]
    assert T._dedupe_cross_channel(p) == 2 and p[0]["drop"] and p[2]["drop"] and not p[1].get("drop")


def test_speech_energy_counts_the_loud_frames():
    rng = np.random.default_rng(0)
    loud = rng.standard_normal(SR).astype(np.float32) * 0.3
    with_quiet = np.concatenate([loud, loud * 10 ** (-40 / 20)])          # a part 40 dB down adds ~nothing
    assert T._speech_energy(with_quiet) == pytest.approx(T._speech_energy(loud), rel=1e-3)
    with_half = np.concatenate([loud, loud * 10 ** (-30 / 20)])            # 30 dB down: counted
    assert T._speech_energy(with_half) > T._speech_energy(loud) * 1.0005


class Recording(Scripted):
    """Scripted, and keeps what the batch passed to the recogniser."""

    def transcribe_channels(self, channels, language, main=0, hotwords=None, prompt=None):
        self.asked = {"language": language, "hotwords": hotwords, "prompt": prompt("en") if prompt else None}
        return super().transcribe_channels(channels, language, main, hotwords, prompt)


def test_options_reach_the_recogniser_and_the_roles():
    script = Script("Swift Movers — script", [ScriptStep("g", "Greeting", ["Thank you for calling Swift Movers."])])
    rec = Recording({0: [seg(0, 0.0, "Okay.")], 1: [seg(1, 2.0, "Swift Movers, good day.")]})
    tr = T.Transcriber(T.TranscribeOptions(language="ru", script=script, vocabulary=["Packing"]), recognizer=rec)
    call = tr.transcribe_audio(stereo(), "x")
    assert rec.asked == {"language": "ru", "hotwords": "Swift Movers, Packing",
                         "prompt": "Thank you for calling Swift Movers."}
    assert call.language == "ru"
    # the company named in the script is agent evidence: the right channel is the agent
    assert call.source["roles"]["agent_channel"] == "right"
    assert any("names the company" in e for e in call.source["roles"]["evidence"][1])
    rec = Recording({0: [seg(0, 0.0, "Okay.")], 1: []})
    T.Transcriber(T.TranscribeOptions(), recognizer=rec).transcribe_audio(stereo(), "x")
    assert rec.asked["language"] is None and rec.asked["hotwords"] is None
    # mono: the script's company counts too
    mono = Audio((np.random.default_rng(2).standard_normal((1, 12 * SR)) * 0.3).astype(np.float32), SR, 1)
    rec = Recording({0: [seg(0, 0.0, "Hello, I need a truck."), seg(0, 6.0, "Swift Movers, sure, we can do that.")]})
    call = T.Transcriber(T.TranscribeOptions(script=script), recognizer=rec).transcribe_audio(mono, "m")
    assert [t.speaker for t in call.turns] == ["customer", "agent"]
    assert call.source["echo_duplicates_dropped"] == 0 and call.source["loops_dropped"] == 0
    assert call.source["source_sample_rate"] == SR
