"""The bundled sample in data/sample/: files present, stereo, right length, references true to the audio."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nlp.callio import read_call
from nlp.script import read_script
from nlp.types import OUTCOMES

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _manifest() -> list[dict]:
    with open(SAMPLE / "manifest.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """(samples, channels) float32 at 16 kHz, and the channel count of the stream as stored."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        channels = stream.codec_context.channels
        res = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono", rate=16000)
        chunks = []
        for frame in c.decode(stream):
            for f in res.resample(frame):
                chunks.append(f.to_ndarray())
        for f in res.resample(None):
            chunks.append(f.to_ndarray())
    return np.concatenate(chunks, axis=1).T, channels


def test_sample_has_enough_calls_of_each_language():
    rows = [r for r in _manifest() if r["variant"] == "clean"]
    langs = [r["language"] for r in rows]
    assert langs.count("ru") >= 3 and langs.count("en") >= 2
    assert any(r["agent_channel"] == "right" for r in rows)
    kinds = {(r["variant"], r["language"]) for r in _manifest()}
    assert {("echo", "ru"), ("echo", "en")} <= kinds
    assert sum(r["variant"] == "8k" for r in _manifest()) >= 2
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 3.5e6, f"data/sample is {total / 1e6:.1f} MB"


@pytest.mark.parametrize("row", _manifest(), ids=lambda r: r["call_id"])
def test_recording_matches_its_reference(row):
    path = SAMPLE / row["file"]
    ref_path = SAMPLE / "references" / f"{row['call_id']}.json"
    assert path.suffix == ".ogg" and path.exists() and ref_path.exists()
    ref = json.loads(ref_path.read_text(encoding="utf-8"))
    call = read_call(ref_path)  # references are valid call JSON
    assert call.call_id == Path(row["file"]).stem == row["call_id"]
    assert ref["agent_channel"] == row["agent_channel"] and ref["variant"] == row["variant"]

    x, channels = _decode(path)
    assert channels == 2
    duration = len(x) / 16000
    assert 60 <= duration <= 120
    assert abs(duration - float(row["duration"])) < 0.2

    turns = call.turns
    assert {t.speaker for t in turns} == {"agent", "customer"}
    assert turns[0].speaker == "agent"
    for a, b in zip(turns, turns[1:]):
        assert a.start < a.end <= b.start, "turns overlap or are out of order"
    assert turns[-1].end <= duration

    # Each turn is loud on its speaker's channel and (near) silent on the other one, echo included.
    agent_ch = 0 if ref["agent_channel"] == "left" else 1
    for t in turns:
        seg = x[int(t.start * 16000): int(t.end * 16000)]
        own = agent_ch if t.speaker == "agent" else 1 - agent_ch
        rms = np.sqrt(np.mean(seg ** 2, axis=0)) + 1e-9
        ratio_db = 20 * np.log10(rms[own] / rms[1 - own])
        assert rms[own] > 0.01 and ratio_db > 15, (t.speaker, t.start, ratio_db)


def test_metadata_covers_every_clean_call():
    with open(SAMPLE / "metadata.csv", encoding="utf-8") as f:
        meta = {r["call_id"]: r for r in csv.DictReader(f)}
    clean = {r["call_id"] for r in _manifest() if r["variant"] == "clean"}
    assert set(meta) == clean
    for r in meta.values():
        assert r["outcome"] in OUTCOMES and r["date"] and r["agent"] and r["lead_source"]
        assert "city" in r  # an extra CRM column, kept by the importer
    assert {r["outcome"] for r in meta.values()} == set(OUTCOMES)


def test_script_and_offer_parse():
    script = read_script(SAMPLE / "script.md")
    assert len(script.steps) >= 6 and "greeting" in script.step_ids()
    assert all(s.examples for s in script.steps)
    assert len((SAMPLE / "offer.md").read_text(encoding="utf-8").split()) > 30
