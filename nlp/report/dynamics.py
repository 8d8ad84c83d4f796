"""The report's "Call dynamics" section and its tables (dynamics.csv, dynamics_groups.csv).

The numbers come from `nlp.dynamics` over the calls the report counts; this module only groups them
(per agent, won vs lost), formats them and draws the two charts. Call ids go through the report's gate
(pseudonyms with redaction on); agent names are shown as the report's agents table shows them.
"""

from __future__ import annotations

from typing import Any

from .. import dynamics as dyn
from . import charts

# (metric, format) in the order the section shows them; formats: share, seconds, count
SHOWN: tuple[tuple[str, str], ...] = (
    ("talk_ratio", "share"), ("longest_agent_monologue_s", "sec"), ("longest_customer_story_s", "sec"),
    ("agent_questions", "count"), ("customer_questions", "count"), ("interruptions_by_agent", "count"),
    ("interruptions_by_customer", "count"), ("overlap_s", "sec"), ("silence_share", "share"),
    ("needs_question_s", "sec"))
_FORMAT = dict(SHOWN)
# dynamics.csv columns of whole numbers (0/1 flags, counts, a turn index), some of them possibly unknown
_WHOLE = ("timed", "overlap_measured", "agent_turns", "customer_turns", "agent_words", "customer_words",
          "agent_questions", "customer_questions", "interruptions_by_agent", "interruptions_by_customer",
          "needs_question_turn")


def fmt(value: float | None, kind: str, sec: str = "s") -> str:
    """A metric as shown: shares in %, seconds as "4.2 s", "42 s" or "1:23", counts without a needless
    ".0"; "—" when unknown. `sec` is the report language's unit of seconds."""
    if value is None:
        return "—"
    if kind == "share":
        return f"{100 * value:.0f}%"
    if kind == "sec":
        if value < 10:
            return f"{value:.1f} {sec}"
        if value < 60:
            return f"{value:.0f} {sec}"
        s = int(round(value))
        return f"{s // 60}:{s % 60:02d}"
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _cells(g: dyn.GroupDynamics, sec: str) -> dict[str, str]:
    m = {k: fmt(g.medians[k], _FORMAT[k], sec) for k, _ in SHOWN}
    m["questions"] = f"{m['agent_questions']} / {m['customer_questions']}"
    m["interruptions"] = f"{m['interruptions_by_agent']} / {m['interruptions_by_customer']}"
    return m


def _row(name: str, g: dyn.GroupDynamics, sec: str) -> dict[str, Any]:
    return {"name": name, "n": g.n_calls, "timed": g.n_timed, "few": g.few, "cells": _cells(g, sec)}


