"""Hostile input (issue 14): property-based tests of every reader of user files.

Arbitrary bytes, arbitrary text and near-valid documents of every format (call JSON, Amazon
Transcribe and Call Analytics, Whisper, WhisperX, whisper.cpp, Yandex SpeechKit v2/v3, SRT,
WebVTT, Otter/Teams/Zoom text, dialogue text, DOCX; CRM CSV/XLSX; sales scripts in Markdown, text
and DOCX) must either be read or be refused with callbridge's own error (`CallbridgeError`, with a
reason), within a time bound per input, writing nothing outside the store.

Near-valid documents are built from the bytes hypothesis generates (`Draw`): one cheap draw per
example, so thousands of examples fit in CI's time, and hypothesis still mutates and shrinks the
bytes that decide every choice of structure.

Budget: `CALLBRIDGE_FUZZ_SCALE` multiplies every example count (default 1: at least 2,000 inputs
per reader, ~30-60 s on 2 cores); `CALLBRIDGE_FUZZ_SEED` repeats a run (the seed is printed in
pytest's header, see conftest.py). `scripts/fuzz.sh [SCALE]` is the long run.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from nlp.errors import CallbridgeError
from nlp.importers import _calls_from_file, import_paths
from nlp.metadata import read_metadata
from nlp.script import read_script
from nlp.store import Store
from nlp.types import SPEAKERS

SCALE = float(os.environ.get("CALLBRIDGE_FUZZ_SCALE", "1") or 1)
SEED = int(os.environ.get("CALLBRIDGE_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))
# Per input. Generous because the development machine's 2 cores are shared (load ~10); a parser
# that backtracks catastrophically takes minutes on the long inputs below, not seconds.
TIME_LIMIT_S = float(os.environ.get("CALLBRIDGE_FUZZ_TIME_LIMIT", "5"))
RULES = Path(__file__).resolve().parent.parent / "nlp" / "rules"


def n(base: int) -> int:
    return max(1, int(base * SCALE))


def fuzz(examples: int):
    return settings(max_examples=n(examples), deadline=None, database=None, derandomize=False, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def _seeded(fn):
    return seed(SEED)(fn)


# ---- what counts as a violation ----------------------------------------------------------------
class Sandbox:
    """Where a reader may write (nowhere, or the store), watched with a Python audit hook: any file
    opened for writing, created, renamed, removed or any database opened outside is a violation."""

    active: "Sandbox | None" = None
    hooked = False

    def __init__(self, allowed: list[Path]):
        self.allowed = [str(p.resolve()) for p in allowed]
        self.violations: list[str] = []

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        box = cls.active
        if box is None:
            return
        path = None
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = (args[1] or ""), (args[2] or 0)
            writes = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            path = args[0] if writes else None
        elif event in ("os.rename", "os.replace", "os.remove", "os.unlink", "os.rmdir", "os.mkdir", "os.truncate",
                       "os.symlink", "os.link", "shutil.rmtree", "shutil.move", "shutil.copyfile", "sqlite3.connect"):
            path = args[0] if args else None
            if event in ("os.rename", "os.replace", "os.symlink", "os.link", "shutil.move") and len(args) > 1:
                box._check(event, args[1])
        if path is not None:
            box._check(event, path)

    def _check(self, event: str, path) -> None:
        if isinstance(path, int):
            return  # an already open descriptor
        p = os.fsdecode(path) if not isinstance(path, str) else path
        if p in (":memory:", ""):
            return
        full = os.path.realpath(os.path.abspath(p))
        if not any(full == a or full.startswith(a + os.sep) for a in self.allowed):
            self.violations.append(f"{event} {full}")

    def __enter__(self) -> "Sandbox":
        if not Sandbox.hooked:
            sys.addaudithook(Sandbox._hook)
            Sandbox.hooked = True
        Sandbox.active = self
        return self

    def __exit__(self, *exc) -> None:
        Sandbox.active = None


def _workdir() -> Path:
    # tmpfs when there is one: thousands of small files cost nothing there
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="callbridge-fuzz-", dir=base))


@pytest.fixture(scope="module")
def work():
    d = _workdir()
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)


def check_reader(read, path: Path, data: bytes, allowed: list[Path] = ()):
    """Write `data` to `path`, read it: the result, or None when refused with a CallbridgeError.
    Anything else raised, a slow read, or a write outside `allowed` fails the test."""
    path.write_bytes(data)
    t = time.perf_counter()
    with Sandbox(list(allowed)) as box:
        try:
            out = read(path)
        except CallbridgeError as e:
            assert str(e).strip() and e.message.strip(), f"an error without a reason: {e!r}"
            out = None
    dt = time.perf_counter() - t
    assert dt < TIME_LIMIT_S, f"{read.__name__} took {dt:.1f} s on {len(data)} bytes"
    assert not box.violations, f"{read.__name__} wrote outside the store: {box.violations[:3]}"
    return out


def check_calls(res) -> None:
    """What a reader that succeeded must hand on: calls with agent/customer turns of text and
    finite times."""
    if res is None:
        return
    calls, fmt = res
    assert calls and isinstance(fmt, str)
    for c in calls:
        assert isinstance(c.call_id, str) and c.call_id.strip()
        for t in c.turns:
            assert t.speaker in SPEAKERS and isinstance(t.text, str)
            times = [t.start, t.end] + [x for w in t.words or [] for x in (w.start, w.end)]
            assert all(x is None or (isinstance(x, float) and math.isfinite(x)) for x in times), (fmt, t)
        json.dumps(c.to_dict(), ensure_ascii=False)  # the store writes it so


# ---- building near-valid documents from bytes ----------------------------------------------------
WORDS = ("здравствуйте окна меня зовут Марина компания Светлый дом сколько стоит дорого подумаю доставка "
         "hello windows my name is John BrightHome price too expensive call back tomorrow delivery "
         "Менеджер Клиент Agent Customer Speaker SPEAKER_00 spk_0 ch_1 Иван Петров").split()
ODD = ["", " ", "\t", "\r", "\n", "\r\n", "\x00", "\ufeff", "\u200b", "\u202e", "\u0301", "😀", "\x1b[2J", "\\", "\"",
       "'", ":", "：", "[", "]", "(", ")", "<", ">", "{", "}", "-->", "--", "—", "#", "##", "*", "-", "1.", "&amp;",
       "<v", "</v>", "<b>", "WEBVTT", "NOTE", "10:30", "00:00:01,000", "99:99", "1:2:3:4", "-1", "1e309", "NaN",
       "=cmd|' /C calc'!A0", "../../etc/passwd", "C:\\Windows", "%s%n", "${x}", "\u0000\u0000", "\udcff"]


class Draw:
    """Choices read off a byte string (hypothesis' draw): the structure of a generated document is
    a function of the bytes, so hypothesis' mutation and shrinking work on it."""

    def __init__(self, data: bytes):
        self.d, self.i = data, 0
        self.rest = random.Random(data)  # past the end: choices still vary, and still follow the bytes

    def byte(self) -> int:
        if self.i >= len(self.d):
            return self.rest.randrange(256)
        b = self.d[self.i]
        self.i += 1
        return b

    def num(self, k: int) -> int:
        if k <= 1:
            return 0
        v = self.byte() if k <= 256 else self.byte() << 8 | self.byte()
        return v % k

    def chance(self, one_in: int) -> bool:
        return self.num(one_in) == 0

    def pick(self, seq):
        return seq[self.num(len(seq))]

    def text(self, max_words: int = 8) -> str:
        out = []
        for _ in range(self.num(max_words + 1)):
            r = self.num(10)
            if r < 6:
                out.append(self.pick(WORDS))
            elif r < 8:
                out.append(self.pick(ODD))
            elif r < 9:
                out.append(str(self.num(100000) - 1000))
            else:
                out.append(chr(self.num(0x3000)) + chr(self.num(0x500)))
        return self.pick([" ", " ", "", ", ", "\n"]).join(out)

    def seconds(self):
        r = self.num(10)
        v = self.num(100000) / 100
        return [v, int(v), str(v), f"{v}s", self.pick(ODD), None, -v, {"seconds": int(v), "nanos": self.num(999)},
                self.pick([10 ** 400, float("inf"), "1e400", {"seconds": float("inf")}]), {"seconds": "x"}][r]

    def json_value(self, depth: int = 0):
        r = self.num(12)
        if depth > 3 or r < 6:
            return self.pick([None, True, False, self.num(1 << 16) - 100, self.num(1000) / 7, float("nan"),
                              float("inf"), self.text(3), self.seconds(), "agent", "customer", "AGENT", "spk_0",
                              "ch_0", "SPEAKER_01", "Менеджер", 10 ** 30, -0.0])
        if r < 9:
            return {self.pick(KEYS) if self.chance(2) else self.text(1): self.json_value(depth + 1)
                    for _ in range(self.num(4))}
        return [self.json_value(depth + 1) for _ in range(self.num(4))]

    def mutate(self, v, depth: int = 0):
        """`v` with some of its parts replaced, dropped or retyped."""
        if self.chance(12):
            return self.json_value(depth)
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if self.chance(10):
                    continue
                out[k] = self.mutate(x, depth + 1)
            if self.chance(8):
                out[self.pick(KEYS)] = self.json_value(depth + 1)
            return out
        if isinstance(v, list):
            out = [self.mutate(x, depth + 1) for x in v if not self.chance(10)]
            if out and self.chance(8):
                out.insert(self.num(len(out) + 1), self.json_value(depth + 1))
            return out
        return v

    def edit_text(self, s: str) -> str:
        """A few random insertions, deletions and line joins in `s`."""
        for _ in range(self.num(4)):
            i = self.num(len(s) + 1) if len(s) < 65536 else self.num(65536)
            op = self.num(3)
            if op == 0:
                s = s[:i] + self.pick(ODD) + s[i:]
            elif op == 1:
                s = s[:i] + s[i + 1 + self.num(5):]
            else:
                s = s[:i] + s[i:].replace("\n", " ", 1)
        return s

    def encode(self, s: str) -> bytes:
        enc = self.pick(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1251", "latin-1"])
        return s.encode(enc, errors="replace" if enc in ("cp1251", "latin-1") else "surrogatepass")


KEYS = ("turns speaker text start end call_id language metadata source words word probability results items "
        "channel_labels speaker_labels audio_segments transcripts transcript segments word_segments transcription "
        "timestamps offsets from to chunks response channelTag alternatives final finalRefinement partial "
        "normalizedText startTime endTime startTimeMs endTimeMs Transcript ParticipantRole Content BeginOffsetMillis "
        "EndOffsetMillis start_time end_time content type speaker_label channel_label channels speakers jobName "
        "status done createdAt id confidence").split()


def _words(d: Draw, labels) -> list:
    return [{"start_time": d.seconds(), "end_time": d.seconds(), "type": d.pick(["pronunciation", "punctuation", "x"]),
             "alternatives": [{"content": d.text(1), "confidence": "0.9"}], "speaker_label": d.pick(labels),
             "channel_label": d.pick(labels)} for _ in range(d.num(8))]


def call_json(d: Draw):
    def call():
        return {"call_id": d.pick([d.text(2), d.num(99999), "x", ""]),
                "language": d.pick(["ru", "en", None, "", 5]),
                "metadata": {d.pick(["agent", "outcome", "date", d.text(1)]): d.json_value(2) for _ in range(d.num(3))},
                "turns": [{"speaker": d.pick(["agent", "customer", "Менеджер", "Client", "operator", d.text(1), None]),
                           "text": d.text(), "start": d.seconds(), "end": d.seconds(),
                           **({"words": [{"word": d.text(1), "start": d.seconds(), "end": d.seconds(),
                                          "probability": d.json_value(3)}]} if d.chance(4) else {})}
                          for _ in range(d.num(6))],
                **({"source": d.json_value(2)} if d.chance(4) else {})}
    r = d.num(3)
    return call() if r == 0 else [call() for _ in range(d.num(4))] if r == 1 else "\n".join(
        json.dumps(call(), ensure_ascii=False) for _ in range(d.num(4)))


def amazon(d: Draw):
    labels = ["spk_0", "spk_1", "ch_0", "ch_1", d.text(1)]
    items = _words(d, labels)
    return {"jobName": d.text(1), "status": d.pick(["COMPLETED", "FAILED", "IN_PROGRESS"]),
            "results": {"transcripts": [{"transcript": d.text()}], "items": items,
                        "speaker_labels": {"speakers": d.num(4), "segments": [
                            {"speaker_label": d.pick(labels), "start_time": d.seconds(), "end_time": d.seconds(),
                             "items": _words(d, labels)} for _ in range(d.num(4))]},
                        "channel_labels": {"number_of_channels": 2, "channels": [
                            {"channel_label": d.pick(labels), "items": _words(d, labels)} for _ in range(d.num(3))]},
                        "audio_segments": [{"id": i, "transcript": d.text(), "start_time": d.seconds(),
                                            "end_time": d.seconds(), "speaker_label": d.pick(labels + [None]),
                                            "channel_label": d.pick(labels + [None]), "items": [0, 1]}
                                           for i in range(d.num(5))]}}


def call_analytics(d: Draw):
    return {"JobStatus": "COMPLETED", "Transcript": [
        {"ParticipantRole": d.pick(["AGENT", "CUSTOMER", "agent", None, 3]), "Content": d.text(),
         "BeginOffsetMillis": d.pick([d.num(100000), d.seconds()]), "EndOffsetMillis": d.num(100000)}
        for _ in range(d.num(6))]}


def whisper(d: Draw):
    spk = ["SPEAKER_00", "SPEAKER_01", None, d.text(1)]
    segs = [{"id": i, "start": d.seconds(), "end": d.seconds(),
             "text": d.pick([d.text(), f"{d.pick(['SPEAKER_00', 'Agent', 'Клиент'])}: {d.text()}"]),
             **({"speaker": d.pick(spk)} if d.chance(2) else {}),
             "words": [{"word": d.text(1), "start": d.seconds(), "end": d.seconds(), "score": 0.5,
                        **({"speaker": d.pick(spk)} if d.chance(2) else {})} for _ in range(d.num(5))]}
            for i in range(d.num(6))]
    doc = {"text": d.text(), "language": d.pick(["ru", "en"]), "segments": segs}
    if d.chance(3):
        doc["word_segments"] = [w for s in segs for w in s["words"]]
    return doc


def whisper_cpp(d: Draw):
    return {"result": {"language": "ru"}, "transcription": [
        {"timestamps": {"from": d.pick(["00:00:01,000", d.text(1)]), "to": "00:00:02,500"},
         "offsets": {"from": d.num(10000), "to": d.num(10000)},
         "text": d.pick([d.text(), f"{d.pick(['Agent', 'Customer', 'SPEAKER_01'])}: {d.text()}"])}
        for _ in range(d.num(6))]}


def yandex_v2(d: Draw):
    chunks = [{"alternatives": [{"text": d.text(), "confidence": 1,
                                 "words": [{"startTime": d.seconds(), "endTime": d.seconds(), "word": d.text(1)}
                                           for _ in range(d.num(4))]}],
               "channelTag": d.pick(["1", "2", 1, None, "x"])} for _ in range(d.num(6))]
    return d.pick([{"response": {"chunks": chunks}}, {"chunks": chunks},
                   {"done": d.pick([True, False]), "createdAt": "2026-01-01T00:00:00Z", "id": "op"}])


def yandex_v3(d: Draw):
    def alt():
        return {"text": d.text(), "startTimeMs": d.pick([d.num(99999), str(d.num(99999)), d.seconds()]),
                "endTimeMs": d.num(99999), "words": [{"text": d.text(1), "startTimeMs": d.num(9999)}]}
    msgs = []
    for _ in range(d.num(6)):
        kind = d.pick(["final", "finalRefinement", "partial", "eouUpdate"])
        body = ({"normalizedText": {"alternatives": [alt()]}} if kind == "finalRefinement"
                else {"alternatives": [alt() for _ in range(d.num(3))], "channelTag": d.pick(["0", "1", 0])})
        msgs.append({"result": {kind: body, "channelTag": d.pick(["0", "1", None])}} if d.chance(2)
                    else {kind: body, "channelTag": d.pick(["0", "1"])})
    return msgs if d.chance(2) else "\n".join(json.dumps(m, ensure_ascii=False) for m in msgs)


JSON_FORMATS = [call_json, amazon, call_analytics, whisper, whisper_cpp, yandex_v2, yandex_v3]


def _label(d: Draw) -> str:
    return d.pick(["Менеджер", "Клиент", "Agent", "Customer", "Марина Кузнецова", "Олег", "Speaker 1", "SPEAKER_00",
                   "Оператор Ирина", "Примечание", d.text(1), d.text(3)])


def _ts(d: Draw) -> str:
    return d.pick([f"{d.num(60)}:{d.num(60):02d}", f"{d.num(3):02d}:{d.num(60):02d}:{d.num(70):02d}",
                   f"{d.num(24)}:{d.num(60):02d}:{d.num(60):02d}", f"00:{d.num(60):02d}.{d.num(999):03d}",
                   d.pick(ODD)])


def dialogue(d: Draw) -> str:
    lines = []
    for _ in range(d.num(12)):
        r = d.num(8)
        if r == 0:
            lines.append(d.text())
        elif r == 1:
            lines.append(_ts(d))
        else:
            pre = d.pick(["", f"[{_ts(d)}] ", f"{_ts(d)} ", "- ", "• "])
            lines.append(f"{pre}{_label(d)}{d.pick(['', f' ({_ts(d)})', f' {_ts(d)}'])}{d.pick([':', '：', ' -', ''])} "
                         f"{d.text()}")
    return "\n".join(lines)


def blocks(d: Draw) -> str:
    out = [d.text(3)] if d.chance(3) else []
    zoom = d.chance(2)
    for _ in range(d.num(8)):
        head = f"[{_label(d)}] {_ts(d)}" if zoom else f"{_label(d)}  {_ts(d)}"
        out.append(head + "\n" + "\n".join(d.text() for _ in range(d.num(3))))
    return d.pick(["\n\n", "\n"]).join(out)


def subtitles(d: Draw) -> str:
    vtt = d.chance(2)
    out = ["WEBVTT" + d.pick(["", "\nKind: captions\nLanguage: ru", " - title"])] if vtt else []
    for i in range(d.num(8)):
        if vtt and d.chance(8):
            out.append(d.pick(["NOTE " + d.text(), "STYLE\n::cue { color: red }", "REGION\nid:x"]))
            continue
        sep = "." if vtt else ","
        timing = f"{_ts(d)}{sep}{d.num(999):03d} --> {_ts(d)}{sep}{d.num(999):03d}" if d.chance(3) else \
            f"00:00:{d.num(60):02d}{sep}000 --> 00:00:{d.num(60):02d}{sep}500"
        body = d.pick([f"<v {_label(d)}>{d.text()}", f"{_label(d)}: {d.text()}", f"[{_label(d)}] {d.text()}",
                       f"({_label(d)})\n{d.text()}", d.text(), f"<v.loud {_label(d)}><b>{d.text()}</b></v>",
                       f"- {d.text()}\n- {d.text()}", "[музыка]", "(laughs)"])
        out.append(("" if vtt else f"{i + 1}\n") + timing + "\n" + body)
    return "\n\n".join(out)


TEXT_FORMATS = [dialogue, blocks, subtitles]


def _json_doc(d: Draw) -> tuple[str, str]:
    doc = d.pick(JSON_FORMATS)(d)
    if not isinstance(doc, str):
        doc = d.mutate(doc)
        doc = json.dumps(doc, ensure_ascii=d.chance(2), indent=d.pick([None, 1]))
    return d.edit_text(doc) if d.chance(3) else doc, d.pick([".json", ".json", ".jsonl", ".txt"])


# ---- importers ---------------------------------------------------------------------------------
SUFFIXES = [".json", ".jsonl", ".txt", ".srt", ".vtt", ".docx"]


@_seeded
@fuzz(1000)
@given(data=st.binary(max_size=3000) | st.text(max_size=1500).map(lambda t: t.encode("utf-8", "surrogatepass")),
       suffix=st.sampled_from(SUFFIXES))
def test_importer_any_bytes(work, data, suffix):
    check_calls(check_reader(_calls_from_file, work / f"in{suffix}", data))


@_seeded
@fuzz(800)
@given(raw=st.binary(min_size=1, max_size=600))
def test_importer_json_formats(work, raw):
    d = Draw(raw)
    text, suffix = _json_doc(d)
    check_calls(check_reader(_calls_from_file, work / f"in{suffix}", d.encode(text)))


@_seeded
@fuzz(800)
@given(raw=st.binary(min_size=1, max_size=600))
def test_importer_text_formats(work, raw):
    d = Draw(raw)
    text = d.edit_text(d.pick(TEXT_FORMATS)(d))
    check_calls(check_reader(_calls_from_file, work / f"in{d.pick(['.txt', '.srt', '.vtt', '.txt'])}", d.encode(text)))


def _docx_bytes(paragraphs: list[tuple[str, str]], table: list[list[str]] | None = None) -> bytes:
    import docx

    doc = docx.Document()
    for style, text in paragraphs:
        clean = "".join(ch for ch in text if ch in "\t\n\r" or (ord(ch) >= 32 and not 0xD800 <= ord(ch) < 0xE000
                                                                  and ch not in "\ufffe\uffff"))
        try:
            doc.add_paragraph(clean, style=style)
        except (KeyError, ValueError):
            doc.add_paragraph(clean)
    if table:
        t = doc.add_table(rows=len(table), cols=2)
        for r, row in enumerate(table):
            for c in range(2):
                t.cell(r, c).text = "".join(ch for ch in row[c] if ch.isprintable() or ch == "\n")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


STYLES = ["Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "List Number", "List Bullet", "Quote"]


@_seeded
@fuzz(40)
@given(raw=st.binary(min_size=1, max_size=400))
def test_importer_docx(work, raw):
    d = Draw(raw)
    lines = (d.pick(TEXT_FORMATS[:2])(d)).split("\n")
    data = _docx_bytes([(d.pick(STYLES), ln) for ln in lines])
    if d.chance(4):  # a damaged download
        i = d.num(len(data))
        data = data[:i] + bytes([d.byte()]) + data[i + 1:] if d.chance(2) else data[:i]
    check_calls(check_reader(_calls_from_file, work / "in.docx", data))


@_seeded
@fuzz(120)
@given(raw=st.binary(min_size=1, max_size=400),
       name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1,
                    max_size=40))
def test_import_writes_only_into_the_store(work, raw, name):
    """Through `import_paths` into a store: hostile call ids ("../../x", 300 characters, control
    characters) and file names land in the store's folder or fail alone, and the store stays sound."""
    d = Draw(raw)
    case = Path(tempfile.mkdtemp(dir=work))
    inputs = case / "in"
    inputs.mkdir()
    docs = []
    for k in range(1 + d.num(3)):
        if d.chance(2):
            doc = call_json(d)
            if isinstance(doc, dict):
                doc["call_id"] = d.pick([name, "../" * d.num(5) + name, name * 20, f"{name}\n{k}", f"/tmp/{name}",
                                         "..", ".", "~", "", None, k])
            text = doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False)
            suffix = ".json"
        else:
            text, suffix = d.pick(TEXT_FORMATS)(d), ".txt"
        fname = (name if k == 0 else f"{name}-{k}").lstrip(".") or f"f{k}"
        if fname in (".", ".."):
            fname = f"f{k}"
        try:
            path = inputs / (fname[:100] + suffix)
            path.write_bytes(d.encode(text))
        except OSError:
            path = inputs / f"f{k}{suffix}"
            path.write_bytes(d.encode(text))
        docs.append(path)
    store_dir = case / "store"
    with Store(store_dir) as s:
        t = time.perf_counter()
        with Sandbox([store_dir]) as box:
            try:
                summary = import_paths([inputs], s)
            except CallbridgeError as e:
                pytest.fail(f"one bad file must fail alone, not the batch: {e}")
        assert time.perf_counter() - t < TIME_LIMIT_S * len(docs)
        assert not box.violations, box.violations[:3]
        assert len(summary.imported) + len(summary.skipped) + len(summary.failed) >= len(docs)
        assert all(r.reason for r in summary.failed)
        assert s.integrity_check() == []
        stored = {p.name for p in (store_dir / "transcripts").iterdir()}
        assert len(stored) == len(s.call_ids())
        assert all(n.endswith(".json") for n in stored), stored  # no temp file left behind


# ---- CRM metadata ------------------------------------------------------------------------------
def _meta_rules():
    r = json.loads((RULES / "metadata.json").read_text(encoding="utf-8"))
    heads = list(r["key_columns"]) + [a for v in r["columns"].values() for a in v]
    outcomes = [w for v in r["outcomes"].values() for w in v]
    return heads + ["Бюджет, руб.", "Сумма (₽)", "Amount (USD)", "Этап сделки", "Дата создания", "Ответственный",
                    "Источник", "UTM_CAMPAIGN", ""], outcomes + ["C3:WON", "C3:LOSE", "142", "143", "КП отправлено",
                                                                  "Успешно реализовано", "Закрыто и не реализовано"]


HEADS, OUTCOMES = _meta_rules()


def _cell(d: Draw) -> str:
    r = d.num(12)
    if r < 3:
        return d.pick(["14.09.2026", "2026-09-14", "09/14/2026", "31.02.2026", "2026-09-14T10:30:00+03:00",
                       "45914", "45914.5", "20260914", "13/13/2026", "yesterday", "0.0.0", "99999999"])
    if r < 5:
        return d.pick(["45000", "1 234 567,89", "1,234.50", "1.234.567", "$2,400", "12 000 ₽", "-5", "1e9", "abc",
                       "1,2,3", "NaN", "∞", "٣٤٥"])
    if r < 7:
        return d.pick(OUTCOMES)
    if r < 9:
        return d.pick(["call-001", "18345601", "18345601_2.mp3", "ru-kitchen-007.ogg", "deal-42", " ", ""])
    return d.text(3)


def _quote(d: Draw, cell: str, sep: str) -> str:
    if d.chance(4) or sep in cell or "\n" in cell or '"' in cell:
        return '"' + cell.replace('"', '""' if d.chance(5) else '"') + d.pick(['"', '"', ''])
    return cell


@_seeded
@fuzz(800)
@given(data=st.binary(max_size=3000) | st.text(max_size=1500).map(lambda t: t.encode("utf-8", "surrogatepass")),
       suffix=st.sampled_from([".csv", ".csv", ".xlsx", ".txt", ".tsv"]))
def test_metadata_any_bytes(work, data, suffix):
    check_reader(read_metadata, work / f"crm{suffix}", data)


@_seeded
@fuzz(1200)
@given(raw=st.binary(min_size=1, max_size=800))
def test_metadata_tables(work, raw):
    d = Draw(raw)
    sep = d.pick([",", ";", "\t", "|", ", "])
    ncol = 1 + d.num(7)
    rows = [[d.text(2) if d.chance(4) else d.pick(HEADS) for _ in range(ncol)]]
    for _ in range(d.num(12)):
        rows.append([_cell(d) for _ in range(max(0, ncol + d.pick([0, 0, 0, -1, 1, 3])))])
    text = d.pick(["\n", "\r\n", "\r"]).join(sep.join(_quote(d, c, sep) for c in r) for r in rows)
    table = check_reader(read_metadata, work / "crm.csv", d.encode(d.edit_text(text) if d.chance(3) else text))
    if table is not None:
        assert all(isinstance(w, str) and w for w in table.warnings)
        for key, fields in table.items():
            assert key.strip() and isinstance(fields, dict)
            if "outcome" in fields:
                assert fields["outcome"] in ("won", "lost", "pending")
            if "amount" in fields:
                assert isinstance(fields["amount"], (int, float)) and math.isfinite(fields["amount"])


@_seeded
@fuzz(40)
@given(raw=st.binary(min_size=1, max_size=400))
def test_metadata_xlsx(work, raw):
    from datetime import datetime

    from openpyxl import Workbook

    d = Draw(raw)
    wb = Workbook()
    ws = wb.active
    ncol = 1 + d.num(5)
    ws.append([d.pick(HEADS) for _ in range(ncol)])
    for _ in range(d.num(8)):
        row = []
        for _ in range(ncol):
            r = d.num(6)
            row.append(_cell(d) if r < 3 else d.pick([None, d.num(100000), d.num(1000) / 3, float("nan"), float("inf"),
                                                      datetime(2026, 1 + d.num(12), 1 + d.num(28), d.num(24))]))
        clean = [("".join(ch for ch in c if ch.isprintable()) if isinstance(c, str) else c) for c in row]
        ws.append(clean)
    buf = io.BytesIO()
    wb.save(buf)
    check_reader(read_metadata, work / "crm.xlsx", buf.getvalue())


# ---- sales scripts -----------------------------------------------------------------------------
def script_text(d: Draw) -> str:
    lines = []
    if d.chance(2):
        lines.append(d.pick(["# ", "", "Скрипт: "]) + d.text(3))
    for k in range(d.num(10)):
        r = d.num(6)
        if r == 0:
            lines.append(d.pick(["## ", "### ", "#### ", "# "]) + d.pick([f"{d.text(1)}: ", "", "greeting: "]) + d.text(3))
        elif r == 1:
            lines.append(d.pick(["", "Step ", "Шаг ", "Этап ", " "]) + str(d.pick([k + 1, k, 1, d.num(200)]))
                         + d.pick([". ", ") ", ": ", ".", " "]) + d.text(3))
        elif r < 5:
            lines.append(d.pick(["- ", "* ", "• ", "1) ", "", "  ", "> "]) + d.text())
        else:
            lines.append(d.pick(["", "```", "---", "| a | b |", "<!-- x -->", d.pick(ODD)]))
    return "\n".join(lines)


@_seeded
@fuzz(800)
@given(data=st.binary(max_size=3000) | st.text(max_size=1500).map(lambda t: t.encode("utf-8", "surrogatepass")),
       suffix=st.sampled_from([".md", ".txt", ".docx", ".markdown", "", ".pdf"]))
def test_script_any_bytes(work, data, suffix):
    check_script(check_reader(read_script, work / f"script{suffix}", data))


@_seeded
@fuzz(1200)
@given(raw=st.binary(min_size=1, max_size=600))
def test_script_documents(work, raw):
    d = Draw(raw)
    text = script_text(d)
    check_script(check_reader(read_script, work / f"script{d.pick(['.md', '.txt'])}",
                              d.encode(d.edit_text(text) if d.chance(3) else text)))


@_seeded
@fuzz(40)
@given(raw=st.binary(min_size=1, max_size=400))
def test_script_docx(work, raw):
    d = Draw(raw)
    paras = [(d.pick(STYLES), d.text(4)) for _ in range(d.num(10))]
    table = [[d.pick(["1. Приветствие", "Greeting", d.text(2), ""]), d.text()] for _ in range(d.num(4))] or None
    check_script(check_reader(read_script, work / "script.docx", _docx_bytes(paras, table)))


def check_script(s) -> None:
    if s is None:
        return
    assert s.steps
    ids = [st_.step_id for st_ in s.steps]
    assert len(ids) == len(set(ids)) and all(i.strip() for i in ids)
    assert all(isinstance(e, str) for st_ in s.steps for e in st_.examples)


# ---- long inputs: time grows with the size, never explodes -----------------------------------------
UNITS = ["a", " ", ":", "[", "(", "{", "[{", "<v ", "0:", "1", "-->", "\"", "\"a\",", "a;", ",", "\\", "<", "<b>",
         "&amp;", "Менеджер ", "Клиент: ", "00:00:01,000 --> ", "a\n", "A: ", "[A] ", "1. ", "## ", "0:00 ",
         "Марина Кузнецова  0:06\n", "SPEAKER_01: ", "aa:bb ", "\t", "1:1:1", "12:34:56.789 ", "Agent: 10:30 ",
         "[1e999,", "{\"a\":", "- ", "#", "\r"]


@pytest.mark.parametrize("unit", UNITS)
def test_long_repetitive_inputs(work, unit):
    """200 kB of one repeated piece (the inputs that make backtracking parsers explode)."""
    data = (unit * (200_000 // len(unit))).encode("utf-8")
    for read, suffix in ((_calls_from_file, ".txt"), (_calls_from_file, ".vtt"), (_calls_from_file, ".json"),
                         (read_metadata, ".csv"), (read_script, ".md")):
        check_reader(read, work / f"long{suffix}", data)

