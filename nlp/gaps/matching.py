"""Matching agent speech with script steps: units, prototypes, and script-independent features.

Every agent sentence (and, for long unpunctuated ASR turns, overlapping word windows) is a *unit*;
every step has *prototypes* (its title and example phrases, split into sentences). Units and
prototypes are embedded with multilingual e5 (`nlp.vectors.embed`, cached in the store). A raw e5
similarity says little on its own: the level differs per step, per script and per language. So each
(call, step) pair gets features that compare across scripts (`FEATURES`): how far the call's best unit
stands above typical agent speech for the step (a shipped background of agent sentences from many
businesses, and the batch itself), how much that unit prefers this step over the script's other steps,
its rank, where it sits in the call against where the script puts the step (not for steps that may come
anywhere, by their kind), lexical overlap, the customer turns around it. `nlp.gaps.calibration` turns them into a probability; it holds no step names or words.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..script import Script
from ..types import Call
from .kinds import any_position, step_kind

if TYPE_CHECKING:
    from ..store import Store

# Long sentences (typical of unpunctuated ASR text) are also cut into overlapping word windows:
# one e5 vector for a 60-word run-on turn blurs the single question that performs a step.
_LONG_WORDS = 22
_WINDOW = 12
_STRIDE = 6
_WORD = re.compile(r"\S+")
_PLACEHOLDER = re.compile(r"\s*(?:\.\.\.|…)\s*")


@dataclass
class Unit:
    """A piece of one agent turn that can perform a step: a sentence or a word window."""

    call: int
    turn: int
    char_start: int
    text: str
    rel_pos: float          # 0 = first agent turn, 1 = last
    start: float | None     # seconds, estimated inside the turn when the turn has times
    whole_turn: bool = False  # a whole multi-sentence turn (matched, never shown as evidence)


def call_language(call: Call) -> str:
    from ..language import norm_lang

    return norm_lang(call.language, " ".join(t.text for t in call.turns[:20]))


def agent_units(calls: Sequence[Call]) -> list[Unit]:
    """Sentences of every agent turn (plus word windows of long ones), in call and turn order."""
    from ..language import sentence_spans_many

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
    from ..language import detect_language, sentence_spans_many

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



def step_prototype_table(script: Script) -> tuple[list[str], np.ndarray, np.ndarray]:
    """`step_prototypes` plus, per text, whether it is the step's title (titles name what a step does,
    examples say it; a call is compared with both)."""
    texts, owner = step_prototypes(script)
    owner_arr = np.asarray(owner, dtype=np.int64)
    is_title = np.zeros(len(texts), dtype=bool)
    for k, step in enumerate(script.steps):
        own = np.flatnonzero(owner_arr == k)
        if own.size and texts[own[0]] == step.title:
            is_title[own[0]] = True
    return texts, owner_arr, is_title


def with_turn_units(calls: Sequence[Call], units: list[Unit]) -> list[Unit]:
    """`units` plus every agent turn that has more than one unit, whole: a step is sometimes said over
    two sentences ("Let's meet at your place. I'll look at the flat and tell you the plan")."""
    count: dict[tuple[int, int], int] = {}
    rel: dict[tuple[int, int], float] = {}
    for u in units:
        count[(u.call, u.turn)] = count.get((u.call, u.turn), 0) + 1
        rel[(u.call, u.turn)] = u.rel_pos
    out = list(units)
    for (c, t), n in count.items():
        if n > 1:
            turn = calls[c].turns[t]
            text = turn.text.strip()
            lead = len(turn.text) - len(turn.text.lstrip())
            out.append(Unit(c, t, lead, text, rel[(c, t)], _time_at(turn, lead), whole_turn=True))
    return out


def customer_turns(calls: Sequence[Call]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(call index, turn index, text) of every non-empty customer turn: objection handling is done when
    the customer objected, and the agent's answer comes right after."""
    rows = [(ci, ti, t.text.strip()) for ci, c in enumerate(calls) for ti, t in enumerate(c.turns)
            if t.speaker == "customer" and t.text.strip()]
    return (np.asarray([r[0] for r in rows], dtype=np.int64), np.asarray([r[1] for r in rows], dtype=np.int64),
            [r[2] for r in rows])


