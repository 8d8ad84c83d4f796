"""Audio decoding and the signal work before recognition: channels, one-mix stereo, echo and leak.

Decoding uses PyAV (FFmpeg's libraries inside the wheel), so every container and codec FFmpeg
reads works without an ffmpeg binary; everything is resampled to 16 kHz float32, one array per
channel (telephony 8 kHz input included). Packets are decoded one by one: a packet the decoder
rejects is skipped, as the ffmpeg command does, and the time it covered is kept as silence, so
later speech stays at its true time. AMR-NB/WB go to OpenCORE's decoder when PyAV has it, since
FFmpeg's own AMR decoder rejects the DTX (comfort-noise) frames phone recorders write.

One mix on two channels. Some "stereo" recordings carry the whole conversation on both channels
(one quieter, or a few milliseconds late). Treated as one side per channel, every phrase would be
recognised twice and given to both roles. `same_mix` tells them apart from a real two-sided call
by the channels' levels, frame by frame: one mix keeps a steady level difference and its
loudness contours move together, and the cross-correlation lag between the channels is the same
in every voiced block (a two-sided call with cross-talk flips the lag with the speaker). Such a
file is decoded as mono (the louder channel).

Echo and leak. Real stereo call recordings leak: each channel carries the other side too, quieter
and a little late (line echo, headset bleed, a speakerphone). Whisper happily transcribes that
leak, so the same phrase would appear twice, once as a ghost turn of the wrong speaker. Two
per-frame tests silence a channel's frame before VAD and recognition (`suppress_echo`):
`echo_mask`, the other channel (now or up to `max_delay` earlier) is much louder; `leak_mask`,
the frame's spectrum is explained by the other channel's, delayed by the leak's lag and scaled by
the leak's per-band gain, both measured on the call itself (a speakerphone leaks only ~3 dB down,
far too loud for the first test). Double talk keeps both channels: a frame with its own speech
has energy the other channel cannot explain.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000

# Lower-case suffixes of files treated as recordings when a folder is scanned. Files given by
# name are tried whatever their suffix: PyAV decides.
AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    ".wav", ".wave", ".mp3", ".m4a", ".aac", ".mp4", ".ogg", ".oga", ".opus", ".flac", ".webm", ".weba",
    ".wma", ".amr", ".awb", ".aif", ".aiff", ".aifc", ".caf", ".mka", ".3gp", ".3g2", ".au", ".gsm", ".spx",
    ".ac3", ".mov", ".g722", ".722",
})

# FFmpeg's own AMR decoders stop at DTX frames ("not implemented"); OpenCORE's decode them.
_PREFERRED_DECODERS = {"amrnb": "libopencore_amrnb", "amr_nb": "libopencore_amrnb",
                       "amrwb": "libopencore_amrwb", "amr_wb": "libopencore_amrwb"}
SILENT_PEAK = 1e-4          # below -80 dBFS peak a recording holds nothing to recognise


@dataclass
class Audio:
    """A decoded recording.

    channels: (n_channels, n_samples) float32 at 16 kHz in [-1, 1]; n_channels is 1 or 2.
    source_rate / source_channels: the file's own sample rate (Hz) and channel count.
    codec: the decoder used; packets / bad_packets: audio packets read and skipped as undecodable;
    filled_seconds: silence put where skipped packets or timestamp gaps were.
    same_mix: when the file's two channels carried one mix and it was made mono: lag_ms (the
    right channel's delay), gain_db (right minus left), kept ('left'/'right'), and the measures.
    """

    channels: np.ndarray
    source_rate: int
    source_channels: int
    codec: str = ""
    packets: int = 0
    bad_packets: int = 0
    filled_seconds: float = 0.0
    same_mix: dict[str, Any] | None = None

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / SAMPLE_RATE

    @property
    def is_stereo(self) -> bool:
        return self.channels.shape[0] == 2

    def provenance(self) -> dict[str, Any]:
        """What the call's `source` records about decoding (codec, skipped packets, one-mix stereo)."""
        d: dict[str, Any] = {"codec": self.codec, "source_channels": self.source_channels}
        if self.bad_packets:
            d["undecodable_packets"] = self.bad_packets
            d["packets"] = self.packets
        if self.filled_seconds:
            d["filled_seconds"] = round(self.filled_seconds, 2)
        if self.same_mix:
            d["same_mix"] = self.same_mix
        return d


