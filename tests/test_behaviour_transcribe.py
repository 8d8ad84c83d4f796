"""The transcription batch's behaviour on small recordings with known answers: which side is the
agent (left or right channel, customer-first mono calls), a recording whose audio changed under the
same name is done again, the cross-channel duplicate guard, calls committed as they finish, and the
exit codes of `callbridge transcribe`.

Whisper is replaced by `ScriptedRecognizer`: each voiced stretch of a channel becomes the next line
of that channel's script, so the roles, resume, duplicate and commit logic run for real on real
(synthetic) audio while the words are known. The real model runs in test_transcribe_real.py (slow)
and in test_run_real.py (one short recording, fast).
"""

from __future__ import annotations

import sqlite3
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nlp.asr import Seg
from nlp.store import Store
from nlp.transcribe import TranscribeOptions, Transcriber, _dedupe_cross_channel, transcribe_paths

SR = 16000


def write_wav(path: Path, data: np.ndarray) -> Path:
    data = np.atleast_2d(data)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[0])
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(data.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def burst(seconds: float, seed: int, gain: float = 0.3) -> np.ndarray:
    """Speech-like noise modulated at a syllable rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (gain * rng.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def voiced(total: float, spans: list[tuple[float, float]], seed: int, gain: float = 0.3) -> np.ndarray:
    x = np.zeros(int(total * SR), np.float32)
    for k, (a, b) in enumerate(spans):
        x[int(a * SR):int(a * SR) + int((b - a) * SR)] = burst(b - a, seed + k, gain)
    return x


class ScriptedRecognizer:
    """Stand-in for Whisper: each voiced stretch (0.5 s blocks over 0.05) of channel c becomes one
    segment whose text is the next line of `lines[c]`, its words spread evenly over the stretch."""

    def __init__(self, lines: list[list[str]], language: str = "en", model: str = "scripted-test"):
        self.lines, self.language, self.model, self.calls = lines, language, model, 0

    def identity(self):
        return {"model": self.model, "device": "cpu", "compute_type": "int8", "beam_size": 5}

    def transcribe_channels(self, channels, language, main=0, hotwords=None, prompt=None):
        self.calls += 1
        return [self._channel(np.asarray(a), ch) for ch, a in enumerate(channels)], language or self.language, 1.0

    def _channel(self, audio, ch):
        blk = SR // 2
        on = [np.abs(audio[i * blk:(i + 1) * blk]).max() > 0.05 for i in range(len(audio) // blk)]
        runs, start = [], None
        for i, v in enumerate(on + [False]):
            if v and start is None:
                start = i
            elif not v and start is not None:
                runs.append((start * 0.5, i * 0.5))
                start = None
        segs = []
        for k, (t0, t1) in enumerate(runs):
            text = self.lines[ch][k % len(self.lines[ch])]
            ws = text.split()
            step = (t1 - t0) / len(ws)
            words = [(" " + w, t0 + j * step, t0 + (j + 1) * step, 0.9) for j, w in enumerate(ws)]
            segs.append(Seg(t0, t1, text, ch, words))
        return segs


def transcribe(paths, store, recognizer, **options):
    return transcribe_paths(paths, store, progress=False,
                            transcriber=Transcriber(TranscribeOptions(**options), recognizer=recognizer))


AGENT_EN = ["Thank you for calling Brightline Solar, this is Dana, how can I help you today?",
            "Sure. How many panels were you thinking about for your roof?"]
CUSTOMER_EN = ["Hi, how much would a system for a small house cost?", "I need to talk to my wife first."]
AGENT_RU = ["Компания Светлый дом, здравствуйте, меня зовут Ольга, чем могу помочь?",
            "Подскажите, какие размеры окна, и на какой бюджет вы рассчитываете?"]
CUSTOMER_RU = ["Здравствуйте, сколько стоит остекление балкона?", "Я подумаю, мне надо посоветоваться с мужем."]
# the agent speaks at 0.5-3 s and 6-8.5 s, the customer at 3.5-5.5 s and 9-11 s
AGENT_SPANS, CUSTOMER_SPANS = [(0.5, 3.0), (6.0, 8.5)], [(3.5, 5.5), (9.0, 11.0)]


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("agent_side", [0, 1], ids=["agent-left", "agent-right"])
def test_stereo_agent_found_on_either_channel(tmp_path, lang, agent_side):
    agent, customer = (AGENT_EN, CUSTOMER_EN) if lang == "en" else (AGENT_RU, CUSTOMER_RU)
    chans = [None, None]
    chans[agent_side] = voiced(12, AGENT_SPANS, 1)
    chans[1 - agent_side] = voiced(12, CUSTOMER_SPANS, 7)
    lines = [None, None]
    lines[agent_side], lines[1 - agent_side] = agent, customer
    write_wav(tmp_path / "c.wav", np.stack(chans))
    with Store(tmp_path / "st") as st:
        transcribe([tmp_path / "c.wav"], st, ScriptedRecognizer(lines, lang))
        call = st.get_call("c")
    roles = call.source["roles"]
    assert roles["agent_channel"] == ("left", "right")[agent_side] and roles["method"] == "auto", roles
    assert [(t.speaker, t.text) for t in call.turns] == [
        ("agent", agent[0]), ("customer", customer[0]), ("agent", agent[1]), ("customer", customer[1])]


def test_forced_agent_channel_wins(tmp_path):
    # The words say the agent is on the left; --agent-channel right says otherwise and is obeyed.
    write_wav(tmp_path / "c.wav", np.stack([voiced(12, AGENT_SPANS, 1), voiced(12, CUSTOMER_SPANS, 7)]))
    with Store(tmp_path / "st") as st:
        transcribe([tmp_path / "c.wav"], st, ScriptedRecognizer([AGENT_EN, CUSTOMER_EN]), agent_channel="right")
        call = st.get_call("c")
    assert call.source["roles"]["method"] == "forced" and call.turns[0].speaker == "customer"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_mono_call_where_the_customer_speaks_first(tmp_path, lang):
    """An outbound call: the customer picks up ("Hello?"), then the agent introduces the company."""
    if lang == "en":
        lines = ["Hello?", "Good afternoon, this is Dana calling from Brightline Solar, following up on your quote "
                 "request.", "Oh yes, how much would it cost in total?",
                 "The system for your roof comes to fourteen thousand dollars, and we can offer monthly payments."]
    else:
        lines = ["Алло?", "Добрый день, вас беспокоит Ольга, компания Светлый дом, вы оставляли заявку на окна.",
                 "Да, сколько будет стоить остекление балкона?",
                 "Остекление балкона стоит сорок две тысячи рублей, могу предложить замер на субботу."]
    # one channel, a pause of 1.5 s between speakers (over the 0.8 s turn gap)
    write_wav(tmp_path / "m.wav", voiced(16, [(0.5, 1.0), (2.5, 5.5), (7.0, 9.0), (10.5, 14.5)], 3))
    with Store(tmp_path / "st") as st:
        transcribe([tmp_path / "m.wav"], st, ScriptedRecognizer([lines], lang))
        call = st.get_call("m")
    assert call.source["roles"]["method"] == "mono-heuristic"
    assert [t.speaker for t in call.turns] == ["customer", "agent", "customer", "agent"], call.source["roles"]
    assert [t.text for t in call.turns] == lines


def test_mono_call_where_the_agent_speaks_first(tmp_path):
    lines = ["Thank you for calling Brightline Solar, this is Dana, how can I help you?",
             "Hi, how much would a system for a small house cost?",
             "It depends on the roof. How many people live in the house?", "Four of us."]
    write_wav(tmp_path / "m.wav", voiced(16, [(0.5, 3.5), (5.0, 7.5), (9.0, 12.0), (13.5, 14.5)], 3))
    with Store(tmp_path / "st") as st:
        transcribe([tmp_path / "m.wav"], st, ScriptedRecognizer([lines]))
        assert [t.speaker for t in st.get_call("m").turns] == ["agent", "customer", "agent", "customer"]


def test_changed_audio_under_the_same_name_is_done_again(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_wav(d / "c1.wav", np.stack([voiced(12, AGENT_SPANS, 1), voiced(12, CUSTOMER_SPANS, 7)]))
    write_wav(d / "c2.wav", np.stack([voiced(12, AGENT_SPANS, 2), voiced(12, CUSTOMER_SPANS, 8)]))
    rec = ScriptedRecognizer([AGENT_EN, CUSTOMER_EN])
    with Store(tmp_path / "st") as st:
        first = transcribe([d], st, rec)
        assert sorted(r.call_id for r in first.done) == ["c1", "c2"]
        old_turns = len(st.get_call("c1").turns)
        # c1 is recorded over: a third customer stretch at 13.5-15 s, 2.5 s after the last (over the
        # 2 s merge gap, so a turn of its own); same name, other bytes
        write_wav(d / "c1.wav", np.stack([voiced(16, AGENT_SPANS, 1),
                                          voiced(16, CUSTOMER_SPANS + [(13.5, 15.0)], 7)]))
        again = transcribe([d], st, rec)
        assert [r.call_id for r in again.done] == ["c1"] and [r.call_id for r in again.skipped] == ["c2"]
        call = st.get_call("c1")
        assert len(call.turns) == old_turns + 1 and call.turns[-1].end == pytest.approx(15.0)
        assert st.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 2


def test_cross_channel_duplicate_guard_drops_the_quieter_copy():
    pieces = [{"channel": 0, "start": 1.0, "end": 3.0, "text": "how much does the kitchen cost", "energy": 0.09},
              {"channel": 1, "start": 1.1, "end": 3.1, "text": "how much does the kitchen cost", "energy": 0.001},
              {"channel": 1, "start": 4.0, "end": 6.0, "text": "about two hundred thousand", "energy": 0.08},
              # the same words, but not at the same time: a customer repeating the agent, kept
              {"channel": 0, "start": 9.0, "end": 11.0, "text": "about two hundred thousand", "energy": 0.07}]
    assert _dedupe_cross_channel(pieces) == 1
    assert [bool(p.get("drop")) for p in pieces] == [False, True, False, False]


def test_cross_channel_duplicate_dropped_in_a_call(tmp_path):
    """The agent's words leak into the customer's channel 20 dB down, with echo suppression off: the
    same words at the same time on both channels; the quieter copy goes, the call keeps one."""
    agent = voiced(12, AGENT_SPANS, 1)
    customer = voiced(12, CUSTOMER_SPANS, 7) + 0.1 * agent  # -20 dB copy, its blocks still over 0.05
    lines = [AGENT_EN, [AGENT_EN[0], CUSTOMER_EN[0], AGENT_EN[1], CUSTOMER_EN[1]]]
    write_wav(tmp_path / "c.wav", np.stack([agent, customer]))
    with Store(tmp_path / "st") as st:
        transcribe([tmp_path / "c.wav"], st, ScriptedRecognizer(lines), echo_suppression=False)
        call = st.get_call("c")
    assert call.source["echo_duplicates_dropped"] == 2
    assert [t.text for t in call.turns] == [AGENT_EN[0], CUSTOMER_EN[0], AGENT_EN[1], CUSTOMER_EN[1]]


class Killed(BaseException):
    """Stands for the process being killed mid-batch (not an error a file can fail with)."""


class DyingRecognizer(ScriptedRecognizer):
    def __init__(self, lines, die_on: int):
        super().__init__(lines)
        self.die_on = die_on

    def transcribe_channels(self, channels, language, main=0, hotwords=None, prompt=None):
        if self.calls + 1 == self.die_on:
            raise Killed()
        return super().transcribe_channels(channels, language, main, hotwords, prompt)


def test_calls_are_committed_as_they_finish(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(4):
        write_wav(d / f"c{i}.wav", np.stack([voiced(12, AGENT_SPANS, i), voiced(12, CUSTOMER_SPANS, 10 + i)]))
    with Store(tmp_path / "st") as st, pytest.raises(Killed):
        transcribe([d], st, DyingRecognizer([AGENT_EN, CUSTOMER_EN], die_on=3))
    # another connection (another process, after the kill) sees the two calls finished before it
    con = sqlite3.connect(tmp_path / "st" / "callbridge.db")
    assert sorted(r[0] for r in con.execute("SELECT call_id FROM calls")) == ["c0", "c1"]
    con.close()
    with Store(tmp_path / "st") as st:
        rerun = transcribe([d], st, ScriptedRecognizer([AGENT_EN, CUSTOMER_EN]))
        assert sorted(r.call_id for r in rerun.skipped) == ["c0", "c1"]
        assert sorted(r.call_id for r in rerun.done) == ["c2", "c3"]


# ---- `callbridge transcribe` exit codes ------------------------------------------------------------

@pytest.fixture
def cli_recognizer(monkeypatch):
    """`callbridge transcribe` with the scripted recogniser in place of Whisper (the CLI, options,
    batch, store and exit code are the real ones)."""
    import nlp.asr

    made = []

    def factory(settings=None):
        made.append(ScriptedRecognizer([AGENT_EN, CUSTOMER_EN]))
        return made[-1]

    monkeypatch.setattr(nlp.asr, "Recognizer", factory)
    return made


def _cli(args):
    from cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output, r.output
    return r


def test_cli_transcribe_exit_codes(tmp_path, cli_recognizer):
    d = tmp_path / "in"
    d.mkdir()
    good = write_wav(d / "good.wav", np.stack([voiced(12, AGENT_SPANS, 1), voiced(12, CUSTOMER_SPANS, 7)]))
    bad = d / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    st = tmp_path / "st"
    # one good, one bad: 0 by default, 1 with --strict
    r = _cli(["transcribe", good, bad, "--store", st, "--quiet"])
    assert r.exit_code == 0 and "transcribed 1" in r.output and "failed 1" in r.output, r.output
    r = _cli(["transcribe", good, bad, "--store", st, "--quiet", "--strict"])
    assert r.exit_code == 1 and "skipped 1" in r.output and "broken.wav" in r.output, r.output
    # nothing succeeded: 1
    r = _cli(["transcribe", bad, "--store", tmp_path / "st2", "--quiet"])
    assert r.exit_code == 1 and "failed 1" in r.output, r.output
    # nothing failed, --strict: 0
    r = _cli(["transcribe", good, "--store", st, "--quiet", "--strict"])
    assert r.exit_code == 0, r.output
    # bad options: 2, one line, before any work
    for extra in (["--agent-channel", "middle"], ["--workers", "0"], ["--language", "xx"]):
        r = _cli(["transcribe", good, "--store", tmp_path / "st3", *extra])
        assert r.exit_code == 2 and "error" in r.output.lower(), (extra, r.output)
    assert not (tmp_path / "st3").exists()
    r = _cli(["transcribe", tmp_path / "missing.wav", "--store", tmp_path / "st4"])
    assert r.exit_code == 2 and "missing.wav" in r.output, r.output
