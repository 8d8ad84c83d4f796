"""Adherence: for every call and script step, was the step performed, how sure, and the evidence.

The evidence for a performed step is the agent sentence that performs it (`evidence`, with its `turn`
and `start` in seconds when the call has times). For a step judged absent there is no evidence; the
closest agent sentence is kept apart (`closest`, `closest_turn`) and marked as not performing the step,
so a reader can see what came nearest without mistaking it for the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..script import Script
from ..types import Call
from .calibration import AdherenceCalibrator, adapt_to_script, calibrator_from_file
from .matching import Matching, match_calls

if TYPE_CHECKING:
    from ..store import Store


@dataclass
class AdherenceRow:
    call_id: str
    step_id: str
    present: int
    score: float                    # P(step performed), 0..1
    evidence: str | None            # the agent sentence that performs the step; None when absent
    turn: int | None                # its turn index in the call
    start: float | None             # its time, seconds from the call's start, when the call has times
    closest: str | None = None      # absent steps only: the nearest agent sentence, which does NOT perform it
    closest_turn: int | None = None


def score_adherence(calls: Sequence[Call], script: Script, store: "Store | None" = None,
                    calibrator: AdherenceCalibrator | None = None, matching: Matching | None = None,
                    labels: dict[str, set[str]] | None = None) -> tuple[list[AdherenceRow], Matching]:
    """One row per call and step (call-major, script order): present 0/1, probability, evidence.

    `labels` (call_id -> ids of the steps performed, for some of `calls`) adapts the model to this
    script (`calibration.adapt_to_script`); labelled calls keep their model score but take the hand label."""
    m = matching or match_calls(calls, script, store)
    cal = calibrator or calibrator_from_file()
    proba = cal.predict_proba(m.X)[:, 1].reshape(m.n_calls, m.n_steps) if m.n_calls else np.zeros((0, m.n_steps))
    lab = [i for i, c in enumerate(calls) if labels and c.call_id in labels]
    if lab and m.n_calls:
        X3 = m.X.reshape(m.n_calls, m.n_steps, -1)
        Y = np.asarray([[int(s.step_id in labels[calls[i].call_id]) for s in script.steps] for i in lab])
        refit, adapter = adapt_to_script(cal, X3[lab], Y)
        proba = adapter.predict_proba(refit.decision_function(m.X).reshape(m.n_calls, m.n_steps))
    present = proba >= cal.threshold
    for i in lab:  # a hand label is the truth for its own call
        present[i] = [s.step_id in labels[calls[i].call_id] for s in script.steps]
    rows = []
    for c, call in enumerate(calls):
        for k, step in enumerate(script.steps):
            u = int(m.evidence_unit[c, k])
            unit = m.units[u] if u >= 0 else None
            p = bool(present[c, k])
            rows.append(AdherenceRow(
                call.call_id, step.step_id, int(p), round(float(proba[c, k]), 4),
                unit.text if unit and p else None, unit.turn if unit and p else None,
                unit.start if unit and p else None,
                None if p or not unit else unit.text, None if p or not unit else unit.turn))
    return rows, m