def decode(path: str | os.PathLike) -> Audio:
    """Decode a recording to 16 kHz float32, keeping two channels when it has two or more.

    Two channels that carry one mix (equal up to gain and a lag of <= 50 ms) come back as one.
    Raises AudioError (with the file's path and a hint) for a missing, empty, non-audio, wholly
    undecodable, too short or silent file; a file with some undecodable packets decodes the rest.
    """
    import av

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise AudioError(f"cannot read file: {e.strerror}", path=str(p)) from None
    if size == 0:
        raise AudioError("the file is empty (0 bytes)", path=str(p), hint="re-export the recording")
    try:
        container = av.open(str(p))
    except av.error.FFmpegError as e:  # type: ignore[attr-defined]
        raise AudioError(f"not a readable audio file ({_av_reason(e)})", path=str(p),
                         hint="check that it is a recording (wav, mp3, m4a, ogg, flac, webm, amr...) and not damaged") from None
    except OSError as e:
        raise AudioError(f"cannot open file: {e}", path=str(p)) from None
    try:
        streams = container.streams.audio
        if not streams:
            raise AudioError("the file has no audio stream", path=str(p), hint="is it a video without sound or a document?")
        stream = streams[0]
        src_rate = int(stream.codec_context.sample_rate or 0)
        src_channels = int(stream.codec_context.channels or 0)
        ctx, codec = _decoder(stream, av)
        try:
            parts, n_ch, stats = _decode_packets(container, stream, ctx, av)
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            # Demuxing itself broke (a damaged container) before any audio came out.
            raise AudioError(f"the audio data is corrupt ({_av_reason(e)})", path=str(p),
                             hint="re-export or re-download the recording") from None
    finally:
        container.close()
    n_packets, bad, first_error, filled = stats
    damage = (f"; {bad} of {n_packets} packets could not be decoded ({codec}: {first_error})" if bad else "")
    if n_packets == 0:
        raise AudioError("the file holds no audio packets", path=str(p), hint="re-export the recording")
    if bad == n_packets:
        raise AudioError(f"none of its {n_packets} audio packets could be decoded ({codec}: {first_error})",
                         path=str(p), hint="convert it to WAV with ffmpeg; if ffmpeg fails too, the file is damaged")
    data = _assemble(parts, n_ch)
    if data.shape[1] < SAMPLE_RATE // 10:
        raise AudioError(f"the recording is too short ({data.shape[1] / SAMPLE_RATE:.2f} s){damage}", path=str(p))
    if not np.isfinite(data).all():
        data = np.nan_to_num(data)
    peak = float(np.max(np.abs(data)))
    if peak == 0.0:
        raise AudioError(f"the recording is silent: every decoded sample is zero{damage}", path=str(p),
                         hint="check the export or the recorder's settings")
    if peak < SILENT_PEAK:
        raise AudioError(f"the recording is silent (peak {20 * np.log10(peak):.0f} dBFS){damage}", path=str(p),
                         hint="check the export or the recorder's settings")
    same = None
    if data.shape[0] == 2:
        same = same_mix(data[0], data[1])
        if same is not None:
            data = data[:1] if same["kept"] == "left" else data[1:]
    return Audio(np.ascontiguousarray(data), src_rate, src_channels or n_ch, codec, n_packets, bad, filled, same)


def _decoder(stream, av) -> tuple[Any, str]:
    """The codec context to decode `stream` with, and its name for messages."""
    name = stream.codec_context.name
    alt = _PREFERRED_DECODERS.get(name)
    if alt and alt in av.codecs_available:
        try:
            ctx = av.CodecContext.create(alt, "r")
            ctx.sample_rate = stream.codec_context.sample_rate
            ctx.layout = "mono"
            return ctx, alt
        except (av.error.FFmpegError, ValueError):  # type: ignore[attr-defined]
            pass
    return stream.codec_context, name


