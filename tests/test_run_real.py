"""`callbridge demo` and `callbridge run` end to end on real recordings, nothing mocked: the first 11 s
of two bundled sample calls (one Russian with the agent on the left, one English with the agent on the right) go through the real
Whisper model, roles, metadata, extraction, themes, script gaps and the report. A rerun skips both
recordings without loading the model. (The whole ten-minute sample is the README's `callbridge demo`.)
"""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from nlp.audio import decode
from nlp.store import Store

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CROP_S = 11.0  # the agent's greeting and most of the customer's first turn in both calls
# call -> the agent's channel (data/sample/manifest.csv)
CALLS = {"ru-windows-01": "left", "en-windows-02": "right"}


def _write_wav(path: Path, ch: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ch.shape[0])
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(ch.T, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    """A copy of data/sample with the two calls cut to their first 11 s (same stems, so the sample's
    metadata rows match them)."""
    if not (SAMPLE / "calls").is_dir():
        pytest.skip("data/sample is missing")
    d = tmp_path_factory.mktemp("sample")
    (d / "calls").mkdir()
    for name in ("script.md", "offer.md", "metadata.csv"):
        shutil.copy(SAMPLE / name, d / name)
    for cid in CALLS:
        a = decode(SAMPLE / "calls" / f"{cid}.ogg")
        _write_wav(d / "calls" / f"{cid}.wav", a.channels[:, : int(CROP_S * 16000)])
    return d


@pytest.fixture(scope="module")
def demo_run(small_sample, tmp_path_factory):
    import nlp.pipeline as pl

    out = tmp_path_factory.mktemp("demo") / "out"
    mp = pytest.MonkeyPatch()
    mp.setattr(pl, "sample_dir", lambda: small_sample)  # where the sample lives, not what `demo` does
    try:
        r = CliRunner().invoke(app, ["demo", "--out", str(out)])
    finally:
        mp.undo()
    return r, out


def test_demo_transcribes_and_reports_end_to_end(demo_run):
    r, out = demo_run
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert (out / "report.html").exists() and str(out / "report.html") in r.output
    with Store(out / "store") as st:
        assert sorted(st.call_ids()) == sorted(CALLS)
        for cid in CALLS:
            call = st.get_call(cid)
            # the excerpt opens with the agent's greeting and the customer's reason for calling
            assert call.source["roles"]["agent_channel"] == CALLS[cid], (cid, call.source["roles"])
            assert call.turns[0].speaker == "agent"
            assert {t.speaker for t in call.turns} == {"agent", "customer"}
            assert call.language == cid[:2]
            assert call.metadata.get("outcome") in ("won", "lost"), call.metadata  # the sample's CRM rows
        assert len(st.statements()) > 0
        assert st.db.execute("SELECT COUNT(*) FROM adherence").fetchone()[0] > 0  # the sample's script
    assert (out / "script-gaps" / "adherence.csv").exists() and (out / "tables" / "themes.csv").exists()


def test_run_rerun_skips_the_recordings(demo_run, small_sample, monkeypatch):
    _, out = demo_run
    import nlp.asr

    def no_model(*a, **k):
        raise AssertionError("the model was loaded for recordings already transcribed")

    monkeypatch.setattr(nlp.asr.Recognizer, "_load", no_model)
    r = CliRunner().invoke(app, ["run", str(small_sample / "calls"), "--out", str(out),
                                 "--script", str(small_sample / "script.md")])
    assert r.exit_code == 0, r.output
    assert r.output.count("skipped (already transcribed") == 2, r.output
    with Store(out / "store") as st:
        assert sorted(st.call_ids()) == sorted(CALLS)
