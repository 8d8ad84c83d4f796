"""Script-gap analysis: which script steps agents perform, in what order, how that relates to
won/lost calls, and which customer themes no script step addresses.

Matching is by meaning: every agent sentence (and, for long unpunctuated ASR turns, overlapping
word windows) is embedded with multilingual e5 (`nlp.vectors.embed`, cached in the store) and compared
with each step's prototypes (its title and example phrases, split into sentences). A step's raw
similarity says little on its own: e5 similarities sit in a narrow band whose level differs per step
and per language. So each (call, step) pair gets features that are comparable across scripts --
how far the call's best sentence stands above the batch's typical sentence for that step, how much
that sentence prefers this step over the others, where in the call it sits compared with where the
script puts the step -- and a small logistic calibration (`AdherenceCalibrator`, trained on other
businesses' labelled calls, shipped in `nlp/data/gaps_calibration.json`) turns them into a
probability. The calibration holds no step names or words, only feature weights, so it carries
over to unseen scripts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .fileutil import atomic_write_text
from .errors import InputFormatError
from .script import Script
from .types import Call

if TYPE_CHECKING:
    from .store import Store

CALIBRATION_PATH = Path(__file__).with_name("data") / "gaps_calibration.json"
COVERAGE_KINDS: tuple[str, ...] = ("need", "motive", "objection", "question")

# Long sentences (typical of unpunctuated ASR text) are also cut into overlapping word windows:
# one e5 vector for a 60-word run-on turn blurs the single question that performs a step.
_LONG_WORDS = 22
_WINDOW = 12
_STRIDE = 6
_WORD = re.compile(r"\S+")
_PLACEHOLDER = re.compile(r"\s*(?:\.\.\.|…)\s*")

# Order: a step counts as performed at the first sentence scoring within this margin of its best one.
_FIRST_MARGIN = 0.03
# similarity traded per unit of relative distance between a sentence and the step's script position
_POS_PRIOR = 0.04
# Outcome statistics are not interpreted below this many calls in either group.
MIN_OUTCOME_CALLS = 5

FEATURES: tuple[str, ...] = (
    "sim_max",        # best cosine similarity of an agent unit to the step's prototypes
    "z_units",        # ... in standard deviations above all agent units of the batch for this step
    "z_calls",        # ... in standard deviations above the other calls' best for this step
    "exclusive",      # best (sim to this step - sim to the best other step) over the call's units
    "top2",           # mean of the two best unit similarities (a step is often said twice)
    "n_argmax",       # log1p of the units whose nearest step is this one
    "pos_gap",        # |relative position of the best unit - the step's relative script position|
    "step_rank",      # rank of this step's best similarity among all steps in this call, 0 = best, 1 = worst
    "z_units_excl",   # z_units of the best unit that prefers this step (0 when none does)
    "log_units",      # log of the number of agent units in the call
    "noisy_or",       # 1 - prod(1 - p_unit): p_unit = (unit's softmax share of this step) x (how far above typical)
    # the same first four, against the batch's own confident examples of the step (see `_expand`)
    "exp_sim_max", "exp_z_units", "exp_z_calls", "exp_exclusive",
    "log_calls",      # log of the number of calls in the batch: batch statistics of small batches say little
)
_BASE = 11  # features computed by `_features` from one similarity matrix

# Transductive prototypes: per step, up to this many agent units of the batch that clearly prefer the
# step and stand this many SDs above typical become extra examples. Agents' own wording of a step is
# closer to other agents' wording than to the script's, so a call is also compared with them (never
# with units of its own call). Uses no labels.
_SEEDS = 20
_SEED_Z = 1.5
_SEED_KNN = 3
# softmax temperature over steps and the z-score knee for `noisy_or`
_TEMP = 0.02
_NOR_Z = 1.5


# ---- data ------------------------------------------------------------------------------
@dataclass
class Unit:
    """A piece of one agent turn that can perform a step: a sentence or a word window."""

    call: int
    turn: int
    char_start: int
    text: str
    rel_pos: float          # 0 = first agent turn, 1 = last
    start: float | None     # seconds, estimated inside the turn when the turn has times


@dataclass
class AdherenceRow:
    call_id: str
    step_id: str
    present: int
    score: float
    evidence: str | None
    turn: int | None
    start: float | None


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


# ---- units and prototypes --------------------------------------------------------------
def call_language(call: Call) -> str:
    from .language import norm_lang

    return norm_lang(call.language, " ".join(t.text for t in call.turns[:20]))


def agent_units(calls: Sequence[Call]) -> list[Unit]:
    """Sentences of every agent turn (plus word windows of long ones), in call and turn order."""
    from .language import sentence_spans_many

    jobs: dict[str, list[tuple[int, int]]] = {}
    for ci, call in enumerate(calls):
        lang = call_language(call)
        for ti, t in enumerate(call.turns):
            if t.speaker == "agent" and t.text.strip():
                jobs.setdefault(lang, []).append((ci, ti))
    spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for lang, keys in jobs.items():
        for key, sp in zip(keys, sentence_spans_many([calls[c].turns[t].text for c, t in keys], lang)):
            spans[key] = sp
    units: list[Unit] = []
    for ci, call in enumerate(calls):
        agent_idx = [ti for ti, t in enumerate(call.turns) if t.speaker == "agent"]
        denom = max(len(agent_idx) - 1, 1)
        for k, ti in enumerate(agent_idx):
            turn = call.turns[ti]
            rel = k / denom if len(agent_idx) > 1 else 0.0
            for a, b in spans.get((ci, ti), []):
                for cs, text in _pieces(turn.text, a, b):
                    units.append(Unit(ci, ti, cs, text, rel, _time_at(turn, cs)))
    return units


def _pieces(text: str, a: int, b: int) -> list[tuple[int, str]]:
    seg = text[a:b]
    lead = len(seg) - len(seg.lstrip())
    seg = seg.strip()
    if not seg:
        return []
    out = [(a + lead, seg)]
    words = list(_WORD.finditer(seg))
    if len(words) > _LONG_WORDS:
        for i in range(0, len(words) - _WINDOW + _STRIDE, _STRIDE):
            w = words[i:i + _WINDOW]
            if not w:
                break
            out.append((a + lead + w[0].start(), seg[w[0].start():w[-1].end()]))
    return out


def _time_at(turn, char_start: int) -> float | None:
    if turn.start is None:
        return None
    if turn.words:
        # words carry their own times: take the word at the same share of the turn's words
        share = char_start / max(len(turn.text), 1)
        return round(float(turn.words[min(int(share * len(turn.words)), len(turn.words) - 1)].start), 2)
    if turn.end is not None and turn.end > turn.start:
        return round(turn.start + (turn.end - turn.start) * char_start / max(len(turn.text), 1), 2)
    return round(float(turn.start), 2)


def step_prototypes(script: Script) -> tuple[list[str], list[int]]:
    """Texts standing for each step (title, each example, each sentence of a multi-sentence example)
    and the step index of each."""
    from .language import detect_language, sentence_spans_many

    texts: list[str] = []
    owner: list[int] = []
    for k, step in enumerate(script.steps):
        cands = [step.title]
        for ex in step.examples:
            ex = _PLACEHOLDER.sub(" ", ex).strip(" -—")
            if not ex:
                continue
            cands.append(ex)
            sp = sentence_spans_many([ex], detect_language(ex))[0]
            if len(sp) > 1:
                cands += [ex[a:b].strip() for a, b in sp]
        for t in dict.fromkeys(c for c in cands if c and re.search(r"\w", c)):
            texts.append(t)
            owner.append(k)
    return texts, owner


def script_fingerprint(script: Script) -> str:
    """Identifies a script (a business) so that evaluation can leave its calls out of training."""
    key = json.dumps([[s.step_id, s.title, s.examples] for s in script.steps], ensure_ascii=False)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


# ---- features --------------------------------------------------------------------------
@dataclass
class Matching:
    """Everything computed for one batch of calls against one script."""

    units: list[Unit]
    sims: np.ndarray          # units x steps: best similarity of each unit to each step
    X: np.ndarray             # (calls*steps) x features, row = call * n_steps + step
    best_unit: np.ndarray     # (calls, steps) index into units, -1 when the call has no agent unit
    first_unit: np.ndarray    # (calls, steps) earliest unit scoring near the best one
    n_calls: int
    n_steps: int


def _zscore(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    mu = float(ref.mean()) if ref.size else 0.0
    sd = float(ref.std()) if ref.size > 1 else 0.0
    return (v - mu) / max(sd, 0.02)


def match_calls(calls: Sequence[Call], script: Script, store: "Store | None" = None,
                units: list[Unit] | None = None) -> Matching:
    from .vectors import embed

    units = agent_units(calls) if units is None else units
    texts, owner = step_prototypes(script)
    K, C = len(script.steps), len(calls)
    owner_arr = np.asarray(owner)
    P = embed(texts, store)
    U = embed([u.text for u in units], store) if units else np.zeros((0, P.shape[1]), np.float32)
    raw = U @ P.T
    sims = np.full((len(units), K), -1.0, dtype=np.float32)
    for k in range(K):
        cols = owner_arr == k
        if cols.any():
            sims[:, k] = raw[:, cols].max(axis=1)
    m = _features(units, sims, C, K)
    if units:
        m2 = _features(units, _expand(units, U, sims), C, K)
        m.X[:, _BASE:_BASE + 4] = m2.X[:, [0, 1, 2, 3]]
    m.X[:, _BASE + 4] = math.log(max(C, 1))
    return m


def _excl(sims: np.ndarray) -> np.ndarray:
    """How much each unit prefers each step over its best other step."""
    if sims.shape[1] < 2:
        return np.zeros_like(sims)
    top2 = np.sort(sims, axis=1)[:, -2:]
    return sims - np.where(sims >= top2[:, [1]], top2[:, [0]], top2[:, [1]])


def _expand(units: list[Unit], U: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """units x steps: mean similarity to the nearest confident units of the step in OTHER calls."""
    call_of = np.asarray([u.call for u in units])
    z = (sims - sims.mean(axis=0)) / np.maximum(sims.std(axis=0), 0.02)
    excl = _excl(sims)
    out = sims.copy()
    for k in range(sims.shape[1]):
        cand = np.where((excl[:, k] > 0) & (z[:, k] > _SEED_Z))[0]
        cand = cand[np.argsort(-z[cand, k])][:_SEEDS]
        if cand.size == 0:
            continue
        if np.unique(call_of[cand]).size < 2:
            continue  # seeds from one call only: nothing the other calls could be compared with
        S = U @ U[cand].T
        own = call_of[:, None] == call_of[cand][None, :]
        S[own] = np.nan
        n_valid = np.minimum((~own).sum(axis=1), _SEED_KNN)
        top = -np.sort(np.where(own, np.inf, -S), axis=1)[:, :_SEED_KNN]  # best first, masked last
        top[np.arange(top.shape[1])[None, :] >= n_valid[:, None]] = 0.0
        out[:, k] = np.where(n_valid > 0, top.sum(axis=1) / np.maximum(n_valid, 1), sims[:, k])
    return out


def _features(units: list[Unit], sims: np.ndarray, C: int, K: int) -> Matching:
    F = len(FEATURES)
    X = np.zeros((C, K, F), dtype=np.float32)
    best = np.full((C, K), -1, dtype=np.int64)
    first = np.full((C, K), -1, dtype=np.int64)
    if len(units) == 0:
        return Matching(units, sims, X.reshape(C * K, F), best, first, C, K)
    call_of = np.asarray([u.call for u in units])
    pos = np.asarray([u.rel_pos for u in units], dtype=np.float32)
    mu, sd = sims.mean(axis=0), np.maximum(sims.std(axis=0), 0.02)
    excl = _excl(sims)
    soft = np.exp((sims - sims.max(axis=1, keepdims=True)) / _TEMP)
    soft /= soft.sum(axis=1, keepdims=True)
    p_unit = soft / (1.0 + np.exp(-2.0 * ((sims - mu) / sd - _NOR_Z)))
    argmax = sims.argmax(axis=1)
    step_pos = np.arange(K) / max(K - 1, 1)
    order = np.argsort(call_of, kind="stable")
    bounds = np.searchsorted(call_of[order], np.arange(C + 1))
    for c in range(C):
        idx = order[bounds[c]:bounds[c + 1]]
        if idx.size == 0:
            continue
        s = sims[idx]                                   # units_in_call x K
        # positional prior: among near-equal candidates, prefer the one where the script puts the step
        # (a "thank you" early in the call is rarely the closing)
        adj = s - _POS_PRIOR * np.abs(pos[idx][:, None] - step_pos[None, :])
        bi = adj.argmax(axis=0)
        m = s[bi, np.arange(K)]
        best[c] = idx[bi]
        srt = np.sort(s, axis=0)
        X[c, :, 0] = m
        X[c, :, 1] = (m - mu) / sd
        X[c, :, 3] = excl[idx].max(axis=0)
        X[c, :, 4] = srt[-2:].mean(axis=0) if idx.size > 1 else m
        X[c, :, 5] = np.log1p(np.bincount(argmax[idx], minlength=K))
        X[c, :, 6] = np.abs(pos[idx][bi] - step_pos)
        X[c, :, 7] = np.argsort(np.argsort(-m)) / max(K - 1, 1)
        pref = np.where(excl[idx] >= 0, (s - mu) / sd, -np.inf).max(axis=0)
        X[c, :, 8] = np.where(np.isfinite(pref), pref, 0.0)
        X[c, :, 9] = math.log(idx.size)
        X[c, :, 10] = 1.0 - np.prod(1.0 - p_unit[idx], axis=0)
        near = (adj >= (adj[bi, np.arange(K)] - _FIRST_MARGIN)) & (excl[idx] >= 0)
        first[c] = np.where(near.any(axis=0), idx[near.argmax(axis=0)], idx[bi])
    has = best[:, 0] >= 0
    for k in range(K):
        X[:, k, 2] = _zscore(X[:, k, 0], X[has, k, 0]) if has.sum() > 2 else 0.0
    X[~has] = 0.0
    return Matching(units, sims, X.reshape(C * K, F), best, first, C, K)


# ---- calibration -----------------------------------------------------------------------
class AdherenceCalibrator:
    """Logistic regression from script-independent features to P(step performed).

    scikit-learn style: `fit(X, y)` learns a standardiser and the weights (balanced classes, since
    steps range from rare to near-universal); `predict_proba(X)` is plain numpy so scoring 1,000
    calls costs milliseconds.
    """

    def __init__(self, C: float = 0.05, threshold: float = 0.5):
        self.C = C
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "AdherenceCalibrator":
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 1e-9, X.std(axis=0), 1.0)
        lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000)
        lr.fit((X - self.mean_) / self.scale_, np.asarray(y), sample_weight=sample_weight)
        self.coef_ = lr.coef_[0]
        self.intercept_ = float(lr.intercept_[0])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "C": self.C, "threshold": self.threshold,
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AdherenceCalibrator":
        if list(d.get("features", [])) != list(FEATURES):
            raise InputFormatError("the script-gap calibration was made for other features",
                                   hint="retrain it: python scripts/evaluate.py gaps --train DIR...")
        m = cls(C=d["C"], threshold=d["threshold"])
        m.mean_, m.scale_ = np.asarray(d["mean"]), np.asarray(d["scale"])
        m.coef_, m.intercept_ = np.asarray(d["coef"]), float(d["intercept"])
        return m


class StepAdapter:
    """Per-step recalibration for one script, learned from some of its calls labelled by hand.

    The shipped calibrator knows no script; with labelled calls of *this* script each step gets its own
    logistic model on the shipped score (a per-step threshold), plus the step's features once there are
    `min_calls_features` labelled calls (fewer overfit). Steps whose labels are all one class keep the
    shipped score.
    """

    def __init__(self, C: float = 0.1, min_calls_features: int = 50):
        self.C = C
        self.min_calls_features = min_calls_features

    def _design(self, G: np.ndarray, X: np.ndarray, k: int) -> np.ndarray:
        if self.use_features_:
            return np.column_stack([G[:, k], X[:, k, :]])
        return G[:, [k]]

    def fit(self, G: np.ndarray, X: np.ndarray, Y: np.ndarray) -> "StepAdapter":
        """G: calls x steps shipped decision values; X: calls x steps x features; Y: calls x steps 0/1."""
        G, X, Y = np.asarray(G), np.asarray(X), np.asarray(Y)
        self.use_features_ = len(Y) >= self.min_calls_features
        self.models_: dict[int, AdherenceCalibrator] = {}
        for k in range(Y.shape[1]):
            if Y[:, k].min() != Y[:, k].max():
                self.models_[k] = AdherenceCalibrator(C=self.C).fit(self._design(G, X, k), Y[:, k])
        return self

    def predict_proba(self, G: np.ndarray, X: np.ndarray) -> np.ndarray:
        G, X = np.asarray(G), np.asarray(X)
        out = 1.0 / (1.0 + np.exp(-G))
        for k, m in self.models_.items():
            out[:, k] = m.predict_proba(self._design(G, X, k))[:, 1]
        return out


def load_calibration(path: str | Path | None = None) -> dict[str, Any]:
    p = Path(path) if path else CALIBRATION_PATH
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputFormatError(f"cannot read the script-gap calibration: {e}", path=str(p),
                               hint="reinstall callbridge or retrain it with scripts/evaluate_gaps.py --train") from None


def calibrator_from_file(path: str | Path | None = None, exclude_groups: Sequence[str] = ()) -> AdherenceCalibrator:
    """The shipped calibrator; refitted without `exclude_groups` (script fingerprints) when its
    training table holds calls of those scripts, so a business is never scored by a model that saw it."""
    d = load_calibration(path)
    train = d.get("train") or {}
    groups = train.get("groups") or []
    if exclude_groups and set(exclude_groups) & set(groups):
        keep = np.asarray([g not in set(exclude_groups) for g in groups])
        X = np.asarray(train["X"], dtype=np.float64)[keep]
        y = np.asarray(train["y"])[keep]
        return AdherenceCalibrator(C=d["model"]["C"], threshold=d["model"]["threshold"]).fit(X, y)
    return AdherenceCalibrator.from_dict(d["model"])


# ---- adherence -------------------------------------------------------------------------
def score_adherence(calls: Sequence[Call], script: Script, store: "Store | None" = None,
                    calibrator: AdherenceCalibrator | None = None, matching: Matching | None = None,
                    labels: dict[str, set[str]] | None = None) -> tuple[list[AdherenceRow], Matching]:
    """One row per call and step: present 0/1, probability, evidence sentence, its turn and time.
    `labels` (call_id -> ids of the steps performed, for some calls) adapts each step to this script."""
    m = matching or match_calls(calls, script, store)
    cal = calibrator or calibrator_from_file()
    if not m.n_calls:
        proba = np.zeros((0, m.n_steps))
    else:
        G = cal.decision_function(m.X).reshape(m.n_calls, m.n_steps)
        proba = 1.0 / (1.0 + np.exp(-G))
        lab = [i for i, c in enumerate(calls) if labels and c.call_id in labels]
        if lab:
            Y = np.asarray([[int(s.step_id in labels[calls[i].call_id]) for s in script.steps] for i in lab])
            X3 = m.X.reshape(m.n_calls, m.n_steps, -1)
            proba = StepAdapter().fit(G[lab], X3[lab], Y).predict_proba(G, X3)
    rows = []
    for c, call in enumerate(calls):
        for k, step in enumerate(script.steps):
            p = float(proba[c, k])
            present = int(p >= cal.threshold)
            u = m.best_unit[c, k]
            unit = m.units[u] if u >= 0 else None
            rows.append(AdherenceRow(call.call_id, step.step_id, present, round(p, 4),
                                     unit.text if unit else None, unit.turn if unit else None,
                                     unit.start if unit else None))
    return rows, m


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


def order_issues(calls: Sequence[Call], script: Script, rows: list[AdherenceRow],
                 matching: Matching | None = None) -> tuple[list[OrderIssue], dict[str, int]]:
    """Pairs of performed steps done in the reverse of the script's order (by the turn each first
    appears in: the earliest sentence that prefers the step and scores near its best), and per step
    the calls where it came too early."""
    K = len(script.steps)
    first: dict[str, dict[int, int]] = {}
    for i, r in enumerate(rows):
        if r.present and r.turn is not None:
            u = matching.first_unit[i // K, i % K] if matching is not None else -1
            first.setdefault(r.call_id, {})[i % K] = matching.units[u].turn if u >= 0 else r.turn
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


def step_stats(calls: Sequence[Call], script: Script, rows: list[AdherenceRow],
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


# ---- coverage --------------------------------------------------------------------------
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
    from .vectors import embed

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


# ---- run -------------------------------------------------------------------------------
def run_gaps(store: "Store", script: Script, out_dir: str | Path | None = None,
             calibrator: AdherenceCalibrator | None = None,
             labels: dict[str, set[str]] | None = None, redact: bool = True) -> GapResult:
    """Adherence, order, outcome and coverage for every call in the store. Fills `script_steps`,
    `adherence`, `coverage` and kv `gaps.summary`; writes adherence.csv, steps.csv, order.csv and
    coverage.csv to `out_dir` when given, personal data in their text redacted unless `redact=False`."""
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
        from .redact import Redactor

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
    from .redact import Redactor

    red = redactor if redactor is not None else Redactor()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    titles = {s.step_id: s.title for s in res.steps}
    files = {
        "adherence.csv": _csv_text(
            ["call_id", "step_id", "step_title", "present", "score", "evidence", "turn", "start"],
            [[red.call_id(r.call_id), r.step_id, titles.get(r.step_id, ""), r.present, r.score,
              red.text(r.evidence, call_id=r.call_id, turn=r.turn), r.turn, r.start] for r in res.adherence]),
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