def _decode_packets(container, stream, ctx, av) -> tuple[list, int, tuple[int, int, str, float]]:
    """Decode packet by packet; skipped packets and timestamp gaps become silence (sample counts)."""
    tb = float(stream.time_base) if stream.time_base else 0.0
    parts: list = []                 # float32 arrays (ch, n) at 16 kHz, or ints: that many zeros
    produced = 0                     # samples at 16 kHz so far, silence included
    resampler = None
    n_ch = 0
    n_packets = bad = 0
    first_error = ""
    filled = 0.0
    t0: float | None = None
    slack = 0.3                      # decoder delay tolerated before a gap counts (grows with packet size)
    last_end = 0.0

    def emit(frames) -> None:
        nonlocal resampler, n_ch, produced
        for fr in frames:
            if resampler is None:
                n_ch = 2 if fr.layout.nb_channels >= 2 else 1
                resampler = av.AudioResampler(format="fltp", layout="stereo" if n_ch == 2 else "mono",
                                              rate=SAMPLE_RATE)
            try:
                outs = resampler.resample(fr)
            except ValueError:
                # The stream changed rate or layout midway (HE-AAC, concatenated files): a new resampler.
                outs = list(resampler.resample(None))
                resampler = av.AudioResampler(format="fltp", layout="stereo" if n_ch == 2 else "mono",
                                              rate=SAMPLE_RATE)
                outs += resampler.resample(fr)
            for o in outs:
                arr = o.to_ndarray().reshape(n_ch, -1)
                parts.append(arr)
                produced += arr.shape[1]

    def fill_to(t: float) -> None:
        nonlocal produced, filled
        gap = int(round(t * SAMPLE_RATE)) - produced
        if gap > 0:
            parts.append(gap)
            produced += gap
            filled += gap / SAMPLE_RATE

    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's end marker
        n_packets += 1
        if packet.pts is not None and tb:
            t = packet.pts * tb
            t0 = t if t0 is None else t0
            dur = (packet.duration or 0) * tb
            slack = max(slack, 3 * dur)
            if (t - t0) - produced / SAMPLE_RATE > slack:
                # Time with no decoded audio (undecodable or missing packets): keep it as silence.
                fill_to(t - t0)
            last_end = max(last_end, t - t0 + dur)
        try:
            frames = ctx.decode(packet)
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            bad += 1
            first_error = first_error or _av_reason(e)
            continue
        emit(frames)
    try:
        emit(ctx.decode(None))
    except av.error.FFmpegError:  # type: ignore[attr-defined]
        pass  # nothing buffered, or the decoder has no flush: what came out is all there is
    if resampler is not None:
        emit_tail = resampler.resample(None)
        for o in emit_tail:
            arr = o.to_ndarray().reshape(n_ch, -1)
            parts.append(arr)
            produced += arr.shape[1]
    if n_ch and last_end - produced / SAMPLE_RATE > slack:
        fill_to(last_end)  # undecodable packets at the very end
    return parts, max(1, n_ch), (n_packets, bad, first_error, filled)


def _assemble(parts: list, n_ch: int) -> np.ndarray:
    total = sum(p if isinstance(p, int) else p.shape[1] for p in parts)
    out = np.zeros((n_ch, total), dtype=np.float32)
    pos = 0
    for p in parts:
        if isinstance(p, int):
            pos += p
        else:
            out[:, pos:pos + p.shape[1]] = p
            pos += p.shape[1]
    return out


def _av_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[-1].strip() if ":" in msg else msg


# ---- one mix on two channels ----------------------------------------------------------------

SAME_MIX_SPREAD_DB = 10.0     # 10th-90th percentile range of the level difference over voiced frames
SAME_MIX_CORR = 0.8           # correlation of the channels' loudness contours (dB) over voiced frames
SAME_MIX_LAG_AGREE = 0.8      # share of voiced blocks whose lag agrees with the median lag
SAME_MIX_MAX_LAG_S = 0.05