def dynamics_context(data: Any, tr: dict, words: Any) -> dict[str, Any]:
    """Everything the section and the tables need: `rows` (CallDynamics per counted call), table rows
    per agent and for all / won / lost calls with formatted medians, the notes, two SVG charts, and the
    CSV rows (`csv`, `groups_csv`)."""
    t = tr["dyn"]
    sec = t["sec"]
    ids = list(data.calls)
    rows = dyn.store_dynamics(data.store, ids)
    agents = {cid: data.calls[cid]["agent"] for cid in ids}
    outcomes = {cid: data.calls[cid]["outcome"] for cid in ids}
    everyone = dyn.group_dynamics("(all)", rows)
    per_agent = dyn.by_agent(rows, agents)
    (won, lost), cmp_note = dyn.by_outcome(rows, outcomes)

    notes = []
    n_timed = sum(1 for r in rows if r.timed)
    n_overlap = sum(1 for r in rows if r.overlap_measured)
    if rows and not n_timed:
        notes.append(t["no_times"])
    elif n_timed < len(rows):
        notes.append(t["timed_from"].format(timed=words.n(n_timed, "call", "datv"),
                                            untimed=words.n(len(rows) - n_timed, "call")))
    if rows and n_timed:
        notes.append(t["overlap_from"].format(calls=words.n(n_overlap, "call")) if n_overlap
                     else t["overlap_none"])
    by_source = {s: sum(1 for r in rows if r.needs_source == s) for s in ("script", "question")}
    missed = sum(1 for r in rows if r.needs_source == "script" and r.needs_question_turn is None)
    parts = [t["needs_by_" + s].format(calls=words.n(n, "call", "loct")) for s, n in by_source.items() if n]
    if parts:
        notes.append(t["needs_from"] + ": " + "; ".join(parts) + "."
                     + (" " + t["needs_missed"].format(calls=words.n(missed, "call", "loct")) if missed else ""))
    # without both outcomes there is nothing to compare, and the lost-vs-won section already says so
    cmp_text = (t["cmp_small"].format(won=won.n_calls, lost=lost.n_calls, min=dyn.MIN_GROUP_CALLS)
                if won.n_calls and lost.n_calls and cmp_note else "")

    agent_rows = [_row(g.group, g, sec) for g in per_agent]
    outcome_rows = [_row(t["all"], everyone, sec)]
    if won.n_calls or lost.n_calls:
        outcome_rows += [_row(t["won"], won, sec), _row(t["lost"], lost, sec)]

    agents_chart = charts.hbar(
        [(g.group, g.medians["talk_ratio"], f"{fmt(g.medians['talk_ratio'], 'share')} · "
          f"{words.n(g.known['talk_ratio'], 'call')}") for g in per_agent if g.medians["talk_ratio"] is not None],
        t["chart_agents"], max_value=1.0, color=charts.PALETTE[0])
    outcome_chart = ""
    if won.n_calls and lost.n_calls:
        pairs = [(t["m_" + m], [(g.medians[m], fmt(g.medians[m], f, sec)) for g in (won, lost)])
                 for m, f in SHOWN if won.medians[m] is not None or lost.medians[m] is not None]
        outcome_chart = charts.paired_bars(
            pairs, [(f"{t['won']} ({won.n_calls})", charts.OUTCOME_COLORS["won"]),
                    (f"{t['lost']} ({lost.n_calls})", charts.OUTCOME_COLORS["lost"])], t["chart_outcome"])

    gate = data.gate
    csv = [dyn.csv_row(r, gate.call_id(r.call_id), agents.get(r.call_id), outcomes.get(r.call_id)) for r in rows]
    groups_csv = [dyn.group_row(everyone, "all")] + [dyn.group_row(g, "agent") for g in per_agent]
    groups_csv += [dyn.group_row(g, "outcome") for g in (won, lost) if g.n_calls]
    for r in groups_csv:
        if r["kind"] == "outcome" and cmp_note:
            r["note"] = "; ".join(x for x in (r["note"], cmp_note) if x)
    return {"present": bool(rows), "rows": rows, "agents": agent_rows, "outcomes": outcome_rows,
            "notes": notes, "cmp_note": cmp_text, "agents_chart": agents_chart, "outcome_chart": outcome_chart,
            "csv": csv, "groups_csv": groups_csv}


def frames(ctx_dyn: dict[str, Any]) -> dict[str, Any]:
    """{"dynamics": DataFrame, "dynamics_groups": DataFrame}; with their columns even when empty."""
    import pandas as pd

    cols = ["call_id", "agent", "outcome"] + list(dyn.COLUMNS[1:])
    gcols = ["kind", "group", "calls", "timed_calls"] + [f"{p}_{m}" for m in dyn.METRICS for p in ("median", "n")]
    calls = pd.DataFrame(ctx_dyn["csv"], columns=cols)
    # counts and turn indexes stay whole numbers next to empty (unknown) cells: a plain column with
    # one None becomes float and would write "2.0" for the turn index and "0.0" interruptions
    calls = calls.astype({c: "Int64" for c in _WHOLE})
    return {"dynamics": calls, "dynamics_groups": pd.DataFrame(ctx_dyn["groups_csv"], columns=gcols + ["note"])}