# ---- features --------------------------------------------------------------------------
FEATURES: tuple[str, ...] = (
    "sim_max",          # best e5 similarity of a unit of the call to the step's prototypes (the matched unit)
    "sim_examples",     # ... to its examples only
    "sim_title",        # ... to its title only
    "top2",             # mean of the two best units (a step is often said twice)
    "excl_max",         # best (similarity to this step - to the best other step) over the call's units
    "excl_best",        # the same at the matched unit
    "excl_best_z",      # ... in standard deviations of that margin over the call's units
    "rank_in_unit",     # rank of this step among all steps for the matched unit, 0 = its nearest step
    "step_rank",        # rank of this step's best similarity among all steps in the call, 0 = best
    "center",           # best similarity - the median best similarity of the script's steps in the call
    "z_in_call",        # best similarity in standard deviations above the call's units for the step
    "row_z",            # the matched unit's similarity to this step in SDs above its similarity to all steps
    "n_argmax",         # log1p of the units whose nearest step is this one
    "pos_best",         # relative position of the matched unit in the call (0 first agent turn, 1 last)
    "step_pos",         # relative position of the step in the script
    "pos_gap",          # |pos_best - step_pos|, 0 for any-position steps (objection handling, compliance)
    "pos_window_max",   # best similarity among units within 0.25 of where the script puts the step
    "first_sim",        # best similarity of the first agent turn (greetings)
    "last_sim",         # ... of the last agent turn (closings)
    "best_words",       # log words of the matched unit (short generic lines match everything a little)
    "log_units",        # log agent units in the call
    "log_protos",       # log prototypes of the step
    "intra",            # how alike the step's own examples are (mean best similarity among them)
    "inter",            # the step's highest similarity to another step's prototype (confusable steps)
    "sim_minus_intra",  # sim_max - intra: a call's unit as close to the step as its examples are to each other
    "examples_minus_intra",
    "lexical",          # best TF-IDF character 2-4-gram cosine to the prototypes (exact wording)
    "z_units",          # sim_max in SDs above all agent units of the batch for the step
    "z_calls",          # ... above the other calls' best for the step (0 under 3 calls)
    "exp_sim",          # best similarity to the batch's own confident examples of the step, other calls only
    "exp_z",            # ... in SDs above the batch's units
    "exp_excl",         # ... margin over the best other step
    "log_calls",        # log calls in the batch: batch statistics of small batches say little
    "cust_max",         # best similarity of a customer turn to the step (the customer brought the topic up)
    "cust_z",           # ... in SDs above the batch's customer turns
    "cust_prev_z",      # the customer turn right before the matched unit, in SDs (-2 when none)
    "cust_excl",        # best customer-turn margin for this step over the best other step
)
# The step's kind is not a feature of its own: as one, it learnt that greetings are done in 99% of the
# training calls and stopped seeing skipped greetings. Kinds act through position (`any_position`).

# A matched unit is chosen by similarity minus this much per unit of relative distance between where it
# sits and where the script puts the step: among near-equal candidates, a "thank you" early in the call is
# rarely the closing. Not for any-position steps.
_POS_PRIOR = 0.04
# Order: a step counts as performed at the first unit scoring within this margin of its matched one.
_FIRST_MARGIN = 0.03
# Evidence: a unit whose nearest step is another one is passed over for one that prefers this step and
# scores within this margin of it.
_EVIDENCE_MARGIN = 0.03
_POS_WINDOW = 0.25
# Transductive prototypes: per step, up to _SEEDS units of the batch that prefer the step and stand
# _SEED_Z SDs above typical become extra examples; a call is compared with those of other calls only
# (agents' wording of a step is closer to other agents' wording than to the script's). Uses no labels.
_SEEDS = 20
_SEED_Z = 1.5
_SEED_KNN = 3
_MIN_SD = 0.02


@dataclass
class Matching:
    """Everything computed for one batch of calls against one script."""

    units: list[Unit]
    sims: np.ndarray          # units x steps: best similarity of each unit to each step's prototypes
    X: np.ndarray             # (calls*steps) x len(FEATURES), row = call * n_steps + step
    best_unit: np.ndarray     # (calls, steps) the matched unit (index into units), -1 without agent speech
    evidence_unit: np.ndarray  # (calls, steps) the sentence shown as evidence (never a whole multi-sentence turn)
    first_unit: np.ndarray    # (calls, steps) earliest unit preferring the step and scoring near the matched one
    n_calls: int
    n_steps: int
    kinds: list[str]


