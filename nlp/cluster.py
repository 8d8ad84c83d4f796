"""Transcription on a Dask cluster (`dask.distributed`): `--scheduler local:N | tcp://HOST:PORT |
scheduler.json`.

Each recording that needs transcribing becomes one Dask task. A worker builds its `Transcriber`
once, on its first task, and keeps it (`_worker_transcriber`: a per-worker cache keyed by the
settings hash), so the model loads once per worker process and never on the client. A task
returns the `Call`; the client is the only writer of the store and saves each call as its task
completes (`as_completed`), in one transaction, exactly as an in-process run does, so SQLite keeps
one writer and a rerun resumes.

The client hashes every file first and skips what the store already holds; a cluster is started
or reached only when something is left to do. At most two tasks per worker are in flight, so a
batch of ten thousand recordings never sits in the scheduler's (or, with `--send-audio`, the
client's) memory at once.

A worker that dies mid-task (killed, out of memory) loses only that task: the scheduler runs it
again on another worker (up to `distributed.scheduler.allowed-failures` times, 3 by default;
after that the file fails alone, with a reason). Its result reaches the client once, so nothing
is saved twice. Audio reaches the workers by path (the workers must see the same files: one
machine, or shared storage) or, with `send_audio`, as the file's bytes inside the task.

Workers need callbridge installed (same version) and, by default, the Whisper model packages;
on a shared machine give each worker a share of the cores (`local:N` does: cores // N threads
each for CTranslate2).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import CallbridgeError, ClusterError, InputFormatError
from .fileutil import file_sha256

_LOCAL = re.compile(r"^local(?::(\d+))?$", re.I)
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://\[?[\w.\-:]+\]?:\d{1,5}$", re.I)
CONNECT_TIMEOUT_S = 30
IN_FLIGHT_PER_WORKER = 2


def check_scheduler(spec: str | None) -> str | None:
    """`local:N` (N worker processes on this machine), a scheduler address `tcp://HOST:PORT`
    (also tls://, ws://), or an existing scheduler file (`dask scheduler --scheduler-file F`).
    Returns the spec normalised; raises InputFormatError saying what is allowed."""
    if spec is None or not str(spec).strip():
        return None
    s = str(spec).strip()
    m = _LOCAL.match(s)
    if m:
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise InputFormatError(f"--scheduler {spec!r}: local needs at least 1 worker", hint="e.g. local:2")
        return f"local:{n}"
    if "://" in s:
        if not _ADDRESS.match(s):
            raise InputFormatError(f"--scheduler {spec!r} is not a scheduler address",
                                   hint="give tcp://HOST:PORT, as `dask scheduler` prints it")
        return s
    p = Path(s).expanduser()
    if p.suffix.lower() == ".json" or p.exists():
        if not p.is_file():
            raise InputFormatError("--scheduler: no such scheduler file", path=str(p),
                                   hint="start the scheduler with `dask scheduler --scheduler-file FILE`")
        return str(p)
    raise InputFormatError(f"--scheduler {spec!r} is not local:N, tcp://HOST:PORT or a scheduler file",
                           hint="e.g. --scheduler local:2, --scheduler tcp://10.0.0.5:8786 or "
                           "--scheduler scheduler.json")


def local_workers(spec: str) -> int | None:
    m = _LOCAL.match(spec)
    return int(m.group(1)) if m and m.group(1) else None


@contextmanager
def open_client(spec: str, log: Callable[[str], None] = lambda m: None) -> Iterator[Any]:
    """A `distributed.Client` for `spec` (see `check_scheduler`); a `local:N` cluster is started
    and shut down with it. Raises ClusterError when the scheduler cannot be reached or has no
    workers."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--scheduler needs dask.distributed",
                           hint='pip install "dask[distributed]"') from None
    n = local_workers(spec)
    cluster = None
    try:
        if n is not None:
            # One thread per worker process: a task is one recording, and CTranslate2 gets the
            # worker's share of the cores. No dashboard: it needs bokeh and a free port.
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            logging.getLogger("distributed").setLevel(logging.ERROR)
            kw = {"scheduler_file": spec} if not re.match(r"^\w+://", spec) else {"address": spec}
            client = Client(timeout=CONNECT_TIMEOUT_S, **kw)
    except (OSError, TimeoutError, ValueError) as e:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot reach the Dask scheduler {spec}: {e}",
                           hint="start it with `dask scheduler` and workers with `dask worker ADDRESS`, "
                           "or use --scheduler local:N") from None
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S * 2)
        except (TimeoutError, OSError):
            raise ClusterError(f"the Dask scheduler {spec} has no workers",
                               hint="start workers with `dask worker ADDRESS` on machines that have "
                               "callbridge installed") from None
        info = client.scheduler_info()
        log(f"dask: {len(info.get('workers', {}))} workers at {info.get('address', spec)}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---- on the worker ----------------------------------------------------------------------------
_TRANSCRIBERS: dict[str, Any] = {}
_TRANSCRIBERS_LOCK = threading.Lock()


def _worker_transcriber(options: Any, settings_hash: str, cpu_threads: int | None) -> Any:
    """This worker process's Transcriber for these settings, built on first use (the model itself
    loads on the first recording) and kept for every later task."""
    with _TRANSCRIBERS_LOCK:
        tr = _TRANSCRIBERS.get(settings_hash)
        if tr is None:
            from .asr import ASRSettings, Recognizer
            from .transcribe import Transcriber

            rec = Recognizer(ASRSettings(model=options.model, device=options.device, compute_type=options.compute_type,
                                         beam_size=options.beam_size, batch_size=options.batch_size,
                                         cpu_threads=cpu_threads or 0, num_workers=1))
            tr = Transcriber(options, recognizer=rec)
            _TRANSCRIBERS.clear()  # other settings' model goes: one model per worker
            _TRANSCRIBERS[settings_hash] = tr
    return tr


def transcribe_task(source: str | bytes, name: str, call_id: str, options: Any, settings_hash: str,
                    cpu_threads: int | None = None) -> tuple:
    """One recording on a worker: ('done', Call, seconds) or ('failed', error class name, message,
    hint). `source` is the recording's path (as the worker sees it) or its bytes; `name` is its
    path on the client, kept as the call's `audio_path`."""
    t0 = time.time()
    try:
        tr = _worker_transcriber(options, settings_hash, cpu_threads)
        if isinstance(source, (bytes, bytearray, memoryview)):
            with tempfile.TemporaryDirectory(prefix="callbridge-") as d:
                p = Path(d) / (Path(name).name or "recording")
                p.write_bytes(source)
                call = tr.transcribe_file(p, call_id)
        else:
            call = tr.transcribe_file(source, call_id)
    except CallbridgeError as e:
        return ("failed", type(e).__name__, e.message, e.hint)
    except OSError as e:
        return ("failed", "AudioError", f"cannot read file on the worker: {e.strerror or e}",
                "with workers on other machines, give the recordings on shared storage or use --send-audio")
    call.source["audio_path"] = name
    try:
        from distributed import get_worker

        call.source["worker"] = get_worker().address
    except (ImportError, ValueError):
        pass
    return ("done", call, time.time() - t0)


# ---- on the client ----------------------------------------------------------------------------
def _error(kind: str, message: str, hint: str | None) -> CallbridgeError:
    from . import errors

    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, CallbridgeError)):
        cls = CallbridgeError
    return cls(message, hint=hint)


