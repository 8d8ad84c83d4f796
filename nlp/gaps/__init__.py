"""Script-gap analysis: which script steps agents perform, in what order, how that relates to won/lost
calls, and which customer themes no script step addresses.

One stage, four parts:

- `matching`: agent units (sentences, word windows of long ASR turns), step prototypes (title and
  examples), e5 similarities and script-independent features per (call, step);
- `calibration`: the model from those features to P(step performed), trained on many other businesses'
  scripts and shipped as data (`nlp/data/gaps_calibration.json`), and the per-step adaptation to the
  user's own script from a few hand-labelled calls (`--labels`);
- `adherence`: present/absent per call and step with its evidence (the agent sentence that performs the
  step, with turn and time; for an absent step the closest sentence, marked as not performing it);
- `stats` and `coverage`: step rates per agent and outcome, steps done against the script's order (only
  steps whose place the script fixes, see `kinds`), customer themes no step addresses.

`run_gaps` ties them together, fills the store and writes the CSVs.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputFormatError
from ..fileutil import atomic_write_text
from ..script import Script
from .adherence import AdherenceRow, score_adherence
from .calibration import (CALIBRATION_PATH, LABEL_WEIGHT, AdherenceCalibrator, StepAdapter, adapt_to_script,
                          calibrator_from_file, load_calibration)
from .coverage import COVER_P, COVERAGE_KINDS, CoverageRow, coverage
from .kinds import all_kinds, any_position, fixed_order, step_kind
from .matching import (FEATURES, Matching, Unit, agent_units, call_language, match_calls, script_fingerprint,
                       step_prototypes)
from .stats import MIN_OUTCOME_CALLS, OrderIssue, StepStats, order_issues, step_stats

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "AdherenceCalibrator", "AdherenceRow", "CALIBRATION_PATH", "LABEL_WEIGHT", "adapt_to_script", "COVERAGE_KINDS", "COVER_P", "CoverageRow",
    "FEATURES", "GapResult", "MIN_OUTCOME_CALLS", "Matching", "OrderIssue", "StepAdapter", "StepStats", "Unit",
    "agent_units", "all_kinds", "any_position", "calibrator_from_file", "call_language", "coverage",
    "fixed_order", "load_calibration", "match_calls", "order_issues", "read_step_labels", "run_gaps",
    "score_adherence", "script_fingerprint", "step_kind", "step_prototypes", "step_stats", "write_csvs",
]


@dataclass
class GapResult:
    script_title: str
    n_calls: int
    n_steps: int
    adherence: list[AdherenceRow]
    steps: list[StepStats]
    order: list[OrderIssue]
    coverage: list[CoverageRow]
    coverage_note: str = ""
    files: list[str] = field(default_factory=list)

    def step_rates(self) -> dict[str, float]:
        return {s.step_id: s.rate for s in self.steps if not s.agent}

    def skipped_steps(self, max_rate: float = 0.5) -> list[StepStats]:
        """Steps performed in at most `max_rate` of calls, least performed first."""
        return sorted([s for s in self.steps if not s.agent and s.rate <= max_rate], key=lambda s: s.rate)


def run_gaps(store: "Store", script: Script, out_dir: str | Path | None = None,
             calibrator: AdherenceCalibrator | None = None,
             labels: dict[str, set[str]] | None = None, redact: bool = True) -> GapResult:
    """Adherence, order, outcome and coverage for every call in the store. Fills `script_steps`,
    `adherence`, `coverage` and kv `gaps.summary`; writes adherence.csv, steps.csv, order.csv and
    coverage.csv to `out_dir` when given, personal data in their text redacted unless `redact=False`.
    `labels` (call id -> ids of the steps performed, for some calls) adapts each step to this script."""
    if not script.steps:
        raise InputFormatError("the script has no steps", hint="mark each step with a heading like '## greeting: Greeting'")
    calls = list(store.iter_calls())
    rows, m = score_adherence(calls, script, store, calibrator, labels=labels)
    order, early = order_issues(calls, script, rows, m)
    steps = step_stats(calls, script, rows, early)
    cov, note = coverage(store, script)
    res = GapResult(script.title, len(calls), len(script.steps), rows, steps, order, cov, note)
    _save(store, script, res)
    if out_dir is not None:
        from ..redact import Redactor

        res.files = write_csvs(res, out_dir, Redactor(store, redact))
    return res


def read_step_labels(path: str | Path, script: Script) -> dict[str, set[str]]:
    """Hand labels: a folder of `<call_id>.json` files (or one such file) with `script_steps`, the ids of
    the steps the agent performed (the labels format of the evaluation data)."""
    p = Path(path)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    if not files or not files[0].exists():
        raise InputFormatError("no label files found", path=str(p),
                               hint='give <call_id>.json files with "script_steps": ["greeting", ...]')
    known = set(script.step_ids())
    out: dict[str, set[str]] = {}
    for f in files:
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputFormatError(f"cannot read labels: {e}", path=str(f)) from None
        steps = d.get("script_steps") if isinstance(d, dict) else None
        if not isinstance(steps, list):
            raise InputFormatError("field 'script_steps' is missing or not a list", path=str(f))
        unknown = set(steps) - known
        if unknown:
            raise InputFormatError(f"steps not in the script: {', '.join(sorted(unknown))}", path=str(f),
                                   hint="use the step ids of the script's headings")
        out[str(d.get("call_id") or f.stem)] = set(steps)
    return out




def _save(store: "Store", script: Script, res: GapResult) -> None:
    summary = {"script_title": res.script_title, "n_calls": res.n_calls, "coverage_note": res.coverage_note,
               "steps": [asdict(s) for s in res.steps], "order": [asdict(o) for o in res.order]}
    with store.transaction() as db:
        db.execute("DELETE FROM script_steps")
        db.executemany("INSERT INTO script_steps(step_id, position, title, examples_json) VALUES (?,?,?,?)",
                       [(s.step_id, i + 1, s.title, json.dumps(s.examples, ensure_ascii=False))
                        for i, s in enumerate(script.steps)])
        db.execute("DELETE FROM adherence")
        db.executemany("INSERT INTO adherence(call_id, step_id, present, score, evidence, turn, start)"
                       " VALUES (?,?,?,?,?,?,?)",
                       [(r.call_id, r.step_id, r.present, r.score, r.evidence, r.turn, r.start) for r in res.adherence])
        db.execute("DELETE FROM coverage")
        db.executemany("INSERT INTO coverage(kind, theme_id, label, covered, best_step, score, n_calls, n_lost, n_won,"
                       " lift_lost, info_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       [(c.kind, c.theme_id, c.label, c.covered, c.best_step, c.score, c.n_calls, c.n_lost, c.n_won,
                         c.lift_lost, json.dumps(c.info, ensure_ascii=False, default=str)) for c in res.coverage])
        store.set_kv("gaps.summary", json.dumps(summary, ensure_ascii=False, default=str))


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(["" if v is None else v for v in r] for r in rows)
    return buf.getvalue()


def write_csvs(res: GapResult, out_dir: str | Path, redactor: Any = None) -> list[str]:
    """The four CSVs; every call id, evidence sentence, label and quote goes through `redactor`
    (an `nlp.redact.Redactor`; default: redaction on, no store)."""
    from ..redact import Redactor

    red = redactor if redactor is not None else Redactor()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    titles = {s.step_id: s.title for s in res.steps}
    files = {
        "adherence.csv": _csv_text(
            ["call_id", "step_id", "step_title", "present", "score", "evidence", "turn", "start",
             "closest_not_performing", "closest_turn"],
            [[red.call_id(r.call_id), r.step_id, titles.get(r.step_id, ""), r.present, r.score,
              red.text(r.evidence, call_id=r.call_id, turn=r.turn), r.turn, r.start,
              red.text(r.closest, call_id=r.call_id, turn=r.closest_turn), r.closest_turn] for r in res.adherence]),
        "steps.csv": _csv_text(
            ["step_id", "title", "position", "agent", "calls", "present", "rate", "won_with", "lost_with",
             "won_without", "lost_without", "win_rate_with", "win_rate_without", "fisher_p", "outcome_note",
             "too_early"],
            [[s.step_id, s.title, s.position, s.agent or "(all)", s.calls, s.present, s.rate, s.won_with,
              s.lost_with, s.won_without, s.lost_without, s.win_rate_with, s.win_rate_without, s.fisher_p,
              s.outcome_note, s.too_early] for s in res.steps]),
        "order.csv": _csv_text(
            ["step_first", "step_first_title", "step_then", "step_then_title", "calls_both", "calls_inverted",
             "share", "example_calls"],
            [[o.step_first, titles.get(o.step_first, ""), o.step_then, titles.get(o.step_then, ""), o.calls_both,
              o.calls_inverted, o.share, " ".join(str(red.call_id(e)) for e in o.examples)] for o in res.order]),
        "coverage.csv": _csv_text(
            ["rank", "kind", "theme_id", "label", "n_calls", "n_lost", "n_won", "lift_lost", "lift_note",
             "closest_step", "closest_step_title", "score", "quotes"],
            [[c.info.get("rank"), c.kind, c.theme_id, red.text(c.label), c.n_calls, c.n_lost, c.n_won, c.lift_lost,
              c.info.get("lift_note", ""), c.best_step, c.info.get("best_step_title", ""), c.score,
              " | ".join(red.text(q.get("text", ""), call_id=q.get("call_id"), turn=q.get("turn"))
                         for q in c.info.get("quotes", [])[:3])]
             for c in res.coverage if not c.covered]),
    }
    paths = []
    for name, text in files.items():
        atomic_write_text(out / name, text)
        paths.append(str(out / name))
    return paths
