"""Script coverage: which customer themes (needs, motives, objections, questions) no script step
addresses, how often they come up and how much more often in lost calls than in won ones."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..script import Script
from .matching import step_prototypes
from .stats import MIN_OUTCOME_CALLS, _fisher

if TYPE_CHECKING:
    from ..store import Store

COVERAGE_KINDS: tuple[str, ...] = ("need", "motive", "objection", "question")


@dataclass
class CoverageRow:
    kind: str
    theme_id: str
    label: str
    covered: int
    best_step: str | None
    score: float | None
    n_calls: int
    n_lost: int
    n_won: int
    lift_lost: float | None
    info: dict[str, Any] = field(default_factory=dict)




# A customer theme counts as addressed by a step when its statements sit closer to some step's examples
# than random groups of the same number of customer statements do (permutation test over all themed
# statements, p < COVER_P, max over steps so that many steps do not make chance matches look real).
# Raw e5 similarity alone cannot decide: generic lines ("I hear you", "Понимаю вас") sit close to every
# customer sentence, and some themes sit close to every step.
COVER_P = 0.05
_NULL_DRAWS = 400
_MAX_THEME_TEXTS = 25
_MIN_PROTO_WORDS = 3


def _theme_members(store: "Store", kinds: Sequence[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    q = ("SELECT st.kind, st.theme_id, st.outlier, s.call_id, s.turn, s.text, s.start FROM statement_themes st"
         f" JOIN statements s ON s.id = st.statement_id WHERE st.kind IN ({','.join('?' * len(kinds))})"
         " ORDER BY st.outlier, st.score DESC, s.call_id, s.turn")
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in store.db.execute(q, tuple(kinds)):
        out.setdefault((r["kind"], r["theme_id"]), []).append(
            {"call_id": r["call_id"], "turn": r["turn"], "text": r["text"], "start": r["start"],
             "outlier": r["outlier"]})
    return out


def coverage(store: "Store", script: Script, kinds: Sequence[str] = COVERAGE_KINDS,
             max_p: float = COVER_P) -> tuple[list[CoverageRow], str]:
    """Customer themes with whether a script step addresses them, how often they come up and how much
    more often in lost calls than in won ones. Ranked: uncovered first, then by calls and lift."""
    from ..vectors import embed

    themes = store.db.execute(
        f"SELECT * FROM themes WHERE kind IN ({','.join('?' * len(kinds))}) ORDER BY kind, theme_id",
        tuple(kinds)).fetchall()
    if not themes:
        return [], "no customer themes in the store: run extraction and themes first (`callbridge run`)"
    members = _theme_members(store, kinds)
    outcome = {r[0]: (json.loads(r[1] or "{}") or {}).get("outcome")
               for r in store.db.execute("SELECT call_id, metadata_json FROM calls")}
    n_won_all = sum(1 for o in outcome.values() if o == "won")
    n_lost_all = sum(1 for o in outcome.values() if o == "lost")
    texts, owner = step_prototypes(script)
    keep = [i for i, t in enumerate(texts) if len(t.split()) >= _MIN_PROTO_WORDS] or list(range(len(texts)))
    texts, owner_arr = [texts[i] for i in keep], np.asarray([owner[i] for i in keep])
    K = len(script.steps)
    P = embed(texts, store)

    samples = []
    for th in themes:
        info = json.loads(th["info_json"] or "{}")
        mem = members.get((th["kind"], th["theme_id"]), [])
        sample = [m["text"] for m in mem if not m["outlier"]][:_MAX_THEME_TEXTS] or [m["text"] for m in mem][:_MAX_THEME_TEXTS]
        if not sample:
            sample = [q.get("text", "") for q in info.get("quotes", []) if q.get("text")] or [th["label"]]
        samples.append(sample)
    flat = [t for smp in samples for t in smp]
    S_all = embed(flat, store) @ P.T
    per_all = np.full((len(flat), K), -1.0)
    for k in range(K):
        if (owner_arr == k).any():
            per_all[:, k] = S_all[:, owner_arr == k].max(axis=1)
    mu, sd = per_all.mean(axis=0), np.maximum(per_all.std(axis=0), 0.01)
    rng = np.random.default_rng(0)
    null: dict[int, np.ndarray] = {}

    def max_z(rows_: np.ndarray, n: int) -> np.ndarray:
        return ((rows_ - mu) / (sd / math.sqrt(n))).max(axis=-1)

    rows = []
    off = 0
    for th, sample in zip(themes, samples):
        info = json.loads(th["info_json"] or "{}")
        mem = members.get((th["kind"], th["theme_id"]), [])
        per = per_all[off:off + len(sample)]
        S = S_all[off:off + len(sample)]
        off += len(sample)
        n = len(sample)
        z = (per.mean(axis=0) - mu) / (sd / math.sqrt(n))
        k = int(z.argmax())
        if n not in null:
            draws = np.stack([per_all[rng.choice(len(flat), size=min(n, len(flat)), replace=False)].mean(axis=0)
                              for _ in range(_NULL_DRAWS)])
            null[n] = max_z(draws, n)
        p_null = float((1 + (null[n] >= z[k]).sum()) / (1 + _NULL_DRAWS))
        best_proto = int(np.where(owner_arr == k)[0][S[:, owner_arr == k].mean(axis=0).argmax()])
        calls = {m["call_id"] for m in mem}
        n_won = sum(1 for c in calls if outcome.get(c) == "won")
        n_lost = sum(1 for c in calls if outcome.get(c) == "lost")
        lift = None
        if n_won_all and n_lost_all:
            # +0.5 smoothing: a theme seen in 2 lost and 0 won calls gets a finite lift, not infinity
            lift = round(((n_lost + 0.5) / (n_lost_all + 1)) / ((n_won + 0.5) / (n_won_all + 1)), 3)
        p = _fisher(n_lost, n_lost_all - n_lost, n_won, n_won_all - n_won) if n_won_all and n_lost_all else None
        note = ""
        if n_lost + n_won < MIN_OUTCOME_CALLS:
            note = f"too few won/lost calls ({n_lost + n_won}) to judge the lift"
        elif p is not None and p < 0.05:
            note = f"lost calls mention it {'more' if (lift or 0) > 1 else 'less'} often (Fisher p={p:.3f})"
        else:
            note = f"no clear won/lost difference (Fisher p={p:.2f})" if p is not None else ""
        quotes = info.get("quotes") or [{k2: m[k2] for k2 in ("call_id", "turn", "start", "text")} for m in mem[:3]]
        rows.append(CoverageRow(
            th["kind"], th["theme_id"], th["label"], int(p_null < max_p), script.steps[k].step_id,
            round(float(z[k]), 3), len(calls) or int(th["n_calls"]), n_lost, n_won, lift,
            {"quotes": quotes[:5], "best_step_title": script.steps[k].title, "closest_script_text": texts[best_proto],
             "similarity": round(float(per.mean(axis=0)[k]), 4), "p_chance": round(p_null, 4),
             "z_top3": {script.steps[j].step_id: round(float(z[j]), 2) for j in np.argsort(-z)[:3]},
             "share_calls": th["share_calls"],
             "fisher_p": round(p, 4) if p is not None else None, "lift_note": note,
             "terms": info.get("terms", [])[:8]}))
    rows.sort(key=lambda r: (r.covered, -r.n_calls, -(r.lift_lost or 0)))
    for i, r in enumerate(rows):
        r.info["rank"] = i + 1
    return rows, ""


