"""Real Whisper on the sample calls: WER bound, roles, echo, resume, and a run killed with SIGKILL.

Three 40-second excerpts of `data/sample` (Russian with the agent on the right, Russian with line
echo, English with the agent on the right) keep this under a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from nlp.asr import wer
from nlp.audio import decode
from nlp.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
CROP_S = 40.0
# (audio, reference id, WER bound). Measured on these excerpts with the default model, int8 CPU:
# 0.129, 0.046, 0.000; the bounds leave room for int8 kernels that differ between CPUs.
EXCERPTS = [("calls/ru-windows-03.ogg", "ru-windows-03", 0.22),
            ("variants/ru-windows-01.echo.ogg", "ru-windows-01.echo", 0.15),
            ("calls/en-windows-02.ogg", "en-windows-02", 0.08)]

pytestmark = pytest.mark.slow


def _write_wav(path: Path, ch: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ch.shape[0])
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(ch.T, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def excerpts(tmp_path_factory):
    if not (SAMPLE / "references").exists():
        pytest.skip("data/sample is missing")
    d = tmp_path_factory.mktemp("excerpts")
    refs = {}
    for audio, ref_id, bound in EXCERPTS:
        a = decode(SAMPLE / audio)
        _write_wav(d / f"{ref_id}.wav", a.channels[:, : int(CROP_S * 16000)])
        ref = json.loads((SAMPLE / "references" / f"{ref_id}.json").read_text(encoding="utf-8"))
        # Only the turns that end inside the excerpt; a turn cut in half at the end is left out
        # of both sides by trimming the hypothesis to the same time.
        ref["turns"] = [t for t in ref["turns"] if t["end"] <= CROP_S - 0.3]
        refs[ref_id] = (ref, bound)
    return d, refs


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-c", "from cli import app; app()", "transcribe", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _n_calls(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return 0


def test_killed_run_resumes_and_transcribes_correctly(excerpts, tmp_path):
    d, refs = excerpts
    store = tmp_path / "store"
    args = [str(d), "--store", str(store), "--script", str(SAMPLE / "script.md")]

    # 1. Kill the run with SIGKILL as soon as the first call is committed.
    p = _cli(*args)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None and _n_calls(store / "callbridge.db") < 1:
        time.sleep(0.2)
    assert p.poll() is None, f"run ended before it could be killed: {p.communicate()[1][-2000:]}"
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = _n_calls(store / "callbridge.db")
    assert 1 <= killed_at < len(EXCERPTS)

    # 2. Rerun: the finished calls are skipped, the rest transcribed, none twice.
    p = _cli(*args)
    _, err = p.communicate(timeout=400)
    assert p.returncode == 0, err[-2000:]
    assert f"skipped {killed_at}" in err and f"transcribed {len(EXCERPTS) - killed_at}" in err
    with Store(store) as st:
        assert st.integrity_check() == []
        ids = st.call_ids()
        assert sorted(ids) == sorted(refs)
        assert st.db.execute("SELECT COUNT(DISTINCT call_id) FROM turns").fetchone()[0] == len(EXCERPTS)
        for f in (store / "transcripts").glob("*.json"):
            json.loads(f.read_text(encoding="utf-8"))
        for cid, (ref, bound) in refs.items():
            call = st.get_call(cid)
            roles = call.source["roles"]
            assert roles["agent_channel"] == ref["agent_channel"], (cid, roles)
            assert call.language == ref["language"]
            hyp = {sp: " ".join(t.text for t in call.turns if t.speaker == sp and (t.end or 0) <= CROP_S - 0.3)
                   for sp in ("agent", "customer")}
            rt = {sp: " ".join(t.get("spoken") or t["text"] for t in ref["turns"] if t["speaker"] == sp)
                  for sp in ("agent", "customer")}
            w = wer(rt["agent"] + " " + rt["customer"], hyp["agent"] + " " + hyp["customer"], ref["language"])
            print(f"excerpt {cid}: WER {w:.3f} (bound {bound})")
            assert w <= bound, (cid, w, hyp)
            if ".echo" in cid:
                # No ghost turns: the customer's side never repeats the agent's greeting.
                assert not any("светлый дом" in t.text.lower() for t in call.turns if t.speaker == "customer")

    # 3. A third run skips everything without loading the model.
    t0 = time.time()
    p = _cli(*args)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0 and f"skipped {len(EXCERPTS)}" in err and "transcribed 0" in err
    assert time.time() - t0 < 60
