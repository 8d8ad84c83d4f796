"""Which script step handles which customer theme: decided once, here, for the whole report.

The script-gap stage (`nlp.gaps.coverage`) stores, per theme, the step whose example phrases sit
closest to what customers say in that theme (`best_step`), how far above chance that closeness is
(`score`, a z-score) and how often random groups of customer statements of the same size come as
close to some step (`info.p_chance`, a permutation test over all steps). This module turns that row
into one decision that the coverage tables, the nearest step shown beside a theme and the script
recommendations all read, so they cannot disagree:

- `handled`: the gaps stage found the match beyond chance (p_chance < 0.05, its `covered` flag);
  the step is named as the one that handles the theme.
- `weak`: not beyond chance, but closer than random groups come in 80% of draws
  (p_chance < WEAK_P; a z-score >= WEAK_Z when the store has no p_chance): the step is named as a
  possible answer, and a recommendation asks to check it, never to add a missing one.
- `none`: no step is named at all, and an objection may become "add an answer".

Counts (calls, won, lost, share) are recomputed from the report's own calls, so they match the
theme tables even when some calls are left out for review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

HANDLED, WEAK, NONE = "handled", "weak", "none"
STATES = (HANDLED, WEAK, NONE)
WEAK_P = 0.2
WEAK_Z = 2.0


@dataclass
class CoverageDecision:
    kind: str
    theme_id: str
    label: str
    anchor: str | None
    state: str                   # handled | weak | none
    step_id: str | None          # the step named beside the theme: None when state is none
    step_title: str | None
    p_chance: float | None       # share of random statement groups as close to a step (gaps stage)
    n_calls: int
    n_won: int
    n_lost: int
    share: float
    share_lost: float | None     # share of the report's lost calls with the theme
    share_won: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def decide(covered: Any, best_step: str | None, score: float | None, p_chance: float | None) -> str:
    """The coverage state of one gaps `coverage` row (see the module doc)."""
    if not best_step:
        return NONE
    if covered:
        return HANDLED
    if p_chance is not None:
        return WEAK if p_chance < WEAK_P else NONE
    return WEAK if score is not None and score >= WEAK_Z else NONE


def coverage_decisions(data, titles: dict[str, str]) -> list[CoverageDecision]:
    """One decision per theme of the gaps stage's `coverage` table that comes up in the report's
    calls; themes no analysed call mentions (all calls left out for review, or themes rebuilt
    since the gaps stage) are dropped. Ordered: objections first, then by calls, lost calls."""
    n_lost_all = sum(1 for c in data.calls.values() if c["outcome"] == "lost")
    n_won_all = sum(1 for c in data.calls.values() if c["outcome"] == "won")
    out = []
    for r in data.store.db.execute("SELECT * FROM coverage"):
        key = (r["kind"], r["theme_id"])
        t = data.theme_index.get(key)
        ids = data.members.get(key, set()) & set(data.calls)
        if t is None or not ids:
            continue
        info = json.loads(r["info_json"] or "{}")
        p = info.get("p_chance")
        p = float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else None
        state = decide(r["covered"], r["best_step"], r["score"], p)
        step = r["best_step"] if state != NONE else None
        won = sum(1 for c in ids if data.calls[c]["outcome"] == "won")
        lost = sum(1 for c in ids if data.calls[c]["outcome"] == "lost")
        out.append(CoverageDecision(
            r["kind"], r["theme_id"], t.label, t.anchor, state, step,
            titles.get(step, step) if step else None, p, len(ids), won, lost,
            len(ids) / data.n_calls if data.n_calls else 0.0,
            lost / n_lost_all if n_lost_all else None, won / n_won_all if n_won_all else None))
    out.sort(key=lambda d: (d.kind != "objection", -d.n_calls, -d.n_lost, d.label))
    return out
