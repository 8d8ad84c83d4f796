#!/usr/bin/env python3
"""Rebuild the recordings of `tests/data/audio/` (the field-fault kinds with our own inputs).

Synthetic speech of invented dialogues (every name, number and company is made up), spoken with
Festival (`text2wave`: kal_diphone for English, msu_ru_nsh_clunits for Russian); the second voice
of a dialogue is the same voice pitched up with ffmpeg (`asetrate` + `atempo`). Outputs (small,
committed; the tests read them and need none of these tools):

  codecs/speech.*           one English utterance with a pause, in telephony and consumer codecs:
                            GSM 6.10 WAV, mu-law WAV, A-law WAV, G.722, Opus in OGG and WebM, MP3
                            with ID3 tags and a cover, M4A with a cover image, AMR-NB and 3GP with
                            DTX (comfort-noise) frames
  same-mix.m4a              an English call whose two channels both carry the whole conversation:
                            right = left x 0.6 (-4.4 dB), 8 ms late, AAC
  leak.ogg                  an English 8 kHz stereo call where the customer leaks into the agent's
                            channel 3 dB down, 40 ms late, through a phone-speaker band-pass and a
                            short room reverberation (speakerphone), Opus
  wordtiming.ogg            stereo: the agent speaks, the customer answers, the agent is silent for
                            9 s and starts again with a short word ("So, ...")
  holding.flac              "Hello, thank you for holding ..." alone (16 kHz mono); the tests put it
                            after 35 s of silence or hold music at 8 kHz themselves
  neutral.ogg               a stereo exchange with no sign of who sells: roles must be unknown
  librivox-stereo44.m4a     a LibriVox clip of one reader (public domain, from `tests/data/librivox`)
                            as a 44.1 kHz stereo room recording: two spaced microphones (1.0 and
                            1.9 ms, gains 1.0 / 0.8), early reflections and a 0.45 s reverberant tail
  manifest.json             what each file holds: text, turn times, speakers, what is right

Needs: festival, festvox-kallpc16k, festvox-ru, ffmpeg (libmp3lame, libopus, libgsm), and PyAV with
the OpenCORE AMR-NB encoder (the wheels have it) for the AMR files. Deterministic for a toolchain.

    python3 scripts/make_test_audio.py [--out tests/data/audio]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


def run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd[:6])} ...\n{r.stderr.decode(errors='replace')[-1500:]}")


def read(path: Path) -> np.ndarray:
    sys.path.insert(0, str(ROOT))
    from nlp.audio import decode

    return decode(path).channels


def write_wav(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    x = np.atleast_2d(x)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[0])
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def speak(text: str, lang: str, tmp: Path, pitch: float = 1.0) -> np.ndarray:
    """Festival speech at 16 kHz mono, leading/trailing silence trimmed, -20 dBFS RMS."""
    src = tmp / "line.txt"
    src.write_text(text, encoding="utf-8" if lang == "en" else "koi8-r", errors="strict")
    raw = tmp / "line.wav"
    cmd = ["text2wave", str(src), "-o", str(raw)]
    if lang == "ru":
        cmd += ["-eval", "(voice_msu_ru_nsh_clunits)"]
    else:
        cmd += ["-eval", "(voice_kal_diphone)"]
    run(cmd)
    out = tmp / "line16.wav"
    filt = f"aresample={SR}"
    if pitch != 1.0:
        filt += f",asetrate={SR * pitch:.0f},aresample={SR},atempo={1 / pitch:.5f}"
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-af", filt, "-ac", "1", str(out)])
    x = read(out)[0]
    frame = 160
    db = 10 * np.log10(np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1) + 1e-12)
    on = np.nonzero(db > db.max() - 45)[0]
    x = x[max(0, on[0] * frame - 800): (on[-1] + 1) * frame + 800]
    return (x * 10 ** (-20 / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-9)).astype(np.float32)


def dialogue(turns: list[tuple[str, str]], lang: str, tmp: Path, *, gaps: list[float] | None = None,
             lead: float = 0.6, tail: float = 0.8) -> tuple[np.ndarray, list[dict]]:
    """Agent on channel 0, customer (pitched voice) on channel 1; returns (2 x n, reference turns)."""
    pieces, ref, t = [], [], lead
    for i, (speaker, text) in enumerate(turns):
        x = speak(text, lang, tmp, 1.0 if speaker == "agent" else 1.22)
        pieces.append((speaker, int(t * SR), x))
        ref.append({"speaker": speaker, "start": round(t, 2), "end": round(t + len(x) / SR, 2), "text": text})
        t += len(x) / SR + (gaps[i] if gaps and i < len(gaps) else 0.6)
    n = int((t + tail) * SR)
    out = np.zeros((2, n), np.float32)
    for speaker, start, x in pieces:
        out[0 if speaker == "agent" else 1, start:start + len(x)] += x
    rng = np.random.default_rng(11)
    out += (10 ** (-66 / 20) * rng.standard_normal(out.shape)).astype(np.float32)  # a line's faint noise
    return out, ref


def ffmpeg(inp: Path, out: Path, *args: str) -> Path:
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(inp), *args, str(out)])
    return out


def amr_dtx(src16k: Path, out: Path, container: str) -> Path:
    """AMR-NB 12.2 kbit/s with DTX through PyAV's OpenCORE encoder (the ffmpeg binary lacks it)."""
    import av

    x = read(src16k)[0]
    n8 = len(x) // 2
    # 16 -> 8 kHz: a windowed-sinc low-pass at 4 kHz, then every second sample.
    taps = np.sinc(np.arange(-32, 33) / 2) / 2 * np.hanning(65)
    x8 = np.convolve(x, taps, mode="same")[::2][:n8]
    pcm = (np.clip(x8, -1, 1) * 32767).astype(np.int16)
    with av.open(str(out), "w", format=container) as oc:
        st = oc.add_stream("libopencore_amrnb", rate=8000, options={"dtx": "1"})
        st.layout = "mono"
        st.bit_rate = 12200
        for i in range(0, len(pcm) - 160 + 1, 160):
            fr = av.AudioFrame.from_ndarray(pcm[None, i:i + 160], format="s16", layout="mono")
            fr.sample_rate = 8000
            fr.pts = i
            for pkt in st.encode(fr):
                oc.mux(pkt)
        for pkt in st.encode(None):
            oc.mux(pkt)
    return out


