"""Transcription on Dask (`--scheduler`, issue 14): every recording once, the client the only
writer, a worker killed mid-task costs nothing. The real-model tests use 8-second excerpts of the
sample calls and are marked slow."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from nlp.errors import InputFormatError
from nlp.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "calls"
EXCERPT_S = 8.0
NAMES = ["ru-windows-03", "en-windows-02", "ru-windows-01"]


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from cli import app; app()", *args], cwd=ROOT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def n_calls(store: Path) -> int:
    db = store / "callbridge.db"
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


@pytest.fixture(scope="module")
def excerpts(tmp_path_factory):
    from nlp.audio import decode

    d = tmp_path_factory.mktemp("excerpts")
    for name in NAMES:
        ch = decode(SAMPLE / f"{name}.ogg").channels[:, : int(EXCERPT_S * 16000)]
        with wave.open(str(d / f"{name}.wav"), "wb") as w:
            w.setnchannels(ch.shape[0])
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(ch.T, -1, 1) * 32767).astype("<i2").tobytes())
    return d


def every_call_once(store: Path, stems: list[str]) -> list:
    with Store(store, create=False) as st:
        assert st.integrity_check() == []
        assert sorted(st.call_ids()) == sorted(stems)
        assert st.errors() == []
        twice = st.db.execute("SELECT call_id FROM calls WHERE updated_at != created_at").fetchall()
        assert not twice, [r[0] for r in twice]
        calls = [st.get_call(c) for c in st.call_ids()]
    assert sorted(p.stem for p in (store / "transcripts").glob("*.json")) == sorted(stems)
    for c in calls:
        assert c.turns and c.language in ("ru", "en") and c.language == c.call_id[:2]
    return calls


# ---- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,needle", [("local:0", "at least 1"), ("local:x", "not local:N"),
                                         ("tcp://nohost", "not a scheduler address"), ("http://x:1", "address"),
                                         ("missing.json", "no such scheduler file"), ("cluster", "not local:N")])
def test_bad_scheduler_is_refused_before_any_work(tmp_path, spec, needle):
    from nlp.cluster import check_scheduler

    with pytest.raises(InputFormatError, match=needle):
        check_scheduler(spec)
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    r = CliRunner().invoke(app, ["transcribe", str(tmp_path / "a.wav"), "--store", str(tmp_path / "s"),
                                 "--scheduler", spec])
    assert r.exit_code == 2 and "--scheduler" in r.output, r.output
    assert not (tmp_path / "s").exists()


def test_scheduler_specs():
    from nlp.cluster import check_scheduler

    assert check_scheduler("local:3") == "local:3" and check_scheduler(" LOCAL:1 ") == "local:1"
    assert check_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert check_scheduler(None) is None
    r = CliRunner().invoke(app, ["transcribe", str(SAMPLE), "--send-audio"])
    assert r.exit_code == 2 and "--send-audio needs --scheduler" in r.output


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    import nlp.cluster

    monkeypatch.setattr(nlp.cluster, "CONNECT_TIMEOUT_S", 3)
    (tmp_path / "a.wav").write_bytes(b"RIFF....WAVE")
    r = CliRunner().invoke(app, ["transcribe", str(tmp_path), "--store", str(tmp_path / "s"),
                                 "--scheduler", "tcp://127.0.0.1:9"])
    assert r.exit_code == 2, r.output
    assert "cannot reach the Dask scheduler" in r.output and "Traceback" not in r.output


def test_bad_files_fail_alone_on_the_cluster_and_a_done_batch_starts_none(tmp_path):
    """Through `local:2` without the model: unreadable recordings fail on the workers, each with its
    reason in the summary and the store; the client records them."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "text.mp3").write_text("not audio at all", encoding="utf-8")
    r = CliRunner().invoke(app, ["transcribe", str(d), "--store", str(tmp_path / "s"), "--scheduler", "local:2"])
    assert r.exit_code == 1, r.output
    assert "failed 2" in r.output and "empty" in r.output and "not a readable audio file" in r.output, r.output
    with Store(tmp_path / "s", create=False) as st:
        assert {e["call_id"] for e in st.errors("transcribe")} == {"empty", "text"}


# ---- the real model ------------------------------------------------------------------------------
@pytest.mark.slow
def test_local_cluster_transcribes_every_file_once(excerpts, tmp_path):
    store = tmp_path / "store"
    p = cli("transcribe", str(excerpts), "--store", str(store), "--scheduler", "local:2")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert f"transcribed {len(NAMES)}, skipped 0" in err and "dask: 2 workers" in err, err[-2000:]
    calls = every_call_once(store, NAMES)
    assert len({c.source["worker"] for c in calls}) == 2  # both workers did some
    assert all(c.source["audio_path"] == str(excerpts / f"{c.call_id}.wav") for c in calls)
    # a rerun finds everything done and starts no cluster
    p = cli("transcribe", str(excerpts), "--store", str(store), "--scheduler", "local:2")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0 and f"skipped {len(NAMES)}" in err and "dask:" not in err, err[-2000:]


@pytest.mark.slow
def test_worker_killed_mid_task_loses_nothing(excerpts, tmp_path):
    """A scheduler and two workers as `dask` processes (a scheduler file, audio sent as bytes); a
    worker is killed with SIGKILL while it transcribes. Its nanny starts a new one, the scheduler
    runs the task again, and every call is saved once."""
    from distributed import Client

    if shutil.which("dask") is None:
        pytest.skip("the dask command is not installed")
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__LOGGING__DISTRIBUTED="error")
    procs = [subprocess.Popen(["dask", "scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        procs.append(subprocess.Popen(["dask", "worker", "--scheduler-file", str(sched_file), "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard", "--memory-limit", "0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        client = Client(scheduler_file=str(sched_file), timeout=60)
        client.wait_for_workers(2, timeout=120)
        store = tmp_path / "store"
        run = cli("transcribe", str(excerpts), "--store", str(store), "--scheduler", str(sched_file),
                  "--send-audio")

        def executing(dask_worker):
            return [str(ts.key) for ts in dask_worker.state.executing]

        killed = None
        deadline = time.time() + 240
        while killed is None and time.time() < deadline and run.poll() is None:
            # once a call is in (the models are loaded), kill a worker that is transcribing
            if n_calls(store) >= 1:
                busy = {a: keys for a, keys in client.run(executing).items()
                        if any(k.startswith("callbridge-transcribe-") for k in keys)}
                if busy:
                    addr = sorted(busy)[0]
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    os.kill(pid, signal.SIGKILL)
                    killed = (addr, busy[addr][0])
            time.sleep(0.2)
        assert killed is not None, "no worker was caught transcribing"
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        assert f"transcribed {len(NAMES)}, skipped 0 (already done), failed 0" in err, err[-2000:]
        calls = every_call_once(store, NAMES)
        redone = next(c for c in calls if f"-{c.call_id}-" in killed[1])
        assert redone.source["worker"] != killed[0]  # it ran again on another worker
        client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
