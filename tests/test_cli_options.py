"""Bad options are rejected before any model loads or any store is created: a clean one-line
message, a non-zero exit, never a traceback (issue 13)."""

import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app

GOOD = Path(__file__).parent / "data" / "importers" / "good"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "call.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) * 0.1) * 3000).astype("<i2").tobytes())
    return p


@pytest.fixture
def no_work(monkeypatch):
    """Any stage that would start real work fails the test."""
    import nlp.importers
    import nlp.pipeline
    import nlp.transcribe

    def boom(*a, **k):
        raise AssertionError("work started despite a bad option")

    monkeypatch.setattr(nlp.transcribe, "transcribe_paths", boom)
    monkeypatch.setattr(nlp.importers, "import_paths", boom)
    monkeypatch.setattr(nlp.pipeline, "run", boom)


def run_cli(args):
    r = CliRunner().invoke(app, args)
    assert "Traceback" not in r.output and not isinstance(r.exception, AssertionError), r.output
    return r


@pytest.mark.parametrize("extra,needle", [
    (["--language", "xx"], "--language 'xx' is not a language Whisper knows"),
    (["--language", "russian"], "is not a language Whisper knows"),
    (["--agent-channel", "middle"], "--agent-channel 'middle' is not one of auto, left, right"),
    (["--compute-type", "int3"], "--compute-type 'int3' is not one of"),
    (["--device", "tpu"], "--device 'tpu' is not one of auto, cpu, cuda"),
    (["--workers", "0"], "--workers"),
    (["--script", "nope.md"], "script file not found"),
    (["--vocabulary", "nope.txt"], "cannot read the vocabulary"),
    (["--metadata", "nope.csv"], "metadata file not found"),
    (["--model", "/nowhere/whisper-model"], "--model: no such folder"),
    (["--model", "tinyy"], "unknown model 'tinyy'"),
])
def test_transcribe_rejects_bad_options_before_work(tmp_path, wav, no_work, extra, needle):
    store = tmp_path / "store"
    r = run_cli(["transcribe", str(wav), "--store", str(store), "-q", *extra])
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert not store.exists()  # nothing was created


def test_transcribe_rejects_a_missing_input_and_a_cuda_it_does_not_have(tmp_path, wav, no_work):
    r = run_cli(["transcribe", str(tmp_path / "nope.wav"), "--store", str(tmp_path / "s")])
    assert r.exit_code == 2 and "input not found" in r.output and not (tmp_path / "s").exists()
    from nlp.asr import _cuda_available

    if not _cuda_available():
        r = run_cli(["transcribe", str(wav), "--store", str(tmp_path / "s"), "--device", "cuda"])
        assert r.exit_code == 2 and "no CUDA device" in r.output


def test_good_transcribe_options_are_normalised():
    from nlp.options import check_transcribe_options

    opts = check_transcribe_options(language="RU", device="CPU", compute_type="INT8", model=None,
                                    agent_channel="Left", workers=2)
    assert opts == {"language": "ru", "device": "cpu", "compute_type": "int8", "model": None, "agent_channel": "left",
                    "workers": 2}


def test_whisper_language_list_matches_faster_whisper():
    tok = pytest.importorskip("faster_whisper.tokenizer")
    from nlp.options import WHISPER_LANGUAGES

    assert WHISPER_LANGUAGES == set(tok._LANGUAGE_CODES)


@pytest.mark.parametrize("extra,needle", [
    (["--roles", "Ольга"], "--roles: 'Ольга' is not NAME=ROLE"),
    (["--roles", "Ольга=boss"], "role 'boss'"),
    (["--metadata", "nope.csv"], "metadata file not found"),
])
def test_import_rejects_bad_options_before_work(tmp_path, no_work, extra, needle):
    store = tmp_path / "store"
    r = run_cli(["import", str(GOOD), "--store", str(store), *extra])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert not store.exists()
    r = run_cli(["import", str(tmp_path / "missing.txt"), "--store", str(store)])
    assert r.exit_code == 2 and "input not found" in r.output and not store.exists()


@pytest.mark.parametrize("extra,needle", [
    (["--lang", "de"], "use ru or en"),
    (["--script", "nope.md"], "script file not found"),
    (["--offer", "nope.md"], "cannot read the offer"),
    (["--metadata", "nope.csv"], "metadata file not found"),
])
def test_run_rejects_bad_options_before_work(tmp_path, extra, needle, monkeypatch):
    import nlp.importers
    import nlp.transcribe

    def boom(*a, **k):
        raise AssertionError("work started despite a bad option")

    monkeypatch.setattr(nlp.transcribe, "transcribe_paths", boom)
    monkeypatch.setattr(nlp.importers, "import_paths", boom)
    out = tmp_path / "out"
    r = run_cli(["run", str(GOOD), "--out", str(out), *extra])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert not (out / "store").exists()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = tmp_path_factory.mktemp("opts") / "store"
    r = CliRunner().invoke(app, ["import", str(GOOD), "--store", str(s), "-q"])
    assert r.exit_code == 0, r.output
    return s


@pytest.mark.parametrize("args,needle", [
    (["extract", "--model", "nope.joblib"], "extractor model not found"),
    (["themes", "--kind", "objections"], "unknown statement kind"),
    (["themes", "--vectors", "bert"], "unknown --vectors 'bert'"),
    (["themes", "--themes", "0"], "--themes"),
    (["report", "--out", "REPORT", "--lang", "xx"], "use ru or en"),
    (["report", "--out", "REPORT", "--offer", "nope.md"], "cannot read the offer"),
    (["gaps", "--script", "nope.md"], "script file not found"),
    (["gaps", "--script", str(SAMPLE / "script.md"), "--labels", "nope"], "no label files found"),
])
def test_store_commands_reject_bad_options(tmp_path, store, args, needle):
    args = [a.replace("REPORT", str(tmp_path / "report")) for a in args]
    r = run_cli([*args, "--store", str(store)])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert not (tmp_path / "report").exists()


def test_commands_on_a_missing_store(tmp_path):
    for cmd in (["extract"], ["themes"], ["report", "--out", str(tmp_path / "r")]):
        r = run_cli([*cmd, "--store", str(tmp_path / "none")])
        assert r.exit_code == 2 and "no store here" in r.output, (cmd, r.output)
        assert not (tmp_path / "none").exists()
