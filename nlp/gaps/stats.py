"""Script-gap statistics: step rates overall and per agent, won/lost outcome with and without each step
(Fisher exact test, no claims under `MIN_OUTCOME_CALLS`), and steps performed against the script's order.

Order is judged only between steps whose place the script fixes (`nlp.gaps.kinds.fixed_order`): objection
handling and compliance phrases (recording notice, identity check) can come anywhere in a call, so
doing them "early" or "late" is no order problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from ..script import Script
from ..types import Call
from .kinds import fixed_order

if TYPE_CHECKING:
    from .adherence import AdherenceRow
    from .matching import Matching

# Outcome statistics are not interpreted below this many calls in either group.
MIN_OUTCOME_CALLS = 5


@dataclass
class StepStats:
    step_id: str
    title: str
    position: int
    agent: str              # "" for all agents together
    calls: int
    present: int
    rate: float
    won_with: int = 0
    lost_with: int = 0
    won_without: int = 0
    lost_without: int = 0
    win_rate_with: float | None = None
    win_rate_without: float | None = None
    fisher_p: float | None = None
    outcome_note: str = ""
    too_early: int = 0      # calls where the step came before a step the script puts earlier


@dataclass
class OrderIssue:
    step_first: str         # the script puts this step first ...
    step_then: str          # ... and this one after it
    calls_both: int         # calls with both steps
    calls_inverted: int     # calls where `step_then` came first
    share: float
    examples: list[str] = field(default_factory=list)  # call ids




def _fisher(a: int, b: int, c: int, d: int) -> float | None:
    try:
        from scipy.stats import fisher_exact
    except ImportError:  # scipy comes with scikit-learn; keep the numbers without the test otherwise
        return None
    return float(fisher_exact([[a, b], [c, d]])[1])


def _outcome(stats: StepStats, present: list[int], outcomes: list[str | None]) -> None:
    for p, o in zip(present, outcomes):
        if o == "won":
            if p:
                stats.won_with += 1
            else:
                stats.won_without += 1
        elif o == "lost":
            if p:
                stats.lost_with += 1
            else:
                stats.lost_without += 1
    n_with, n_without = stats.won_with + stats.lost_with, stats.won_without + stats.lost_without
    stats.win_rate_with = round(stats.won_with / n_with, 3) if n_with else None
    stats.win_rate_without = round(stats.won_without / n_without, 3) if n_without else None
    if n_with + n_without == 0:
        stats.outcome_note = "no won/lost outcomes"
        return
    stats.fisher_p = _fisher(stats.won_with, stats.lost_with, stats.won_without, stats.lost_without)
    if stats.fisher_p is not None:
        stats.fisher_p = round(stats.fisher_p, 4)
    if min(n_with, n_without) < MIN_OUTCOME_CALLS:
        stats.outcome_note = (f"too few calls to compare (with step {n_with}, without {n_without} won/lost calls; "
                              f"need {MIN_OUTCOME_CALLS} each)")
    elif stats.fisher_p is not None and stats.fisher_p < 0.05:
        better = "with" if (stats.win_rate_with or 0) > (stats.win_rate_without or 0) else "without"
        stats.outcome_note = (f"calls {better} the step were won more often "
                              f"({stats.win_rate_with:.0%} vs {stats.win_rate_without:.0%}, Fisher p={stats.fisher_p:.3f})")
    else:
        stats.outcome_note = (f"no clear difference ({stats.win_rate_with:.0%} won with the step vs "
                              f"{stats.win_rate_without:.0%} without, Fisher p={stats.fisher_p if stats.fisher_p is not None else float('nan'):.2f})")


def order_issues(calls: Sequence[Call], script: Script, rows: "list[AdherenceRow]",
                 matching: "Matching | None" = None) -> tuple[list[OrderIssue], dict[str, int]]:
    """Pairs of performed steps done in the reverse of the script's order, and per step the calls where
    it came too early. Only steps whose place the script fixes take part (`kinds.fixed_order`: not
    objection handling, recording notices or identity checks, which may come anywhere). A step's place
    in a call is the turn it first appears in: the earliest sentence that prefers the step and scores
    near its best (`Matching.first_unit`), else the evidence turn."""
    K = len(script.steps)
    ordered = [fixed_order(s.step_id, s.title) for s in script.steps]
    first: dict[str, dict[int, int]] = {}
    for i, r in enumerate(rows):
        k = i % K
        if not (r.present and ordered[k]):
            continue
        u = int(matching.first_unit[i // K, k]) if matching is not None else -1
        turn = matching.units[u].turn if u >= 0 else r.turn
        if turn is not None:
            first.setdefault(r.call_id, {})[k] = turn
    pairs: dict[tuple[int, int], list] = {}
    early: dict[str, set[str]] = {}
    for cid, t in first.items():
        ks = sorted(t)
        for ai, a in enumerate(ks):
            for b in ks[ai + 1:]:
                rec = pairs.setdefault((a, b), [0, 0, []])
                rec[0] += 1
                if t[b] < t[a]:
                    rec[1] += 1
                    rec[2].append(cid)
                    early.setdefault(script.steps[b].step_id, set()).add(cid)
    out = [OrderIssue(script.steps[a].step_id, script.steps[b].step_id, n, inv, round(inv / n, 3), ex[:5])
           for (a, b), (n, inv, ex) in pairs.items() if inv > 0]
    out.sort(key=lambda o: (-o.calls_inverted, -o.share))
    return out, {s: len(v) for s, v in early.items()}


def step_stats(calls: Sequence[Call], script: Script, rows: "list[AdherenceRow]",
               too_early: dict[str, int] | None = None) -> list[StepStats]:
    """Rates per step, over all calls and per agent, with outcome counts."""
    K = len(script.steps)
    agents = [str(c.metadata.get("agent") or "") for c in calls]
    outcomes = [c.metadata.get("outcome") for c in calls]
    out = []
    for k, step in enumerate(script.steps):
        pres = [rows[c * K + k].present for c in range(len(calls))]
        groups = [("", list(range(len(calls))))]
        groups += [(a, [i for i, x in enumerate(agents) if x == a]) for a in sorted(set(agents) - {""})]
        for agent, idx in groups:
            p = [pres[i] for i in idx]
            st = StepStats(step.step_id, step.title, k + 1, agent, len(idx), sum(p),
                           round(sum(p) / len(idx), 3) if idx else 0.0)
            _outcome(st, p, [outcomes[i] for i in idx])
            if not agent and too_early:
                st.too_early = too_early.get(step.step_id, 0)
            out.append(st)
    return out


