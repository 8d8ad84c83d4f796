"""Library errors. Every error says what was wrong, where, and what to do about it.

The CLI turns any CallbridgeError into a clean one-line message and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CallbridgeError(Exception):
    """Base class: `message` says what went wrong, `hint` what the user can do."""

    def __init__(self, message: str, hint: str | None = None, path: str | None = None):
        self.message = message
        self.hint = hint
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{tail}"


class InputFormatError(CallbridgeError):
    """An input file (call JSON, transcript, CSV, script) is not in the expected format."""


class AudioError(CallbridgeError):
    """A recording cannot be decoded or holds no usable audio."""


class ModelError(CallbridgeError):
    """A model cannot be found, assembled, verified or loaded."""


class StoreError(CallbridgeError):
    """The store is missing, from a newer version, or damaged."""


class ClusterError(CallbridgeError):
    """The Dask scheduler cannot be reached, has no workers, or was lost during a run."""
