"""CLI commands: transcribe."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import STORE_HELP, eprint, handle_errors


def register(app: typer.Typer) -> None:
    @app.command("transcribe")
    @handle_errors
    def transcribe(
        inputs: List[Path] = typer.Argument(..., help="Recordings, folders (searched recursively) or text files "
                                            "listing paths. wav, mp3, m4a/aac, ogg/opus, flac, webm and "
                                            "anything FFmpeg decodes; 8 kHz telephony included."),
        store: Path = typer.Option(Path("./callbridge-data"), "--store", help=STORE_HELP),
        model: Optional[str] = typer.Option(None, "--model", help="faster-whisper model name (needs a model hub) "
                                            "or a local CTranslate2 folder. Default: Whisper base from PyPI."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        compute_type: Optional[str] = typer.Option(None, "--compute-type",
                                                   help="CTranslate2 compute type (default int8 on CPU, "
                                                   "int8_float16 on CUDA)."),
        language: str = typer.Option("auto", "--language", help="auto (detected per call), ru, en or any "
                                     "Whisper language code."),
        agent_channel: str = typer.Option("auto", "--agent-channel", help="Which stereo channel is the agent: "
                                          "left, right or auto (decided per call, with a confidence)."),
        vocabulary: Optional[Path] = typer.Option(None, "--vocabulary", help="Text file of domain words "
                                                  "(company, product, brand names), one per line, passed "
                                                  "to the recogniser."),
        script: Optional[Path] = typer.Option(None, "--script", help="Sales script (markdown/DOCX): its company "
                                              "name helps spelling, its phrases help tell the agent."),
        metadata: Optional[Path] = typer.Option(None, "--metadata", help="CRM CSV joined by call_id or file name "
                                                "(date, agent, lead_source, campaign, outcome, amount, ...)."),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 if any file failed."),
        workers: int = typer.Option(1, "--workers", min=1, help="Recordings in flight at once (the CPU threads "
                                    "are shared between them). 1 is fastest on small machines."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-file progress."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run the recordings as Dask tasks: "
                                                "local:N (N worker processes here), tcp://HOST:PORT (a running "
                                                "`dask scheduler`) or its scheduler.json. Each worker loads the "
                                                "model once; this process alone writes the store."),
        send_audio: bool = typer.Option(False, "--send-audio", help="With --scheduler: send each recording's "
                                        "bytes to the workers (default: the path, for workers that see the "
                                        "same files)."),
    ) -> None:
        """Transcribe call recordings into the store: channels split, echo removed, roles assigned.

        Resumable: rerunning skips calls already transcribed from the same audio with the same
        settings. A bad file fails alone and is reported; exit code 0 unless --strict or nothing
        succeeded.
        """
        from ..options import check_inputs, check_transcribe_options
        from ..store import Store
        from ..transcribe import read_vocabulary, transcribe_paths

        # every option and small file is checked before the store is created or the model loads
        opts = check_transcribe_options(language=language, device=device, compute_type=compute_type, model=model,
                                        agent_channel=agent_channel, workers=workers, scheduler=scheduler,
                                        send_audio=send_audio)
        check_inputs(inputs)
        vocab = read_vocabulary(vocabulary) if vocabulary else []
        scr = None
        if script:
            from ..script import read_script

            scr = read_script(script)
        table = None
        if metadata:
            from ..metadata import read_metadata

            from ..redact import Redactor

            red = Redactor(None, True)  # a warning quotes CRM cells: names, phone numbers in file names
            table = read_metadata(metadata, warn=lambda w: eprint(f"metadata: warning: {red.message(w)}"))
        with Store(store) as st:
            st.lock("transcribe")  # one writer per store: a second run is refused, not interleaved
            summary = transcribe_paths(inputs, st, metadata=table, vocabulary=vocab, script=scr,
                                       progress=not quiet, **opts)
        eprint(summary.text())
        code = summary.exit_code(strict)
        if code:
            raise typer.Exit(code)
