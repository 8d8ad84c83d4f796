"""Batch transcription logic, audio decoding, echo suppression and roles (no Whisper here; see
test_transcribe_real.py for the real model on the sample calls)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from nlp.asr import Seg
from nlp.audio import AUDIO_EXTENSIONS, decode, echo_mask, suppress_echo
from nlp.errors import AudioError, InputFormatError
from nlp.roles import company_names, decide_stereo, mono_turns
from nlp.script import parse_markdown
from nlp.store import Store
from nlp.transcribe import (TranscribeOptions, Transcriber, call_ids_for, expand_inputs, read_vocabulary,
                            transcribe_paths)

SR = 16000


def write_wav(path: Path, data: np.ndarray, sr: int = SR) -> Path:
    data = np.atleast_2d(data)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[0])
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(data.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def burst(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Speech-like: noise modulated at a syllable rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * rng.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def dialogue(sr: int = SR, echo_db: float | None = None) -> np.ndarray:
    """Left speaks 0.5-2.5 s and 5-7 s, right 3-4.5 s; optional line echo 30 ms late."""
    n = int(8 * sr)
    left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for a, b, seed in ((0.5, 2.5, 1), (5.0, 7.0, 2)):
        left[int(a * sr):int(a * sr) + int((b - a) * sr)] = burst(b - a, sr, seed)
    right[int(3 * sr):int(4.5 * sr)] = burst(1.5, sr, 3)
    if echo_db is not None:
        g, d = 10 ** (echo_db / 20), int(0.03 * sr)
        left, right = (left + g * np.concatenate([np.zeros(d, np.float32), right[:-d]]),
                       right + g * np.concatenate([np.zeros(d, np.float32), left[:-d]]))
    return np.stack([left, right])


# ---- decoding ------------------------------------------------------------------------------

def test_decode_stereo_and_8k(tmp_path):
    a = decode(write_wav(tmp_path / "s.wav", dialogue()))
    assert a.is_stereo and a.channels.dtype == np.float32 and abs(a.duration - 8.0) < 0.05
    # the right channel holds its burst at 3-4.5 s (noise of std 0.3 x 0.6-1.0: peaks far over 0.1) and
    # nothing in its first second; the left one speaks in that second
    assert np.abs(a.channels[1, 3 * SR:int(4.5 * SR)]).max() > 0.1 and a.channels[1, :SR].max() == 0
    assert np.abs(a.channels[0, int(0.5 * SR):SR]).max() > 0.1
    tel = decode(write_wav(tmp_path / "t.wav", dialogue(8000)[0], sr=8000))
    assert not tel.is_stereo and tel.source_rate == 8000 and abs(tel.duration - 8.0) < 0.05


def test_decode_bad_inputs(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        decode(tmp_path / "empty.wav")
    (tmp_path / "notes.mp3").write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(AudioError, match="not a readable audio file"):
        decode(tmp_path / "notes.mp3")
    with pytest.raises(AudioError, match="silent"):
        decode(write_wav(tmp_path / "silent.wav", np.zeros(SR, np.float32)))
    good = write_wav(tmp_path / "cut.wav", dialogue()[0])
    (tmp_path / "trunc.wav").write_bytes(good.read_bytes()[:40])  # header only
    with pytest.raises(AudioError):
        decode(tmp_path / "trunc.wav")
    with pytest.raises(AudioError, match="cannot read"):
        decode(tmp_path / "missing.wav")


def test_duplicated_stereo_is_mono(tmp_path):
    x = dialogue()[0]
    assert not decode(write_wav(tmp_path / "dup.wav", np.stack([x, x]))).is_stereo


# ---- echo -------------------------------------------------------------------------------------

def test_echo_mask_removes_leak_keeps_speech():
    ch = dialogue(echo_db=-24)
    masked, stats = suppress_echo(ch)
    # The right channel's leaked copy of the left speaker (0.5-2.5 s) is gone ...
    assert np.abs(masked[1, int(0.7 * SR):int(2.3 * SR)]).max() == 0
    # ... its own speech stays untouched, and so does the left speaker's.
    assert np.allclose(masked[1, int(3.2 * SR):int(4.3 * SR)], ch[1, int(3.2 * SR):int(4.3 * SR)])
    assert np.allclose(masked[0, int(0.7 * SR):int(2.3 * SR)], ch[0, int(0.7 * SR):int(2.3 * SR)])
    assert stats["echo_seconds_right"] > 3


def test_echo_mask_keeps_double_talk():
    rng = np.random.default_rng(5)
    a = 0.3 * rng.standard_normal(SR).astype(np.float32)
    b = 0.25 * rng.standard_normal(SR).astype(np.float32)
    assert not echo_mask(a, b).any() and not echo_mask(b, a).any()


# ---- inputs ---------------------------------------------------------------------------------

def test_expand_inputs_folders_lists_and_ids(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    f1 = write_wav(tmp_path / "a" / "call1.wav", dialogue())
    f2 = write_wav(tmp_path / "a" / "b" / "call1.wav", dialogue())
    (tmp_path / "a" / "readme.md").write_text("x")
    lst = tmp_path / "list.txt"
    lst.write_text(f"# recordings\n{f1}\na/b/call1.wav\n")
    files = expand_inputs([tmp_path / "a", lst])
    assert [f.resolve() for f in files] == sorted([f1.resolve(), f2.resolve()])
    ids = call_ids_for(files)
    assert len(set(ids)) == 2 and all(i.startswith("call1-") for i in ids)
    assert ".wav" in AUDIO_EXTENSIONS and ".opus" in AUDIO_EXTENSIONS
    voc = tmp_path / "v.txt"
    voc.write_text("Светлый дом, BrightHome\n# comment\nПВХ\n")
    assert read_vocabulary(voc) == ["Светлый дом", "BrightHome", "ПВХ"]


# ---- roles ----------------------------------------------------------------------------------

SCRIPT = parse_markdown("# Светлый дом / BrightHome Windows — скрипт\n## greeting: Приветствие\n"
                        "- Здравствуйте, компания Светлый дом, меня зовут ..., чем могу помочь?\n"
                        "## budget: Бюджет\n- На какой бюджет вы рассчитываете?\n- Do you have a budget in mind?\n")


def test_company_names_from_script():
    assert company_names(SCRIPT, ["ПВХ"]) == ["Светлый дом", "BrightHome Windows", "ПВХ"]


@pytest.mark.parametrize("lang,agent,customer", [
    ("ru", ["Светлый дом, здравствуйте! Меня зовут Ольга.", "На какой бюджет вы рассчитываете?"],
     ["Здравствуйте, сколько стоит остекление балкона?", "Я подумаю."]),
    ("en", ["Thank you for calling BrightHome Windows, this is Mike, how can I help you today?",
            "Do you have a budget in mind?"],
     ["Hi, how much would three windows cost?", "I need to talk to my wife."]),
])
def test_roles_stereo(lang, agent, customer):
    comp = company_names(SCRIPT)
    # The agent is on the right here and the customer happens to speak first.
    left = [(0.0, customer[0]), (9.0, customer[1])]
    right = [(2.0, agent[0]), (6.0, agent[1])]
    d = decide_stereo([left, right], lang, script=SCRIPT, companies=comp)
    # measured confidence 0.993 (ru) and 0.996 (en): company greeting and script question on one side
    assert d.agent_channel == 1 and d.confidence > 0.95 and d.to_dict()["agent_channel"] == "right"


def test_roles_empty_and_mono():
    d = decide_stereo([[], []], "ru")
    assert d.confidence == 0.5
    turns, dm = mono_turns([(0.0, 2.0, "Светлый дом, здравствуйте, меня зовут Ольга, чем могу помочь?"),
                            (3.0, 5.0, "Сколько стоит окно?"), (6.0, 8.0, "Подскажите размеры окна?"),
                            (9.0, 10.0, "Метр на полтора.")], "ru", script=SCRIPT)
    assert [t[0] for t in turns] == ["agent", "customer", "agent", "customer"]
    assert dm.to_dict()["low_confidence"] and dm.confidence <= 0.4  # nlp.roles.MONO_MAX_CONFIDENCE
    assert mono_turns([], "ru")[0] == []


# ---- the batch, with a stand-in recogniser -----------------------------------------------

class EnergyRecognizer:
    """Stand-in for Whisper in batch-logic tests: one 'word' per voiced 0.5 s block of a channel."""

    def __init__(self):
        self.calls = 0

    def identity(self):
        return {"model": "energy-test", "device": "cpu", "compute_type": "int8", "beam_size": 5}

    def transcribe_channels(self, channels, language, main=0, hotwords=None, prompt=None):
        self.calls += 1
        return [self.channel(c, ch) for ch, c in enumerate(channels)], language or "ru", 1.0

    def channel(self, audio, ch):
        out, blk = [], SR // 2
        for i in range(len(audio) // blk):
            if np.abs(audio[i * blk:(i + 1) * blk]).max() > 0.05:
                t0, t1 = i * 0.5, i * 0.5 + 0.5
                w = f"слово{i}"
                out.append(Seg(t0, t1, w, ch, [(" " + w, t0, t1, 0.9)]))
        return out


def make_batch(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_wav(d / "c1.wav", dialogue())
    write_wav(d / "c2.wav", dialogue(echo_db=-24))
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    (d / "empty.ogg").write_bytes(b"")
    return d


def test_batch_resume_errors_and_exit_codes(tmp_path):
    d = make_batch(tmp_path)
    rec = EnergyRecognizer()
    logs: list[str] = []
    with Store(tmp_path / "st") as st:
        tr = Transcriber(TranscribeOptions(), recognizer=rec)
        s1 = transcribe_paths([d], st, transcriber=tr, log=logs.append)
        assert sorted(r.call_id for r in s1.done) == ["c1", "c2"]
        assert {r.call_id: r.reason for r in s1.failed}.keys() == {"broken", "empty"}
        assert "empty" in {r.call_id: r.reason for r in s1.failed}["empty"]
        assert s1.exit_code() == 0 and s1.exit_code(strict=True) == 1
        assert {e["call_id"] for e in st.errors("transcribe")} == {"broken", "empty"}
        assert any("ETA" in m for m in logs) and any("FAILED" in m for m in logs)
        c2 = st.get_call("c2")
        # Echo suppression: the leaked copy is not transcribed a second time on the other channel.
        assert [t.speaker for t in c2.turns] == [t.speaker for t in st.get_call("c1").turns]
        assert len(c2.turns) == 3 and c2.source["channels"] == 2
        assert (tmp_path / "st" / "transcripts" / "c1.json").exists()
        n_calls = rec.calls
        s2 = transcribe_paths([d], st, transcriber=tr, log=logs.append)
        assert sorted(r.call_id for r in s2.skipped) == ["c1", "c2"] and not s2.done and rec.calls == n_calls
        # Different settings: transcribed again, replaced, never duplicated.
        tr2 = Transcriber(TranscribeOptions(agent_channel="right"), recognizer=rec)
        s3 = transcribe_paths([d / "c1.wav"], st, transcriber=tr2, log=logs.append)
        assert [r.call_id for r in s3.done] == ["c1"]
        assert st.get_call("c1").turns[0].speaker == "customer"
        assert st.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 2
        assert st.integrity_check() == []
        only_bad = transcribe_paths([d / "broken.wav"], st, transcriber=tr, log=logs.append)
        assert only_bad.exit_code() == 1 and "broken.wav" in only_bad.text()


def test_batch_empty_inputs(tmp_path):
    (tmp_path / "none").mkdir()
    with Store(tmp_path / "st") as st, pytest.raises(InputFormatError, match="no recordings"):
        transcribe_paths([tmp_path / "none"], st, transcriber=Transcriber(TranscribeOptions(),
                                                                          recognizer=EnergyRecognizer()))


def test_mono_call_is_low_confidence(tmp_path):
    write_wav(tmp_path / "m.wav", dialogue()[0])
    with Store(tmp_path / "st") as st:
        transcribe_paths([tmp_path / "m.wav"], st, progress=False,
                         transcriber=Transcriber(TranscribeOptions(), recognizer=EnergyRecognizer()))
        c = st.get_call("m")
        assert c.source["roles"]["method"] == "mono-heuristic" and c.source["roles"]["low_confidence"]
        assert {t.speaker for t in c.turns} <= {"agent", "customer"} and c.turns


def test_metadata_joined_and_kept_on_retranscription(tmp_path):
    write_wav(tmp_path / "c1.wav", dialogue())
    csv = tmp_path / "calls.csv"
    csv.write_text("call_id,date,outcome,amount,city\nc1,2026-09-14,won,54000,Казань\nc9,2026-09-15,lost,,\n",
                   encoding="utf-8")
    rec = EnergyRecognizer()
    with Store(tmp_path / "st") as st:
        s = transcribe_paths([tmp_path / "c1.wav"], st, metadata=csv, progress=False,
                             transcriber=Transcriber(TranscribeOptions(), recognizer=rec))
        assert s.metadata_matched == 1 and s.metadata_unmatched == ["c9"]
        assert st.get_call("c1").metadata["outcome"] == "won" and st.get_call("c1").metadata["city"] == "Казань"
        transcribe_paths([tmp_path / "c1.wav"], st, progress=False,
                         transcriber=Transcriber(TranscribeOptions(agent_channel="left"), recognizer=rec))
        assert st.get_call("c1").metadata["outcome"] == "won"


def test_parallel_workers_same_result(tmp_path):
    d = make_batch(tmp_path)
    results = {}
    for workers in (1, 3):
        with Store(tmp_path / f"st{workers}") as st:
            s = transcribe_paths([d], st, workers=workers, progress=False,
                                 transcriber=Transcriber(TranscribeOptions(), recognizer=EnergyRecognizer()))
            assert len(s.done) == 2 and len(s.failed) == 2
            results[workers] = {c.call_id: [(t.speaker, t.text) for t in c.turns] for c in st.iter_calls()}
    assert results[1] == results[3]