def cover_png(path: Path) -> Path:
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "color=c=0x3a7a5a:s=64x64:d=1", "-frames:v", "1", str(path)])
    return path


def bandpass(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "audio"))
    args = ap.parse_args(argv)
    for tool in ("text2wave", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install festival festvox-kallpc16k festvox-ru ffmpeg")
    out = Path(args.out)
    (out / "codecs").mkdir(parents=True, exist_ok=True)
    manifest: dict = {}
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)

        # ---- codecs: one utterance with a 1.5 s pause (DTX frames there) -----------------------
        a = speak("Hello, this is Birch Lane Bakery.", "en", tmp)
        b = speak("Our carrot cake costs twenty two dollars.", "en", tmp)
        x = np.concatenate([np.zeros(SR // 2), a, np.zeros(int(1.5 * SR)), b, np.zeros(SR // 2)]).astype(np.float32)
        base = write_wav(tmp / "speech16.wav", x)
        text = "Hello, this is Birch Lane Bakery. Our carrot cake costs twenty two dollars."
        cover = cover_png(tmp / "cover.png")
        c = out / "codecs"
        encs = {
            "speech.gsm.wav": ["-ar", "8000", "-ac", "1", "-c:a", "libgsm_ms"],
            "speech.ulaw.wav": ["-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw"],
            "speech.alaw.wav": ["-ar", "8000", "-ac", "1", "-c:a", "pcm_alaw"],
            "speech.g722.wav": ["-ar", "16000", "-ac", "1", "-c:a", "g722"],
            "speech.g722": ["-ar", "16000", "-ac", "1", "-c:a", "g722", "-f", "g722"],
            "speech.opus.ogg": ["-c:a", "libopus", "-b:a", "16k"],
            "speech.opus.webm": ["-c:a", "libopus", "-b:a", "16k"],
        }
        for name, enc in encs.items():
            ffmpeg(base, c / name, *enc)
        run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(base), "-i", str(cover),
             "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-b:a", "32k", "-c:v", "png",
             "-disposition:v", "attached_pic", "-id3v2_version", "3", "-metadata", "title=Call 0917 Birch Lane",
             "-metadata", "artist=Recorder", "-metadata:s:v", "comment=Cover (front)", str(c / "speech.id3.mp3")])
        run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(base), "-i", str(cover),
             "-map", "0:a", "-map", "1:v", "-c:a", "aac", "-b:a", "32k", "-c:v", "png",
             "-disposition:v", "attached_pic", "-metadata", "title=Call 0917", str(c / "speech.cover.m4a")])
        amr_dtx(base, c / "speech.dtx.amr", "amr")
        amr_dtx(base, c / "speech.dtx.3gp", "3gp")
        manifest["codecs"] = {"text": text, "duration": round(len(x) / SR, 2),
                              "files": sorted(p.name for p in c.iterdir())}

        # ---- one mix on both channels ----------------------------------------------------------
        turns = [("agent", "Good morning, Harbor Light Movers, my name is Owen. How can I help you?"),
                 ("customer", "Hi, I am moving a two bedroom apartment next Friday. How much would that cost?"),
                 ("agent", "A two bedroom move with three movers costs about nine hundred dollars."),
                 ("customer", "Okay, please book me for Friday morning.")]
        mix, ref = dialogue(turns, "en", tmp)
        mono = mix.sum(axis=0)
        d = int(0.008 * SR)
        right = 0.6 * np.concatenate([np.zeros(d, np.float32), mono[:-d]])
        write_wav(tmp / "same.wav", np.stack([mono, right]))
        ffmpeg(tmp / "same.wav", out / "same-mix.m4a", "-c:a", "aac", "-b:a", "48k")
        manifest["same-mix.m4a"] = {"turns": ref, "right": "0.6 x left, 8 ms late", "right_behaviour": "mono call"}

        # ---- speakerphone leak -----------------------------------------------------------------
        turns = [("agent", "Good afternoon, Maple Grove Dental, this is Nora speaking. How can I help you?"),
                 ("customer", "Hi, I would like to book a cleaning for my daughter. How much does it cost?"),
                 ("agent", "A cleaning for children costs eighty five dollars. When would you like to come in?"),
                 ("customer", "Tuesday after four would be great, she has school until three."),
                 ("agent", "I can book Tuesday at four thirty with doctor Patel."),
                 ("customer", "Perfect, thank you so much.")]
        call, ref = dialogue(turns, "en", tmp)
        cust = bandpass(call[1], 300, 3400)
        n = int(0.25 * SR)
        t = np.arange(n) / SR
        room = np.zeros(n, np.float32)
        room[0] = 1.0
        room += (0.25 * rng.standard_normal(n) * np.exp(-6.9 * t / 0.2) * (t > 0.004)).astype(np.float32)
        leak = np.convolve(cust, room)[: len(cust)]
        leak = bandpass(leak, 300, 3400)
        leak *= 10 ** (-3 / 20) * np.sqrt(np.mean(cust ** 2) / np.mean(leak ** 2))
        d = int(0.040 * SR)
        agent = call[0] + np.concatenate([np.zeros(d, np.float32), leak[:-d]])
        write_wav(tmp / "leak.wav", np.stack([agent, call[1]]) * 0.8)
        ffmpeg(tmp / "leak.wav", out / "leak.ogg", "-af", "aresample=8000,aresample=16000", "-c:a", "libopus", "-b:a", "32k")
        manifest["leak.ogg"] = {"turns": ref, "leak": "customer into left channel, -3 dB, 40 ms, band-pass + reverb",
                                "right_behaviour": "6 turns, no agent turn carries the customer's words"}

        # ---- word timing after a long pause ----------------------------------------------------
        turns = [("agent", "Let me check the calendar for you."),
                 ("customer", "Sure, take your time."),
                 ("agent", "So, Thursday at ten works for the technician.")]
        call, ref = dialogue(turns, "en", tmp, gaps=[0.7, 8.0])
        write_wav(tmp / "wt.wav", call)
        ffmpeg(tmp / "wt.wav", out / "wordtiming.ogg", "-c:a", "libopus", "-b:a", "32k")
        manifest["wordtiming.ogg"] = {"turns": ref, "right_behaviour": "'So' starts the agent's second turn"}

        # ---- speech to put after a long silence or hold music ---------------------------------
        h = speak("Hello, thank you for holding. My name is Victor from Bluefield Insurance.", "en", tmp)
        write_wav(tmp / "hold.wav", np.concatenate([h, np.zeros(SR // 2, np.float32)]))
        ffmpeg(tmp / "hold.wav", out / "holding.flac", "-c:a", "flac")
        manifest["holding.flac"] = {"text": "Hello, thank you for holding. My name is Victor from Bluefield Insurance."}

        # ---- a call with nothing that says who sells -------------------------------------------
        turns = [("agent", "The weather is nice today."), ("customer", "Yes, it is quite warm."),
                 ("agent", "The bus was late again."), ("customer", "It often is on Mondays.")]
        call, ref = dialogue(turns, "en", tmp)
        write_wav(tmp / "neutral.wav", call)
        ffmpeg(tmp / "neutral.wav", out / "neutral.ogg", "-c:a", "libopus", "-b:a", "32k")
        manifest["neutral.ogg"] = {"turns": ref, "right_behaviour": "agent side unknown"}

        # ---- one real reader as a 44.1 kHz stereo room recording -------------------------------
        lv = ROOT / "tests" / "data" / "librivox"
        clip = lv / "sense_and_sensibility_01_austen_64kb-0870.flac"
        if clip.exists():
            y = read(clip)[0]
            r44 = ffmpeg(write_wav(tmp / "lv.wav", y), tmp / "lv44.wav", "-ar", "44100")
            with wave.open(str(r44)) as w:
                y44 = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
            sr44 = 44100

            def ir(direct_ms: float, gain: float) -> np.ndarray:
                m = int(0.6 * sr44)
                h = np.zeros(m)
                h[int(direct_ms * sr44 / 1000)] = gain
                for _ in range(12):
                    h[int(rng.uniform(3, 25) * sr44 / 1000)] += gain * rng.uniform(-0.5, 0.5)
                tt = np.arange(m) / sr44
                tail_ = rng.standard_normal(m) * np.exp(-6.9 * tt / 0.45)
                tail_[: int(0.005 * sr44)] = 0
                tail_ *= gain * np.sqrt(10 ** (-3 / 10)) / np.sqrt(np.sum(tail_ ** 2))
                return h + tail_

            def conv(sig: np.ndarray, h: np.ndarray) -> np.ndarray:
                m = 1 << int(np.ceil(np.log2(len(sig) + len(h))))
                return np.fft.irfft(np.fft.rfft(sig, m) * np.fft.rfft(h, m), m)[: len(sig)]

            st = np.stack([conv(y44, ir(1.0, 1.0)), conv(y44, ir(1.9, 0.8))])
            st = 0.5 * st / np.abs(st).max()
            with wave.open(str(tmp / "lv2.wav"), "wb") as w:
                w.setnchannels(2)
                w.setsampwidth(2)
                w.setframerate(sr44)
                w.writeframes((st.T * 32767).astype("<i2").tobytes())
            ffmpeg(tmp / "lv2.wav", out / "librivox-stereo44.m4a", "-c:a", "aac", "-b:a", "96k")
            manifest["librivox-stereo44.m4a"] = {"source": clip.name, "text": (lv / (clip.stem + ".txt")).read_text().strip(),
                                                 "right_behaviour": "one speaker: mono, no word lost"}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(out)}  {p.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
