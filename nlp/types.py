"""Typed data passed between stages.

A `Call` is the unit every stage works on; its JSON form is the call format of
`shared/data/eval/README.md` (see `nlp.callio`). Stages add their own small result
types next to their code; the ones several stages share live here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Speaker = Literal["agent", "customer"]
SPEAKERS: tuple[str, ...] = ("agent", "customer")
Outcome = Literal["won", "lost", "pending"]
OUTCOMES: tuple[str, ...] = ("won", "lost", "pending")
Kind = Literal["opening", "motive", "need", "objection", "question"]
KINDS: tuple[str, ...] = ("opening", "motive", "need", "objection", "question")

# CRM fields the report knows how to use; any other metadata key is kept as-is.
METADATA_FIELDS: tuple[str, ...] = ("date", "agent", "lead_source", "campaign", "outcome", "amount")


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass
class Turn:
    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    words: list[Word] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"speaker": self.speaker, "text": self.text}
        if self.start is not None:
            d["start"] = round(float(self.start), 3)
        if self.end is not None:
            d["end"] = round(float(self.end), 3)
        if self.words:
            d["words"] = [asdict(w) for w in self.words]
        return d


@dataclass
class Call:
    call_id: str
    turns: list[Turn]
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Provenance kept by the transcriber/importer (audio path, hashes, role decision...).
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"call_id": self.call_id, "language": self.language,
                             "metadata": dict(self.metadata),
                             "turns": [t.to_dict() for t in self.turns]}
        if self.source:
            d["source"] = dict(self.source)
        return d

    def customer_turns(self) -> list[tuple[int, Turn]]:
        return [(i, t) for i, t in enumerate(self.turns) if t.speaker == "customer"]

    def agent_turns(self) -> list[tuple[int, Turn]]:
        return [(i, t) for i, t in enumerate(self.turns) if t.speaker == "agent"]

    @property
    def duration(self) -> float | None:
        ends = [t.end for t in self.turns if t.end is not None]
        return max(ends) if ends else None


@dataclass
class Statement:
    """One thing the customer said, of one kind. `text` is an exact substring of turn `turn`."""

    call_id: str
    turn: int
    kind: str
    text: str
    confidence: float = 1.0
    language: str | None = None
    start: float | None = None
    char_start: int | None = None  # offset of `text` inside the turn's text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}
