#!/usr/bin/env python3
"""Generate the bundled sample calls in `data/sample/` from `scripts/sample_dialogues.json`.

Each dialogue is spoken turn by turn with Festival (`text2wave`); a second voice comes from a
pitch shift with ffmpeg (`asetrate` + `atempo`, available in every ffmpeg build). Agent and
customer go on separate channels of a stereo recording with pauses between turns, then into
Opus/OGG. Variants model real telephony:

* `echo`: each side leaks into the other channel 24 dB down and 30 ms late (line echo);
* `8k`: band-limited to 300-3400 Hz, resampled to 8 kHz and passed through G.711 mu-law.

Outputs (all small, committed):
  calls/<call_id>.ogg              clean 16 kHz stereo calls (the demo's input)
  variants/<call_id>.<kind>.ogg    echo and 8 kHz variants of some calls
  references/<id>.json             what was spoken, in the call format, with turn times as placed
                                   in the audio, `agent_channel`, `variant`, `base_call_id`
  metadata.csv                     CRM fields of the clean calls
  manifest.csv                     every audio file: file, call_id, base_call_id, variant, ...

Needs: festival, festvox-ru (voice_msu_ru_nsh_clunits), festvox-us-slt-hts, festvox-kallpc16k,
festvox-kdlpc16k, ffmpeg with libopus. Deterministic for a given toolchain (`--seed`).

    python3 scripts/make_sample.py [--out data/sample] [--only ru-windows-01]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIALOGUES = Path(__file__).with_name("sample_dialogues.json")
SR = 16000
LEAD_IN = 0.6        # silence before the first turn (s)
TAIL = 0.8           # silence after the last turn (s)
GAP = (0.35, 1.0)    # pause between turns (s), drawn per turn
ECHO_DB = -24.0
ECHO_DELAY = 0.030
NOISE_DB = -66.0     # faint line noise so that silence is not digital zero, as on a real line
TURN_RMS_DB = -20.0
# Low Opus bitrates may fold stereo to mono, which would merge the two speakers.
BITRATE = {"clean": "24k", "echo": "24k", "8k": "24k"}
METADATA_COLUMNS = ["call_id", "date", "agent", "lead_source", "campaign", "outcome", "amount", "city"]


_MARK = re.compile(r"\{([^{}|]*)\|([^{}]*)\}")


def written(text: str) -> str:
    """The reference form of a dialogue line: `{80|восемьдесят}` -> `80`."""
    return _MARK.sub(lambda m: m.group(1), text)


def spoken(text: str) -> str:
    """What Festival is asked to say: `{80|восемьдесят}` -> `восемьдесят`."""
    return _MARK.sub(lambda m: m.group(2), text)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, **kw)
    if r.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd[:4])}...\n{r.stderr.decode(errors='replace')[-2000:]}")
    return r


def check_tools() -> None:
    for tool in ("text2wave", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install festival ffmpeg festvox-ru festvox-us-slt-hts "
                     "festvox-kallpc16k festvox-kdlpc16k")


def speak(text: str, voice: dict, tmp: Path, stretch: float) -> np.ndarray:
    """Festival speech for `text` as float32 mono at SR, pitch-shifted when the voice asks for it."""
    txt = tmp / "turn.txt"
    wav = tmp / "turn.wav"
    txt.write_text(text + "\n", encoding="utf-8")
    run(["text2wave", "-eval", f"(voice_{voice['voice']})",
         "-eval", f"(Parameter.set 'Duration_Stretch {stretch})", str(txt), "-o", str(wav)])
    pitch = float(voice.get("pitch", 1.0))
    # asetrate raises pitch and tempo together; atempo puts the tempo back.
    filt = f"aresample={SR}"
    if abs(pitch - 1.0) > 1e-3:
        filt = f"aresample={SR},asetrate={SR * pitch:.0f},aresample={SR},atempo={1 / pitch:.5f}"
    r = run(["ffmpeg", "-v", "error", "-i", str(wav), "-af", filt, "-ac", "1", "-ar", str(SR),
             "-f", "f32le", "-"])
    x = np.frombuffer(r.stdout, dtype=np.float32).copy()
    return level(trim(x))


def trim(x: np.ndarray, frame: int = 160, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading/trailing silence so that reference times mark where speech really is."""
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / (rms.max() + 1e-12)) > floor_db)[0]
    if len(loud) == 0:
        return x
    return x[loud[0] * frame: (loud[-1] + 1) * frame]


def level(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x ** 2)) + 1e-9)
    y = x * (10 ** (TURN_RMS_DB / 20) / rms)
    peak = float(np.abs(y).max())
    return y * (0.95 / peak) if peak > 0.95 else y