def _raiser(e: BaseException) -> Callable[[], tuple]:
    def get() -> tuple:
        raise e
    return get


def transcribe_on_cluster(spec: str, files: Sequence[Path], ids: Sequence[str], options: Any, settings_hash: str,
                          is_done: Callable[[str, str], bool], *, send_audio: bool = False,
                          log: Callable[[str], None] = lambda m: None) -> Iterator[tuple[Path, str, Callable[[], tuple]]]:
    """(path, call_id, result) per recording: first the ones the store already has (or that
    cannot be read), then the rest as their tasks finish. `result()` returns ('skipped' | 'done',
    Call | None, sha256, seconds) or raises the recording's CallbridgeError, as an in-process
    run's jobs do. Raises ClusterError when the cluster cannot be reached or is lost."""
    pending: list[tuple[Path, str, str]] = []
    for f, cid in zip(files, ids):
        t0 = time.time()
        try:
            sha = file_sha256(f)
        except OSError as e:
            from .errors import AudioError

            yield f, cid, _raiser(AudioError(f"cannot read file: {e.strerror or e}", path=str(f)))
            continue
        if is_done(cid, sha):
            yield f, cid, (lambda sha=sha, dt=time.time() - t0: ("skipped", None, sha, dt))
        else:
            pending.append((f, cid, sha))
    if not pending:
        return  # nothing to transcribe: no cluster is started
    from distributed import KilledWorker, as_completed

    worker_opts = replace(options, progress=False, workers=1)
    n_local = local_workers(spec)
    cpu_threads = max(1, (os.cpu_count() or 1) // n_local) if n_local else None
    with open_client(spec, log) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        todo = list(reversed(pending))
        by_key: dict[str, tuple[Path, str, str]] = {}
        queue = as_completed()

        def submit_next() -> tuple | None:
            f, cid, sha = todo.pop()
            try:
                source: str | bytes = f.read_bytes() if send_audio else str(f.resolve())
            except OSError as e:  # the file went away since it was hashed
                from .errors import AudioError

                return f, cid, _raiser(AudioError(f"cannot read file: {e.strerror or e}", path=str(f)))
            fut = client.submit(transcribe_task, source, str(f), cid, worker_opts, settings_hash, cpu_threads,
                                key=f"callbridge-transcribe-{cid}-{sha[:12]}-{settings_hash[:8]}", retries=0)
            by_key[fut.key] = (f, cid, sha)
            queue.add(fut)
            return None

        def fill(k: int) -> Iterator[tuple]:
            while k > 0 and todo:
                bad = submit_next()
                if bad is not None:
                    yield bad
                else:
                    k -= 1

        yield from fill(IN_FLIGHT_PER_WORKER * n_workers)
        for fut in queue:
            f, cid, sha = by_key.pop(fut.key)
            try:
                res = fut.result()
            except KilledWorker as e:
                res = ("failed", "AudioError", f"the Dask worker transcribing it died each time it was tried ({e})",
                       "a recording that crashes the decoder or needs more memory than a worker has; check the "
                       "workers' logs and memory limit")
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"lost the Dask cluster: {e}", hint="the calls finished so far are saved; "
                                   "rerun to continue") from None
            finally:
                fut.release()
            yield from fill(1)
            if res[0] == "done":
                yield f, cid, (lambda res=res, sha=sha: ("done", res[1], sha, res[2]))
            else:
                yield f, cid, _raiser(_error(res[1], res[2], res[3]))