def same_mix(a: np.ndarray, b: np.ndarray, *, max_lag_s: float = SAME_MIX_MAX_LAG_S) -> dict[str, Any] | None:
    """Whether two 16 kHz channels carry one mix (equal up to gain and a lag of <= `max_lag_s`).

    Over frames where either channel is voiced: the level difference must stay within
    SAME_MIX_SPREAD_DB (10th-90th percentile), the loudness contours must correlate (>= 0.8), and
    the lag of the best cross-correlation must be the same (+-1.5 ms) in >= 80% of the 2 s blocks
    voiced on both sides. A two-sided call fails the first tests (one side is quiet while the
    other speaks), a call with loud two-way cross-talk the last (the lag flips with the speaker).
    Returns None, or {lag_ms (right after left), gain_db (right minus left), spread_db, corr,
    lag_agree, kept: the louder channel 'left'|'right'}.
    """
    n = min(len(a), len(b))
    da, db = frame_db(a[:n]), frame_db(b[:n])
    if da.size < 5:
        return None
    top = float(max(da.max(), db.max()))
    da, db = np.maximum(da, top - 80.0), np.maximum(db, top - 80.0)
    voiced = np.maximum(da, db) > top - 35.0
    if voiced.sum() < 5:
        return None
    diff = (da - db)[voiced]
    p10, p50, p90 = np.percentile(diff, [10, 50, 90])
    spread = float(p90 - p10)
    if spread > SAME_MIX_SPREAD_DB:
        return None
    if np.std(da[voiced]) < 1e-6 or np.std(db[voiced]) < 1e-6:
        corr = 1.0 if spread < 1.0 else 0.0
    else:
        corr = float(np.corrcoef(da[voiced], db[voiced])[0, 1])
    if corr < SAME_MIX_CORR:
        return None
    max_lag = int(max_lag_s * SAMPLE_RATE)
    block = 2 * SAMPLE_RATE
    fpb = block // FRAME
    starts = [s for s in range(0, n - block + 1, block)
              if da[s // FRAME:s // FRAME + fpb].max() > top - 35 and db[s // FRAME:s // FRAME + fpb].max() > top - 35]
    if len(starts) > 60:  # long calls: 60 blocks spread over the call say enough
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, 60).astype(int)]
    lags = []
    for s in starts:
        c = _xcorr(a[s:s + block], b[s:s + block], max_lag)
        lags.append(int(np.argmax(np.abs(c))) - max_lag)
    if lags:
        med = float(np.median(lags))
        agree = float(np.mean(np.abs(np.asarray(lags) - med) <= 0.0015 * SAMPLE_RATE))
    else:  # too short for a block: the whole signal's lag
        c = _xcorr(a[:n], b[:n], max_lag)
        med, agree = float(int(np.argmax(np.abs(c))) - max_lag), 1.0
    if agree < SAME_MIX_LAG_AGREE:
        return None
    return {"lag_ms": round(-med / SAMPLE_RATE * 1000, 2) + 0.0, "gain_db": round(float(-p50), 2),
            "spread_db": round(spread, 2), "corr": round(corr, 3), "lag_agree": round(agree, 2),
            "kept": "left" if p50 >= 0 else "right"}


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """c[k + max_lag] = sum_t a[t] * b[t - k] for k in [-max_lag, max_lag] (k > 0: b is earlier)."""
    n = min(len(a), len(b))
    m = 1 << int(np.ceil(np.log2(2 * n + 1)))
    fa = np.fft.rfft(a[:n].astype(np.float64), m)
    fb = np.fft.rfft(b[:n].astype(np.float64), m)
    c = np.fft.irfft(fa * np.conj(fb), m)
    ks = np.arange(-max_lag, max_lag + 1)
    return c[ks % m]


# ---- echo handling ---------------------------------------------------------------------------

FRAME = 320  # 20 ms at 16 kHz