def build_call(call: dict, voices: dict, tmp: Path, rng: random.Random, stretch: dict) -> tuple[np.ndarray, list]:
    """Stereo float32 (n, 2) with agent and customer on their channels, and the placed turns."""
    agent_ch = 0 if call["agent_channel"] == "left" else 1
    pieces = []
    t = LEAD_IN
    for speaker, text in call["turns"]:
        v = voices[call["voices"][speaker]]
        audio = speak(spoken(text), v, tmp, stretch[call["language"]])
        start = t
        end = start + len(audio) / SR
        pieces.append((speaker, text, start, end, audio))
        t = end + rng.uniform(*GAP)
    total = int((pieces[-1][3] + TAIL) * SR) + 1
    out = np.zeros((total, 2), dtype=np.float32)
    turns = []
    for speaker, text, start, end, audio in pieces:
        ch = agent_ch if speaker == "agent" else 1 - agent_ch
        i = int(round(start * SR))
        out[i: i + len(audio), ch] += audio
        turn = {"speaker": speaker, "text": written(text), "start": round(start, 3), "end": round(end, 3)}
        if spoken(text) != turn["text"]:
            turn["spoken"] = spoken(text)  # what the TTS said, for WER with spelled-out numbers
        turns.append(turn)
    noise = np.random.default_rng(rng.randrange(2 ** 31)).standard_normal(out.shape).astype(np.float32)
    out += noise * (10 ** (NOISE_DB / 20))
    return out, turns


def add_echo(x: np.ndarray) -> np.ndarray:
    d = int(round(ECHO_DELAY * SR))
    g = 10 ** (ECHO_DB / 20)
    y = x.copy()
    y[d:, 0] += g * x[:-d, 1]
    y[d:, 1] += g * x[:-d, 0]
    return y


def encode(x: np.ndarray, path: Path, variant: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = np.clip(x, -1.0, 1.0).astype(np.float32).tobytes()
    src = ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "2", "-i", "-"]
    opus = ["-c:a", "libopus", "-b:a", BITRATE[variant], "-application", "voip", "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:a", "+bitexact"]
    if variant == "8k":
        # Telephone line: band-limit, 8 kHz, mu-law companding; then Opus at 8 kHz for storage.
        with tempfile.TemporaryDirectory() as td:
            ulaw = Path(td) / "ulaw.wav"
            run(src + ["-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000", "-c:a", "pcm_mulaw", str(ulaw)],
                input=raw)
            run(["ffmpeg", "-v", "error", "-y", "-i", str(ulaw), "-ar", "8000"] + opus + [str(path)])
    else:
        run(src + opus + [str(path)], input=raw)


def write_reference(out: Path, ref_id: str, call: dict, turns: list, variant: str, audio_rel: str,
                    sample_rate: int) -> None:
    ref = {"call_id": ref_id, "language": call["language"], "metadata": call["metadata"],
           "agent_channel": call["agent_channel"], "variant": variant, "base_call_id": call["call_id"],
           "audio": audio_rel, "sample_rate": sample_rate, "turns": turns}
    p = out / "references" / f"{ref_id}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(ref, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "data" / "sample"))
    ap.add_argument("--only", action="append", help="generate only this call id (repeatable)")
    ap.add_argument("--seed", type=int, default=7)
    # The Russian clunits voice ignores Duration_Stretch; the diphone/HTS English voices honour it.
    ap.add_argument("--ru-stretch", type=float, default=1.0, help="Festival Duration_Stretch for Russian")
    ap.add_argument("--en-stretch", type=float, default=1.05, help="Festival Duration_Stretch for English")
    args = ap.parse_args(argv)
    check_tools()
    spec = json.loads(DIALOGUES.read_text(encoding="utf-8"))
    out = Path(args.out)
    stretch = {"ru": args.ru_stretch, "en": args.en_stretch}
    variants: dict[str, list[str]] = {}
    for v in spec["variants"]:
        variants.setdefault(v["base"], []).append(v["kind"])
    manifest = []
    with tempfile.TemporaryDirectory(prefix="callbridge-sample-") as td:
        tmp = Path(td)
        for n, call in enumerate(spec["calls"]):
            cid = call["call_id"]
            if args.only and cid not in args.only:
                continue
            rng = random.Random(f"{args.seed}:{cid}")
            audio, turns = build_call(call, spec["voices"], tmp, rng, stretch)
            dur = len(audio) / SR
            print(f"{cid}: {dur:.1f} s, {len(turns)} turns", flush=True)
            if not 60 <= dur <= 120:
                print(f"  warning: {cid} lasts {dur:.1f} s, outside 60-120 s; edit its dialogue", file=sys.stderr)
            jobs = [("clean", cid, f"calls/{cid}.ogg", audio, SR)]
            for kind in variants.get(cid, []):
                vid = f"{cid}.{kind}"
                x = add_echo(audio) if kind == "echo" else audio
                jobs.append((kind, vid, f"variants/{vid}.ogg", x, 8000 if kind == "8k" else SR))
            for kind, ref_id, rel, x, sr in jobs:
                encode(x, out / rel, kind)
                write_reference(out, ref_id, call, turns, kind, rel, sr)
                manifest.append({"file": rel, "call_id": ref_id, "base_call_id": cid, "variant": kind,
                                 "language": call["language"], "agent_channel": call["agent_channel"],
                                 "sample_rate": sr, "duration": round(dur, 3)})
    if not args.only:
        with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(manifest[0]))
            w.writeheader()
            w.writerows(manifest)
        with open(out / "metadata.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=METADATA_COLUMNS)
            w.writeheader()
            for call in spec["calls"]:
                w.writerow({"call_id": call["call_id"], **call["metadata"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
