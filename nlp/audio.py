"""Audio decoding and the signal work before recognition: channels, echo suppression.

Decoding uses PyAV (FFmpeg's libraries inside the wheel), so every container and codec FFmpeg
reads works without an ffmpeg binary; everything is resampled to 16 kHz float32, one array per
channel (telephony 8 kHz input included).

Echo. Real stereo call recordings leak: each channel carries the other side too, quieter and a
little late (line echo, headset bleed). Whisper happily transcribes that leak, so the same phrase
would appear twice, once as a ghost turn of the wrong speaker. `echo_mask` compares the two
channels' short-time energy frame by frame: a frame of channel A is the other side's echo when
channel B, at the same moment or up to `max_delay` earlier, is much louder (`dominance_db`). Those
frames are silenced before VAD and recognition, which removes the ghosts and also the time spent
recognising them. Double talk (both speak at once, at similar levels) keeps both channels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000

# Lower-case suffixes of files treated as recordings when a folder is scanned. Files given by
# name are tried whatever their suffix: PyAV decides.
AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    ".wav", ".wave", ".mp3", ".m4a", ".aac", ".mp4", ".ogg", ".oga", ".opus", ".flac", ".webm", ".weba",
    ".wma", ".amr", ".aif", ".aiff", ".aifc", ".caf", ".mka", ".3gp", ".au", ".gsm", ".spx", ".ac3", ".mov",
})


@dataclass
class Audio:
    channels: np.ndarray      # (n_channels, n_samples) float32 at 16 kHz; n_channels is 1 or 2
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / SAMPLE_RATE

    @property
    def is_stereo(self) -> bool:
        return self.channels.shape[0] == 2


def decode(path: str | os.PathLike) -> Audio:
    """Decode a recording to 16 kHz float32, keeping two channels when it has two or more."""
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
                         hint="check that it is a recording (wav, mp3, m4a, ogg, flac, webm...) and not damaged") from None
    except OSError as e:
        raise AudioError(f"cannot open file: {e}", path=str(p)) from None
    try:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioError("the file has no audio stream", path=str(p), hint="is it a video without sound or a document?")
        stream = streams[0]
        src_channels = stream.codec_context.channels or 1
        src_rate = stream.codec_context.sample_rate or 0
        layout = "stereo" if src_channels >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        parts: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray())
            for out in resampler.resample(None):
                parts.append(out.to_ndarray())
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            if not parts:
                raise AudioError(f"the audio data is corrupt ({_av_reason(e)})", path=str(p),
                                 hint="re-export or re-download the recording") from None
            # A truncated tail (recording cut off) still gives usable audio up to the damage.
    finally:
        container.close()
    if not parts:
        raise AudioError("the file holds no audio samples", path=str(p))
    data = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
    n_ch = 2 if layout == "stereo" else 1
    data = data.reshape(n_ch, -1)
    if data.shape[1] < SAMPLE_RATE // 10:
        raise AudioError(f"the recording is too short ({data.shape[1] / SAMPLE_RATE:.2f} s)", path=str(p))
    if not np.isfinite(data).all():
        data = np.nan_to_num(data)
    if float(np.max(np.abs(data))) < 1e-4:
        raise AudioError("the recording is silent", path=str(p), hint="check the export: every sample is zero")
    if n_ch == 2 and _same_channels(data):
        # "Stereo" files that duplicate one mono signal on both sides are mono calls.
        data = data[:1]
    return Audio(np.ascontiguousarray(data), int(src_rate), int(src_channels))


def _av_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[-1].strip() if ":" in msg else msg


def _same_channels(data: np.ndarray) -> bool:
    a, b = data[0], data[1]
    denom = float(np.sum(a * a) + np.sum(b * b)) or 1.0
    return float(np.sum((a - b) ** 2)) / denom < 1e-4


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
    da, db_ = frame_db(a), frame_db(b)
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


def suppress_echo(channels: np.ndarray, **kw) -> tuple[np.ndarray, dict]:
    """Zero each channel where it only carries the other side; returns (new channels, stats)."""
    if channels.shape[0] != 2:
        return channels, {"echo_frames": [0]}
    out = channels.copy()
    stats = {}
    masks = [echo_mask(channels[0], channels[1], **kw), echo_mask(channels[1], channels[0], **kw)]
    for ch, m in enumerate(masks):
        # Widen by one frame each side: the frame edges of an echo burst carry it too.
        wide = m.copy()
        wide[1:] |= m[:-1]
        wide[:-1] |= m[1:]
        # Only frames that hold something are counted as echo (silence is silence either way).
        samples = np.repeat(wide, FRAME)
        out[ch, : len(samples)][samples] = 0.0
        stats[f"echo_seconds_{'left' if ch == 0 else 'right'}"] = round(float(m.sum()) * FRAME / SAMPLE_RATE, 2)
    return out, stats