def _per_step(raw: np.ndarray, owner: np.ndarray, K: int, mask: np.ndarray | None = None) -> np.ndarray:
    out = np.full((raw.shape[0], K), -1.0, dtype=np.float32)
    for k in range(K):
        cols = owner == k if mask is None else (owner == k) & mask
        if cols.any():
            out[:, k] = raw[:, cols].max(axis=1)
    return out


def _excl(sims: np.ndarray) -> np.ndarray:
    """How much each row prefers each step over its best other step."""
    if sims.shape[1] < 2:
        return np.zeros_like(sims)
    top2 = np.sort(sims, axis=1)[:, -2:]
    return sims - np.where(sims >= top2[:, [1]], top2[:, [0]], top2[:, [1]])


def _expand(call_of: np.ndarray, U: np.ndarray, sims: np.ndarray, excl: np.ndarray) -> np.ndarray:
    """units x steps: mean similarity to the nearest confident units of the step in OTHER calls."""
    z = (sims - sims.mean(axis=0)) / np.maximum(sims.std(axis=0), _MIN_SD)
    out = sims.copy()
    for k in range(sims.shape[1]):
        cand = np.flatnonzero((excl[:, k] > 0) & (z[:, k] > _SEED_Z))
        cand = cand[np.argsort(-z[cand, k])][:_SEEDS]
        if cand.size == 0 or np.unique(call_of[cand]).size < 2:
            continue  # seeds from one call only: nothing the other calls could be compared with
        S = U @ U[cand].T
        own = call_of[:, None] == call_of[cand][None, :]
        n_valid = np.minimum((~own).sum(axis=1), _SEED_KNN)
        top = -np.sort(np.where(own, np.inf, -S), axis=1)[:, :_SEED_KNN]  # best first, own calls last
        top[np.arange(top.shape[1])[None, :] >= n_valid[:, None]] = 0.0
        out[:, k] = np.where(n_valid > 0, top.sum(axis=1) / np.maximum(n_valid, 1), sims[:, k])
    return out


def _lexical(units: list[Unit], texts: list[str], owner: np.ndarray, K: int) -> np.ndarray:
    """units x steps: best TF-IDF character 2-4-gram cosine to the step's prototypes (one pass over the
    texts: IDF from the units and prototypes together). Whole turns get -1: their sentences are units
    already, and analysing them again would double the cost."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    keep = [i for i, u in enumerate(units) if not u.whole_turn]
    out = np.full((len(units), K), -1.0, dtype=np.float32)
    if not keep:
        return out
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
    M = vec.fit_transform([units[i].text for i in keep] + texts)
    out[keep] = _per_step((M[:len(keep)] @ M[len(keep):].T).toarray(), owner, K)
    return out


def _step_spread(P: np.ndarray, owner: np.ndarray, is_title: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step: how alike its examples are (intra) and how close it comes to another step (inter)."""
    PP = P @ P.T
    intra = np.full(K, np.nan)
    inter = np.zeros(K)
    for k in range(K):
        own, other = np.flatnonzero(owner == k), np.flatnonzero(owner != k)
        ex = own[~is_title[own]] if (~is_title[own]).sum() >= 2 else own
        if ex.size >= 2:
            sub = PP[np.ix_(ex, ex)].copy()
            np.fill_diagonal(sub, -1.0)
            intra[k] = sub.max(axis=1).mean()
        inter[k] = PP[np.ix_(own, other)].max() if own.size and other.size else 0.0
    fill = float(np.nanmean(intra)) if np.isfinite(intra).any() else 0.85
    return np.where(np.isnan(intra), fill, intra), inter