def frame_db(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = len(x) // frame
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    e = np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    return (10 * np.log10(e + 1e-12)).astype(np.float32)


def _past_max(db: np.ndarray, back: int, ahead: int) -> np.ndarray:
    """Max of db[t-back .. t+ahead] for each t."""
    out = db.copy()
    for k in range(1, back + 1):
        out[k:] = np.maximum(out[k:], db[:-k])
    for k in range(1, ahead + 1):
        out[:-k] = np.maximum(out[:-k], db[k:])
    return out


def echo_mask(a: np.ndarray, b: np.ndarray, *, dominance_db: float = 12.0, max_delay: float = 0.12) -> np.ndarray:
    """Boolean per-frame mask of channel `a` frames that are only `b`'s echo (True = echo)."""
    return _echo_from_db(frame_db(a), frame_db(b), dominance_db=dominance_db, max_delay=max_delay)


def _echo_from_db(da: np.ndarray, db_: np.ndarray, *, dominance_db: float = 12.0, max_delay: float = 0.12) -> np.ndarray:
    n = min(len(da), len(db_))
    da, db_ = da[:n], db_[:n]
    back = int(round(max_delay * SAMPLE_RATE / FRAME))
    other = _past_max(db_, back, 1)
    echo = da < other - dominance_db
    # Close one-frame holes so a word's quiet middle next to a loud other side stays whole or gone.
    if n > 2:
        lone = ~echo[1:-1] & echo[:-2] & echo[2:]
        echo[1:-1] |= lone
    return echo


# ---- leak (speakerphone, cross-talk) --------------------------------------------------------

LEAK_MAX_DELAY_S = 0.15        # longest leak delay looked for
LEAK_EXPLAINED = 0.8           # share of a frame's energy the predicted leak must explain
LEAK_HEADROOM_DB = 6.0         # the predicted leak may be this much too low in a band
LEAK_MIN_GAIN_DB = -40.0       # no coherent leak (a clean call): the cut is `echo_mask`'s alone
_BANDS = 32                    # equal-width bands over 0-8 kHz
_WIN = 512                     # 32 ms analysis window, hop FRAME (20 ms)


def _band_energy(x: np.ndarray, n: int, frames: np.ndarray | None = None) -> np.ndarray:
    """(n, _BANDS) float32 band energies of 20 ms frames (a 32 ms Hann window on each); with
    `frames`, only those frame indices (len(frames), _BANDS)."""
    frames = np.arange(n) if frames is None else frames
    out = np.empty((len(frames), _BANDS), dtype=np.float32)
    win = np.hanning(_WIN).astype(np.float32)
    pad = np.concatenate([np.zeros((_WIN - FRAME) // 2, np.float32), x.astype(np.float32, copy=False),
                          np.zeros(_WIN, np.float32)])
    step = 8192  # frames per block: bounded memory on hour-long calls
    for s in range(0, len(frames), step):
        f = frames[s:s + step]
        idx = f[:, None] * FRAME + np.arange(_WIN)[None, :]
        z = np.fft.rfft(pad[idx] * win, axis=1)[:, 1:_WIN // 2 + 1]
        spec = z.real ** 2 + z.imag ** 2
        out[s:s + len(f)] = spec.reshape(len(f), _BANDS, -1).sum(axis=2)
    return out + 1e-12


def _leak_lags(a: np.ndarray, b: np.ndarray, max_delay: float) -> tuple[int, int]:
    """Delays (samples, 0..max_delay s) at which `b` appears inside `a` and `a` inside `b`.

    GCC-PHAT over 2 s blocks: the cross-spectrum is whitened, so a leak path that filters the
    sound (a phone's speaker, the room) still gives a sharp peak at its delay.
    """
    block = 1 << 15
    n = min(len(a), len(b))
    starts = list(range(0, max(1, n - block // 4), block))
    if len(starts) > 200:  # long calls: 200 blocks spread over the call are plenty
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, 200).astype(int)]
    m = 2 * block
    cross = np.zeros(m // 2 + 1, dtype=np.complex128)
    for s in starts:
        fa = np.fft.rfft(a[s:s + block].astype(np.float64), m)
        fb = np.fft.rfft(b[s:s + block].astype(np.float64), m)
        cross += fa * np.conj(fb)
    # Whitened, and only over the telephone band: codecs couple stereo channels above it (joint
    # stereo) and below it hum is common to both, either of which would put a false peak at lag 0.
    freqs = np.fft.rfftfreq(m, 1 / SAMPLE_RATE)
    cross[(freqs < 300) | (freqs > 3400)] = 0
    c = np.fft.irfft(cross / (np.abs(cross) + 1e-12), m)
    k_max = min(int(max_delay * SAMPLE_RATE), m // 2 - 1)
    # c[k] = sum a[t] b[t - k]: k > 0 is `b` earlier (b leaks into a), c[-k] the other way.
    return int(np.argmax(c[:k_max + 1])), int(np.argmax(c[(-np.arange(k_max + 1)) % m]))


def _leak_gain(ea: np.ndarray, eb: np.ndarray) -> np.ndarray | None:
    """Per-band leak gain of `eb`'s side inside `ea`'s (both already aligned at the leak's lag):
    the 20th percentile of the energy ratio over the frames where `eb` is loud (top 30%)."""
    tot_b = eb.sum(axis=1)
    loud = tot_b > np.percentile(tot_b, 70)
    if loud.sum() < 10:
        return None
    return np.percentile(ea[loud] / eb[loud], 20, axis=0).astype(np.float32)


def _gain_db(gain: np.ndarray) -> float:
    speech_bands = slice(int(300 / 250), int(3400 / 250) + 1)
    return round(float(10 * np.log10(np.median(gain[speech_bands]) + 1e-12)), 1)


def _shift(eb: np.ndarray, lag_frames: int, n: int) -> np.ndarray:
    if not lag_frames:
        return eb[:n]
    return np.concatenate([np.full((lag_frames, eb.shape[1]), 1e-12, np.float32), eb[:n - lag_frames]])


def _leak_decision(ea: np.ndarray, eb: np.ndarray, lag_frames: int, explained: float,
                   headroom_db: float) -> tuple[np.ndarray, dict]:
    """The leak mask of the channel with band energies `ea`, the other's `eb` (see `leak_mask`)."""
    n = min(len(ea), len(eb))
    ea, eb = ea[:n], _shift(eb, lag_frames, n)
    gain = _leak_gain(ea, eb)
    if gain is None:
        return np.zeros(n, dtype=bool), {}
    smear = eb.copy()
    for k in range(1, 9):
        smear[k:] = np.maximum(smear[k:], eb[:-k] * np.float32(10 ** (-0.2 * k)))
    for k in (1, 2):
        smear[:-k] = np.maximum(smear[:-k], eb[k:])
    pred = gain * smear * np.float32(10 ** (headroom_db / 10))
    share = np.minimum(ea, pred).sum(axis=1) / ea.sum(axis=1)
    padded = np.pad(share, 2, mode="edge")
    share = np.median(np.stack([padded[i:i + n] for i in range(5)]), axis=0)
    info = {"lag_ms": round(lag_frames * FRAME / SAMPLE_RATE * 1000, 1), "gain_db": _gain_db(gain)}
    return share >= explained, info


def leak_masks(a: np.ndarray, b: np.ndarray, *, max_delay: float = LEAK_MAX_DELAY_S,
               explained: float = LEAK_EXPLAINED, headroom_db: float = LEAK_HEADROOM_DB
               ) -> tuple[tuple[np.ndarray, dict], tuple[np.ndarray, dict]]:
    """`leak_mask` both ways, sharing the spectra and the lag search: ((mask_a, info_a), (mask_b, info_b)).

    The gains are first measured on every 4th frame; a direction with no measurable leak (gain under
    LEAK_MIN_GAIN_DB) gets an empty mask without the full-resolution pass.
    """
    n = min(len(a), len(b)) // FRAME
    if n < 40:
        empty = (np.zeros(max(n, 0), dtype=bool), {})
        return empty, empty
    lag_ab, lag_ba = _leak_lags(a, b, max_delay)
    lags = (int(round(lag_ab / FRAME)), int(round(lag_ba / FRAME)))
    out = []
    full: dict[int, np.ndarray] = {}
    for side, (x, y) in enumerate(((a, b), (b, a))):
        probe = np.arange(lags[side], n, 4)
        gain = _leak_gain(_band_energy(x, n, probe), _band_energy(y, n, probe - lags[side]))
        if gain is None or _gain_db(gain) <= LEAK_MIN_GAIN_DB:
            info = {"lag_ms": round(lags[side] * FRAME / SAMPLE_RATE * 1000, 1), "gain_db": _gain_db(gain)} if gain is not None else {}
            out.append((np.zeros(n, dtype=bool), info))
            continue
        for k in (0, 1):
            if k not in full:
                full[k] = _band_energy((a, b)[k], n)
        out.append(_leak_decision(full[side], full[1 - side], lags[side], explained, headroom_db))
    return out[0], out[1]


def leak_mask(a: np.ndarray, b: np.ndarray, *, max_delay: float = LEAK_MAX_DELAY_S,
              explained: float = LEAK_EXPLAINED, headroom_db: float = LEAK_HEADROOM_DB) -> tuple[np.ndarray, dict]:
    """Per 20 ms frame of channel `a` (16 kHz): True where it only carries `b`'s leak.

    The leak's lag is the GCC-PHAT peak of `b` inside `a` (0..max_delay s, to the 20 ms frame);
    its gain per band is the 20th percentile of |A|^2 / |B delayed|^2 over the frames where `b` is
    loud (mostly frames where only `b` speaks, so `a` holds the leak alone). A frame of `a` is leak
    when the predicted leak (gain x `b`'s band energies at the lag, the strongest of the two frames
    after it and of the 160 ms before, 2 dB down per frame for the room's reverberation) explains
    at least `explained` of its energy, allowing `headroom_db` per band; a 5-frame median smooths
    the decision. With no measurable leak (gain under LEAK_MIN_GAIN_DB) nothing is marked.
    Returns (mask, {"lag_ms", "gain_db"}: the leak's delay and its median gain over 300-3400 Hz).
    """
    return leak_masks(a, b, max_delay=max_delay, explained=explained, headroom_db=headroom_db)[0]


def suppress_echo(channels: np.ndarray, **kw) -> tuple[np.ndarray, dict]:
    """Zero each channel's frames that only carry the other side (echo or leak).

    channels: (2, n) float32 at 16 kHz (anything else is returned as is). A frame is zeroed when
    `echo_mask` (the other side >= 12 dB louder, now or up to 120 ms earlier) or `leak_mask` (the
    other side's delayed, scaled spectrum explains it; only for a leak above LEAK_MIN_GAIN_DB)
    says so; where both channels would lose the same frame, the louder keeps it. Returns (new
    channels, stats: echo_seconds_left/right and, for a leak found, leak_left/right = {lag_ms, gain_db}).
    """
    if channels.shape[0] != 2:
        return channels, {}
    out = channels.copy()
    stats: dict[str, Any] = {}
    leaks = list(leak_masks(channels[0], channels[1]))
    # Only a measurable leak (line echo, a speakerphone, cross-talk) brings the leak test in: a call
    # without one (gain ~-60 dB and below) is cut exactly as the first test alone cuts it.
    loud = [bool(info) and info["gain_db"] > LEAK_MIN_GAIN_DB for _m, info in leaks]
    dbs = [frame_db(channels[0]), frame_db(channels[1])]
    masks, infos = [], []
    for ch in (0, 1):
        other_own = dbs[1 - ch].copy()
        if loud[1 - ch]:
            # Only the other side's own speech makes an echo: where the other channel is itself
            # this side's leak, its loudness would otherwise silence this side's own word endings,
            # which its late copy there outlasts. Nor can a frame of the other side that this side
            # matched (within 3 dB) in the 160 ms before: it may be leak the leak test missed.
            lm_other = leaks[1 - ch][0]
            other_own[:len(lm_other)][lm_other[:len(other_own)]] = -120.0
            k = min(len(other_own), len(dbs[ch]))
            recent = _past_max(dbs[ch][:k], 8, 0)
            other_own[:k][recent >= other_own[:k] - 3.0] = -120.0
        m = _echo_from_db(dbs[ch], other_own, **kw)
        if loud[ch]:
            lm = leaks[ch][0]
            k = min(len(m), len(lm))
            m = m[:k] | lm[:k]
        masks.append(m)
        infos.append(leaks[ch][1])
    k = min(len(masks[0]), len(masks[1]))
    both = masks[0][:k] & masks[1][:k]
    if any(loud) and both.any():
        la, lb = dbs[0][:k], dbs[1][:k]
        masks[0][:k] &= ~(both & (la >= lb))
        masks[1][:k] &= ~(both & (lb > la))
    for ch, m in enumerate(masks):
        side = "left" if ch == 0 else "right"
        # Widen by one frame each side: the frame edges of an echo burst carry it too.
        wide = m.copy()
        wide[1:] |= m[:-1]
        wide[:-1] |= m[1:]
        samples = np.repeat(wide, FRAME)
        out[ch, : len(samples)][samples] = 0.0
        stats[f"echo_seconds_{side}"] = round(float(m.sum()) * FRAME / SAMPLE_RATE, 2)
        if loud[ch]:
            stats[f"leak_{side}"] = infos[ch]
    return out, stats
