"""Faults (issue 14): a batch killed with SIGKILL at random points and rerun, the disk filling up,
and two runs on one store at once. Each run is a real `callbridge import` process on text calls
made from the bundled sample dialogues (the same batch code paths as transcription, without a
model, so the test takes seconds); `tests/test_transcribe_real.py` kills a transcription the same
way and `tests/test_scheduler.py` kills a Dask worker."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nlp.store import Store, StoreBusyError

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = json.loads((ROOT / "scripts" / "sample_dialogues.json").read_text(encoding="utf-8"))["calls"]
SEED = int(os.environ.get("CALLBRIDGE_FUZZ_SEED", "0") or 0)
PREFIX = {"ru": {"agent": "Менеджер", "customer": "Клиент"}, "en": {"agent": "Agent", "customer": "Customer"}}


def make_calls(folder: Path, n: int, seed: int = 0) -> list[str]:
    """`n` dialogue .txt files: each a sample call with its customer's turns drawn from the sample
    calls of its language, so no two files are alike."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    by_lang: dict[str, list[str]] = {}
    for c in DIALOGUES:
        by_lang.setdefault(c["language"], []).extend(t for sp, t in c["turns"] if sp == "customer")
    stems = []
    for i in range(n):
        base = rng.choice(DIALOGUES)
        lang = base["language"]
        lines = []
        for k, (sp, text) in enumerate(base["turns"]):
            if sp == "customer" and k > 1:
                text = rng.choice(by_lang[lang])
            lines.append(f"[{k * 7 // 60:02d}:{k * 7 % 60:02d}] {PREFIX[lang][sp]}: {text} ({i})")
        stem = f"call-{i:05d}"
        (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        stems.append(stem)
    return stems


def cli(*args: str, preexec_fn=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-c", "from cli import app; app()", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)


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
        return 0  # not created yet


def every_call_once(store: Path, stems: list[str]) -> None:
    """Each input is one call (row, turns, transcript file), saved once; the store is sound."""
    with Store(store, create=False) as st:
        assert st.integrity_check() == []
        assert sorted(st.call_ids()) == sorted(stems)
        assert st.db.execute("SELECT COUNT(DISTINCT call_id) FROM turns").fetchone()[0] == len(stems)
        # save_call keeps created_at and moves updated_at: a call saved twice would show it
        twice = st.db.execute("SELECT call_id FROM calls WHERE updated_at != created_at").fetchall()
        assert not twice, [r[0] for r in twice][:5]
        assert st.errors() == []
    files = sorted(p.stem for p in (store / "transcripts").glob("*.json"))
    assert files == sorted(stems)
    for p in (store / "transcripts").glob("*.json"):
        json.loads(p.read_text(encoding="utf-8"))


def test_sigkill_three_times_at_random_points_then_rerun(tmp_path):
    stems = make_calls(tmp_path / "calls", 150, seed=SEED)
    store = tmp_path / "store"
    args = ["import", str(tmp_path / "calls"), "--store", str(store), "-q"]
    rng = random.Random(SEED)
    kills = []
    for _ in range(3):
        before = n_calls(store)
        target = before + rng.randint(1, max(1, (len(stems) - before) // 3))
        p = cli(*args)
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None and n_calls(store) < target:
            time.sleep(0.01)
        time.sleep(rng.random() * 0.05)  # anywhere inside the next call's write
        assert p.poll() is None, f"the run ended before it could be killed: {p.communicate()[1][-2000:]}"
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills.append(n_calls(store))
        assert kills[-1] < len(stems), "killed after the batch had finished"
    assert kills[0] >= 1 and kills == sorted(kills), kills  # each killed run kept its finished calls
    p = cli(*args)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert f"imported {len(stems) - kills[-1]}, skipped {kills[-1]}" in err, (kills, err[-500:])
    every_call_once(store, stems)


def _limit_file_size(nbytes: int):
    def pre() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


@pytest.mark.parametrize("limit_kb", [8, 600])
def test_disk_full_is_a_clear_error_and_the_store_resumes(tmp_path, limit_kb):
    """RLIMIT_FSIZE makes every write past `limit_kb` fail as on a full disk (EFBIG): 8 kB fails
    while creating the store, 600 kB part-way through the batch (the database outgrows it)."""
    stems = make_calls(tmp_path / "calls", 120, seed=SEED + 1)
    store = tmp_path / "store"
    args = ["import", str(tmp_path / "calls"), "--store", str(store), "-q"]
    p = cli(*args, preexec_fn=_limit_file_size(limit_kb * 1024))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "cannot write to the store" in err and "rerun" in err, err[-1000:]
    saved = n_calls(store)
    if limit_kb > 100:
        assert 0 < saved < len(stems)  # it failed part-way, as intended
    with Store(store) as st:
        assert st.integrity_check() == []
    p = cli(*args)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert f"imported {len(stems) - saved}, skipped {saved}" in err, (saved, err[-500:])
    every_call_once(store, stems)


def test_disk_full_on_a_small_tmpfs(tmp_path):
    """A real full file system (ENOSPC on every file, the transcripts too), where the machine lets
    us mount one."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers the same path")
    try:
        stems = make_calls(tmp_path / "calls", 120, seed=SEED + 2)
        store = mnt / "store"
        args = ["import", str(tmp_path / "calls"), "--store", str(store), "-q"]
        p = cli(*args)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 2 and "Traceback" not in err, err[-3000:]
        assert "cannot write to the store" in err, err[-1000:]
        saved = n_calls(store)
        assert 0 < saved < len(stems)
        with Store(store) as st:
            assert st.integrity_check() == []
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        p = cli(*args)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        assert f"imported {len(stems) - saved}, skipped {saved}" in err, (saved, err[-500:])
        every_call_once(store, stems)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_second_run_on_the_same_store_is_refused(tmp_path):
    stems = make_calls(tmp_path / "calls", 300, seed=SEED + 3)
    store = tmp_path / "store"
    args = ["import", str(tmp_path / "calls"), "--store", str(store), "-q"]
    first = cli(*args)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None and n_calls(store) < 1:
        time.sleep(0.01)
    assert first.poll() is None, first.communicate()[1][-2000:]
    # another import, and a whole `run` (which takes the same lock as transcribe), at once
    second = cli(*args)
    third = cli("run", str(tmp_path / "calls"), "--out", str(tmp_path / "out"), "--store", str(store))
    _, err2 = second.communicate(timeout=120)
    _, err3 = third.communicate(timeout=120)
    assert first.poll() is None, "the first run should still be working (make the batch bigger)"
    assert second.returncode == 2, err2[-2000:]
    assert "in use by another callbridge run" in err2 and f"pid {first.pid}" in err2 and "import" in err2, err2
    assert "Traceback" not in err2
    assert third.returncode == 2 and "in use by another callbridge run" in err3, err3[-2000:]
    assert not (tmp_path / "out" / "report.html").exists()
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1[-2000:]
    assert f"imported {len(stems)}" in err1
    every_call_once(store, stems)
    # the lock went with the first run
    again = cli(*args)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0 and f"skipped {len(stems)}" in err, err[-2000:]


def test_lock_is_shared_within_a_process_and_dropped_when_the_holder_dies(tmp_path):
    store = tmp_path / "store"
    with Store(store) as a, Store(store) as b:
        a.lock("import")
        b.lock("run")  # the same process: pipeline.run locks, then import_paths locks again
        holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from nlp.store import Store; "
                                   "s = Store(sys.argv[1]); s.lock('themes'); print('locked', flush=True); "
                                   "time.sleep(60)", str(tmp_path / "other")], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Store(tmp_path / "other") as c:
            with pytest.raises(StoreBusyError) as e:
                c.lock("extract")
            assert f"pid {holder.pid}" in str(e.value) and "callbridge themes" in str(e.value)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with Store(tmp_path / "other") as c:
            c.lock("extract")  # the kernel dropped the dead holder's lock
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
