"""Checks of command-line options, run before any store is created or any model loads.

A typo in `--language`, `--compute-type` or `--model` must cost a second, not the minutes of
assembling and loading the Whisper model (and must not leave an empty store behind). Each check
returns the normalised value or raises InputFormatError saying what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import InputFormatError

# The languages Whisper's tokenizer knows (faster_whisper.tokenizer), as `--language` takes them.
WHISPER_LANGUAGES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu "
    "hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro "
    "ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split())
# CTranslate2's compute type names (ctranslate2.get_supported_compute_types lists the ones a device runs
# fast; any of these loads, converted when the device lacks it).
COMPUTE_TYPES = ("auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
                 "bfloat16", "float32")
DEVICES = ("auto", "cpu", "cuda")
AGENT_CHANNELS = ("auto", "left", "right")


def check_language(value: str | None) -> str:
    """'auto' or a Whisper language code ('ru', 'en', ...), lowercased."""
    lang = (value or "auto").strip().lower()
    if lang == "auto" or lang in WHISPER_LANGUAGES:
        return lang
    raise InputFormatError(f"--language {value!r} is not a language Whisper knows",
                           hint="use auto, ru, en or another Whisper code such as de, uk, kk")


def check_choice(value: str, allowed: Iterable[str], option: str) -> str:
    v = (value or "").strip().lower()
    allowed = tuple(allowed)
    if v not in allowed:
        raise InputFormatError(f"{option} {value!r} is not one of {', '.join(allowed)}")
    return v


def check_compute_type(value: str | None) -> str | None:
    if value is None:
        return None
    return check_choice(value, COMPUTE_TYPES, "--compute-type")


def check_model(value: str | None) -> str | None:
    """A model name, a hub id ('owner/name') or an existing CTranslate2 folder."""
    if value is None or value.strip() in ("", "default"):
        return value
    v = value.strip()
    p = Path(v).expanduser()
    looks_like_path = (v.startswith(("/", ".", "~")) or "\\" in v or v.count("/") > 1
                       or p.suffix in (".bin", ".pt", ".ggml"))
    if p.exists():
        if not p.is_dir() or not (p / "model.bin").exists() or not (p / "config.json").exists():
            raise InputFormatError("--model: not a CTranslate2 Whisper model folder (needs model.bin and config.json)",
                                   path=str(p), hint="convert with ct2-transformers-converter or pass a model name")
        return v
    if looks_like_path:
        raise InputFormatError("--model: no such folder", path=str(p),
                               hint="give a local CTranslate2 model folder or a name like small or large-v3")
    from .asr import resolve_model  # names only: nothing is downloaded or loaded here

    resolve_model(v)
    return v


def check_device(device: str, compute_type: str | None) -> str:
    """'auto', 'cpu' or 'cuda'; cuda only when a CUDA device is visible."""
    d = check_choice(device, DEVICES, "--device")
    if d == "cuda":
        from .asr import pick_device  # asks CTranslate2 for a device count; loads no model

        pick_device(d, compute_type)
    return d


def check_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Every input named on the command line exists."""
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputFormatError("input not found", path=", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""),
                               hint="give existing files or folders")
    return paths


def check_transcribe_options(*, language: str | None, device: str, compute_type: str | None, model: str | None,
                             agent_channel: str, workers: int = 1, scheduler: str | None = None,
                             send_audio: bool = False) -> dict[str, object]:
    """The transcription options checked and normalised, as `transcribe_paths` takes them."""
    if workers < 1:
        raise InputFormatError(f"--workers {workers} must be 1 or more")
    from .cluster import check_scheduler  # the spec only: nothing is started here

    sched = check_scheduler(scheduler)
    if send_audio and not sched:
        raise InputFormatError("--send-audio needs --scheduler", hint="it ships recordings to Dask workers")
    compute = check_compute_type(compute_type)
    return {"language": check_language(language), "device": check_device(device, compute),
            "compute_type": compute, "model": check_model(model),
            "agent_channel": check_choice(agent_channel, AGENT_CHANNELS, "--agent-channel"), "workers": workers,
            **({"scheduler": sched, "send_audio": bool(send_audio)} if sched else {})}