def match_calls(calls: Sequence[Call], script: Script, store: "Store | None" = None,
                units: list[Unit] | None = None) -> Matching:
    """Units, similarities and `FEATURES` for every (call, step) of a batch. Embeds agent units, customer
    turns and prototypes with e5 through the store's cache (`store=None`: no cache)."""
    from ..vectors import embed

    units = with_turn_units(calls, agent_units(calls) if units is None else units)
    texts, owner, is_title = step_prototype_table(script)
    K, C = len(script.steps), len(calls)
    kinds = [step_kind(s.step_id, s.title) for s in script.steps]
    X = np.zeros((C, K, len(FEATURES)), dtype=np.float32)
    best = np.full((C, K), -1, dtype=np.int64)
    if not units:
        return Matching(units, np.zeros((0, K), np.float32), X.reshape(C * K, len(FEATURES)), best, best.copy(),
                        best.copy(), C, K, kinds)
    P = embed(texts, store)
    U = embed([u.text for u in units], store)
    cust_call, cust_turn, cust_texts = customer_turns(calls)
    V = embed(cust_texts, store) if cust_texts else np.zeros((0, P.shape[1]), np.float32)
    raw = U @ P.T
    S = _per_step(raw, owner, K)
    Se = _per_step(raw, owner, K, ~is_title)
    Se = np.where(Se < -0.5, S, Se)
    St = _per_step(raw, owner, K, is_title)
    lex = _lexical(units, texts, owner, K)
    CS = _per_step(V @ P.T, owner, K)
    c_mu, c_sd = (CS.mean(axis=0), np.maximum(CS.std(axis=0), _MIN_SD)) if len(CS) else (0.0, 1.0)
    c_excl = _excl(CS)
    call_of = np.asarray([u.call for u in units])
    pos = np.asarray([u.rel_pos for u in units], dtype=np.float32)
    words = np.asarray([max(len(u.text.split()), 1) for u in units], dtype=np.float32)
    mu, sd = S.mean(axis=0), np.maximum(S.std(axis=0), _MIN_SD)
    excl = _excl(S)
    Sx = _expand(call_of, U, S, excl) if C > 1 else S
    x_excl, x_mu, x_sd = _excl(Sx), Sx.mean(axis=0), np.maximum(Sx.std(axis=0), _MIN_SD)
    row_z = (S - S.mean(axis=1, keepdims=True)) / np.maximum(S.std(axis=1, keepdims=True), 0.01)
    rank_u = np.argsort(np.argsort(-S, axis=1), axis=1) / max(K - 1, 1)
    nearest = S.argmax(axis=1)
    intra, inter = _step_spread(P, owner, is_title, K)
    step_pos = np.arange(K) / max(K - 1, 1)
    free = np.asarray([any_position(s.step_id, s.title) for s in script.steps])
    prior = _POS_PRIOR * (~free)[None, :]
    n_protos = np.log(np.maximum(np.bincount(owner, minlength=K), 1))
    ar = np.arange(K)
    first = best.copy()
    evidence = best.copy()
    F = {f: i for i, f in enumerate(FEATURES)}
    order = np.argsort(call_of, kind="stable")
    bounds = np.searchsorted(call_of[order], np.arange(C + 1))
    cust_order = np.argsort(cust_call, kind="stable")
    cust_bounds = np.searchsorted(cust_call[cust_order], np.arange(C + 1))
    for c in range(C):
        idx = order[bounds[c]:bounds[c + 1]]
        if idx.size == 0:
            continue
        s = S[idx]
        adj = s - prior * np.abs(pos[idx][:, None] - step_pos[None, :])
        bi = adj.argmax(axis=0)
        m = s[bi, ar]
        best[c] = idx[bi]
        x = X[c]
        x[:, F["sim_max"]] = m
        x[:, F["sim_examples"]] = Se[idx].max(axis=0)
        x[:, F["sim_title"]] = St[idx].max(axis=0)
        x[:, F["top2"]] = np.sort(s, axis=0)[-2:].mean(axis=0) if idx.size > 1 else m
        x[:, F["excl_max"]] = excl[idx].max(axis=0)
        x[:, F["excl_best"]] = excl[idx][bi, ar]
        x[:, F["excl_best_z"]] = excl[idx][bi, ar] / np.maximum(excl[idx].std(axis=0), 0.01)
        x[:, F["rank_in_unit"]] = rank_u[idx][bi, ar]
        x[:, F["step_rank"]] = np.argsort(np.argsort(-m)) / max(K - 1, 1)
        x[:, F["center"]] = m - np.median(m)
        x[:, F["z_in_call"]] = (m - s.mean(axis=0)) / np.maximum(s.std(axis=0), _MIN_SD) if idx.size > 1 else 0.0
        x[:, F["row_z"]] = row_z[idx][bi, ar]
        x[:, F["n_argmax"]] = np.log1p(np.bincount(nearest[idx], minlength=K))
        x[:, F["pos_best"]] = pos[idx][bi]
        x[:, F["step_pos"]] = step_pos
        x[:, F["pos_gap"]] = np.abs(pos[idx][bi] - step_pos) * (~free)
        near = (np.abs(pos[idx][:, None] - step_pos[None, :]) <= _POS_WINDOW) | free[None, :]
        x[:, F["pos_window_max"]] = np.where(near, s, -1.0).max(axis=0)
        x[:, F["first_sim"]] = s[pos[idx] <= pos[idx].min() + 1e-6].max(axis=0)
        x[:, F["last_sim"]] = s[pos[idx] >= pos[idx].max() - 1e-6].max(axis=0)
        x[:, F["best_words"]] = np.log(words[idx][bi])
        x[:, F["log_units"]] = math.log(idx.size)
        x[:, F["log_protos"]] = n_protos
        x[:, F["intra"]] = intra
        x[:, F["inter"]] = inter
        x[:, F["sim_minus_intra"]] = m - intra
        x[:, F["examples_minus_intra"]] = x[:, F["sim_examples"]] - intra
        x[:, F["lexical"]] = lex[idx].max(axis=0)
        x[:, F["z_units"]] = (m - mu) / sd
        mx = Sx[idx].max(axis=0)
        x[:, F["exp_sim"]] = mx
        x[:, F["exp_z"]] = (mx - x_mu) / x_sd
        x[:, F["exp_excl"]] = x_excl[idx].max(axis=0)
        x[:, F["log_calls"]] = math.log(C)
        ci = cust_order[cust_bounds[c]:cust_bounds[c + 1]]
        x[:, F["cust_prev_z"]] = -2.0
        if ci.size:
            cs = CS[ci]
            x[:, F["cust_max"]] = cs.max(axis=0)
            x[:, F["cust_z"]] = (cs.max(axis=0) - c_mu) / c_sd
            x[:, F["cust_excl"]] = c_excl[ci].max(axis=0)
            turns = cust_turn[ci]
            for k in range(K):
                before = ci[turns < units[best[c, k]].turn]
                if before.size:
                    x[k, F["cust_prev_z"]] = (CS[before[-1], k] - c_mu[k]) / c_sd[k]
        # order: the earliest unit that prefers the step and scores near the matched one
        close = (adj >= adj[bi, ar] - _FIRST_MARGIN) & (excl[idx] >= 0)
        first[c] = np.where(close.any(axis=0), idx[close.argmax(axis=0)], idx[bi])
        evidence[c] = _evidence(idx, adj, excl, bi, units)
    has = best[:, 0] >= 0
    zc = F["z_calls"]
    for k in range(K):
        v = X[has, k, F["sim_max"]]
        X[:, k, zc] = (X[:, k, F["sim_max"]] - v.mean()) / max(float(v.std()), _MIN_SD) if has.sum() > 2 else 0.0
    X[~has] = 0.0  # no agent speech: nothing matched
    return Matching(units, S, X.reshape(C * K, len(FEATURES)), best, evidence, first, C, K, kinds)


def _evidence(idx: np.ndarray, adj: np.ndarray, excl: np.ndarray, bi: np.ndarray, units: list[Unit]) -> np.ndarray:
    """Per step, the unit shown as evidence: the matched one, unless a unit that prefers this step over
    every other scores within `_EVIDENCE_MARGIN` of it; a whole multi-sentence turn is replaced by its best
    sentence, so the evidence is what the agent said that performs the step, not the turn around it."""
    K = adj.shape[1]
    out = np.empty(K, dtype=np.int64)
    sentence = np.asarray([not units[i].whole_turn for i in idx])
    turn = np.asarray([units[i].turn for i in idx])
    for k in range(K):
        ok = sentence & (adj[:, k] >= adj[bi[k], k] - _EVIDENCE_MARGIN)
        pick = ok & (excl[idx, k] >= 0)
        if not pick.any():
            pick = ok
        if not pick.any():
            pick = sentence & (turn == turn[bi[k]])
        if not pick.any():
            pick = np.arange(len(idx)) == bi[k]
        out[k] = idx[np.flatnonzero(pick)[adj[pick, k].argmax()]]
    return out
