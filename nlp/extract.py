"""Extraction: what the customer said, sorted into opening, motive, need, objection, question.

Pipeline per call:
  1. units: every customer turn is cut into sentence-like units (`nlp.language.analyze`; speech-
     recogniser text without punctuation is cut at discourse markers kept as data);
  2. features: cue groups from `rules/extract_<lang>.json` (the same group names in every
     language: wanting, must-haves, budget words, price shock, partner, doubt, purpose, life
     events...), the same groups for the agent turn just before (did the agent ask "what for?",
     quote a price, propose a booking?), position in the call and turn, length, question form,
     negation and hedging. These features mean the same thing in Russian and English, so a model
     trained on Russian calls still works on English ones; hashed lemma n-grams add vocabulary
     where the language has training data;
  3. kinds: `StatementClassifier` (scikit-learn) when a trained model is available
     (`models/extractor-default.joblib` ships with the package), otherwise weighted cue rules;
  4. opening: the first substantive customer unit (greetings, "алло", names and yes/no skipped),
     none when the call looks like a wrong number or a robot;
  5. question: customer units in question form (rules; they feed FAQ pages).

Dense e5 embeddings would be the obvious cross-lingual feature but run at ~10-30 sentences/s
on two shared cores; the cue groups give the cross-lingual signal at thousands of sentences/s.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .errors import ModelError
from .language import Analysis, analyze, lemmas, norm_lang
from .types import Call, Statement

if TYPE_CHECKING:
    from .store import Store

RULES_DIR = Path(__file__).with_name("rules")
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS_DIR / "extractor-default.joblib"
LABEL_KINDS: tuple[str, ...] = ("motive", "need", "objection")
NONE = "none"
_WORD = re.compile(r"\w+", re.U)


# ---- rules ------------------------------------------------------------------------------------
class CueRules:
    """Cue patterns of one language, compiled for fast matching over lemma sequences."""

    def __init__(self, lang: str):
        self.lang = lang
        path = RULES_DIR / f"extract_{lang}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError(f"cannot read extraction rules: {e}", path=str(path)) from None
        self.customer_groups = sorted(data["customer"])
        self.agent_groups = sorted(data["agent"])
        self._cust = self._compile(data["customer"])
        # single words a unit may start with that carry nothing ("алло да здравствуйте мне бы...",
        # "yeah hi um i'm calling..."): trimmed off the front of every unit
        self.lead_skip = frozenset((lemmas(p, lang) or [p])[0] for g in ("greeting", "ack", "filler")
                                   for p in data["customer"].get(g, []) if " " not in p.strip())
        self._agent = self._compile(data["agent"])
        self.question_lead = frozenset((lemmas(w, lang) or [w])[0] for w in data.get("agent_question", []))
        self.echo_ignore = frozenset((lemmas(w, lang) or [w])[0] for w in data.get("echo_ignore", []))

    def _compile(self, groups: dict[str, list[str]]):
        by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        by_stem: dict[str, list[tuple[tuple[str, ...], str]]] = {}  # trailing-* first words, by 3 letters
        for g, pats in groups.items():
            for p in pats:
                words = p.lower().split()
                if not words:
                    continue
                if any(w.endswith("*") for w in words):
                    pat = tuple(w if w.endswith("*") else (lemmas(w, self.lang) or [w])[0] for w in words)
                else:  # whole phrase, so contractions split the same way as in the text
                    pat = tuple(lemmas(p.lower(), self.lang)) or tuple(words)
                if pat[0].endswith("*"):
                    by_stem.setdefault(pat[0][:3], []).append((pat, g))
                else:
                    by_first.setdefault(pat[0], []).append((pat, g))
        return by_first, by_stem

    @staticmethod
    def _tok_ok(p: str, lem: str, low: str) -> bool:
        if p.endswith("*"):
            return lem.startswith(p[:-1]) or low.startswith(p[:-1])
        return p == lem or p == low

    def count(self, lem: Sequence[str], low: Sequence[str], agent: bool = False) -> dict[str, int]:
        by_first, by_stem = self._agent if agent else self._cust
        out: dict[str, int] = {}
        n = len(lem)
        ok = self._tok_ok
        for i in range(n):
            li, wi = lem[i], low[i]
            cands = by_first.get(li)
            if wi != li and wi in by_first:
                cands = (cands or []) + by_first[wi]
            st = by_stem.get(li[:3]) or by_stem.get(wi[:3])
            if st:
                cands = (cands or []) + [x for x in st if ok(x[0][0], li, wi)]
            if not cands:
                continue
            for pat, g in cands:
                k = len(pat)
                if k == 1 or (i + k <= n and all(ok(pat[j], lem[i + j], low[i + j]) for j in range(1, k))):
                    out[g] = out.get(g, 0) + 1
        return out


@lru_cache(maxsize=4)
def get_rules(lang: str) -> CueRules:
    return CueRules(lang)


# ---- units ------------------------------------------------------------------------------------
@dataclass
class Unit:
    """A candidate statement: one sentence-like piece of a customer turn, with its features."""

    call_id: str
    turn: int
    char_start: int
    char_end: int
    text: str
    lang: str
    start: float | None
    feats: dict[str, float] = field(default_factory=dict)
    lemmas: list[str] = field(default_factory=list)
    # the agent's last sentence before this customer turn ("" when the customer speaks first): a
    # short answer ("non-stop", «двухкомнатную») is a need only because of what was asked
    context: str = ""
    # dense vectors (e5) of `text` and `context`, filled by `embed_units` before the classifier runs
    vec: "np.ndarray | None" = None
    ctx_vec: "np.ndarray | None" = None


_POS_FEATS = ("pos_rel", "turn_ord", "first_cust_turn", "sent_idx", "sent_last", "sent_n", "n_words",
              "log_words", "qmark", "q_start", "digits", "turn_words", "after_agent_q", "short",
              "unpunct", "lang_en", "num_share", "call_outbound", "agent_first")


def feature_names(lang_groups: CueRules) -> list[str]:
    g = lang_groups
    return ([f"c_{x}" for x in g.customer_groups] + [f"t_{x}" for x in g.customer_groups] +
            [f"p_{x}" for x in g.customer_groups] + [f"a_{x}" for x in g.agent_groups] +
            [f"al_{x}" for x in g.agent_groups] + list(_POS_FEATS))


def call_language(call: Call) -> str:
    return norm_lang(call.language, " ".join(t.text for t in call.turns[:20]))


def call_units(calls: Sequence[Call]) -> list[list[Unit]]:
    """Units with features for each call (customer turns only), in turn order."""
    by_lang: dict[str, list[int]] = {}
    for i, c in enumerate(calls):
        by_lang.setdefault(call_language(c), []).append(i)
    out: list[list[Unit]] = [[] for _ in calls]
    for lang, idx in by_lang.items():
        texts = [t.text for i in idx for t in calls[i].turns]
        analyses = analyze(texts, lang) if texts else []
        pos = 0
        for i in idx:
            n = len(calls[i].turns)
            out[i] = _units_of_call(calls[i], analyses[pos:pos + n], get_rules(lang), lang)
            pos += n
    return out


def _units_of_call(call: Call, ans: list[Analysis], rules: CueRules, lang: str) -> list[Unit]:
    units: list[Unit] = []
    n_turns = max(len(call.turns), 1)
    cust_ord = 0
    last_agent: tuple[dict[str, int], dict[str, int], bool] = ({}, {}, False)
    # Speech-recogniser transcripts have no "?": an unpunctuated agent sentence with a question word
    # ("which account would you like to check") asks all the same. Kept apart from `after_agent_q`,
    # which the shipped model was trained with, and used by `context_kind` only.
    asked_unpunct = False
    ask_lemmas: frozenset[str] = frozenset()
    context = ""
    # call-level: did the agent place the call ("I'm calling from...", «вы оставляли заявку»)? Then
    # the customer's first words answer the agent and are an opening only if they state a reason.
    outbound = 0
    agent_words = 0
    for turn, an in list(zip(call.turns, ans))[:3]:
        if turn.speaker == "customer" or agent_words > 3:  # the agent's first words: "алло" + the next turn
            continue
        lem = [t.lemma for t in an.tokens if not t.is_punct]
        got = rules.count(lem, [t.lower for t in an.tokens if not t.is_punct], agent=True)
        if got.get("inbound"):
            outbound = 0
            break
        outbound += got.get("outbound", 0)
        agent_words += len(lem)
    for ti, (turn, an) in enumerate(zip(call.turns, ans)):
        if turn.speaker != "customer":
            lem = [t.lemma for t in an.tokens if not t.is_punct]
            low = [t.lower for t in an.tokens if not t.is_punct]
            whole = rules.count(lem, low, agent=True)
            last_u = an.units[-1] if an.units else None
            last_counts: dict[str, int] = {}
            is_q = False
            if last_u:
                toks = [t for t in an.tokens[last_u[0]:last_u[1]]]
                last_counts = rules.count([t.lemma for t in toks if not t.is_punct],
                                          [t.lower for t in toks if not t.is_punct], agent=True)
                is_q = any(t.text == "?" for t in toks)
                cs0, ce0 = an.unit_span(last_u)
                context = turn.text[cs0:ce0]
                ask_lemmas = frozenset(t.lemma for t in toks if not t.is_punct and len(t.lemma) >= 4)
                asked_unpunct = (not any(t.is_punct for t in an.tokens) and
                                 any(t.lemma in rules.question_lead for t in toks))
            last_agent = (whole, last_counts, is_q)
            continue
        if not an.units:
            continue
        tl = [t.lemma for t in an.tokens if not t.is_punct]
        # turn-level cue counts: matched once over the whole turn, units take theirs from the same pass
        tw = [t.lower for t in an.tokens if not t.is_punct]
        turn_counts = rules.count(tl, tw)
        unpunct = not any(t.is_punct for t in an.tokens)
        prev_counts: dict[str, int] = {}
        for si, u in enumerate(an.units):
            a, b = u
            while b - a > 2 and (an.tokens[a].is_punct or an.tokens[a].lemma in rules.lead_skip) and \
                    sum(1 for t in an.tokens[a + 1:b] if not t.is_punct) >= 2:
                a += 1
            while a < b and an.tokens[a].is_punct:
                a += 1
            u = (a, b)
            toks = an.tokens[a:b]
            words = [t for t in toks if not t.is_punct]
            if not words:
                continue
            lem = [t.lemma for t in words]
            low = [t.lower for t in words]
            counts = rules.count(lem, low)
            cs, ce = an.unit_span(u)
            f: dict[str, float] = {}
            for g, v in counts.items():
                f[f"c_{g}"] = min(v, 3)
            for g, v in turn_counts.items():
                f[f"t_{g}"] = min(v - counts.get(g, 0), 3)
            for g, v in prev_counts.items():
                f[f"p_{g}"] = min(v, 3)
            for g, v in last_agent[0].items():
                f[f"a_{g}"] = min(v, 3)
            for g, v in last_agent[1].items():
                f[f"al_{g}"] = min(v, 3)
            nw = len(words)
            f.update({
                "pos_rel": ti / n_turns, "turn_ord": min(cust_ord, 10) / 10, "first_cust_turn": float(cust_ord == 0),
                "sent_idx": min(si, 5) / 5, "sent_last": float(si == len(an.units) - 1),
                "sent_n": min(len(an.units), 6) / 6, "n_words": min(nw, 40) / 40, "log_words": math.log1p(nw) / 4,
                "qmark": float(any(t.text == "?" for t in toks)),
                "q_start": float(bool(counts.get("question_word")) and
                                 lem[0] in rules_q_first(rules)),
                "digits": float(any(any(ch.isdigit() for ch in t.text) for t in words)),
                "turn_words": min(len(tl), 80) / 80, "after_agent_q": float(last_agent[2]),
                "short": float(nw <= 3), "unpunct": float(unpunct), "lang_en": float(lang == "en"),
                "call_outbound": float(min(outbound, 2)), "agent_first": float(call.turns[0].speaker != "customer"),
                "num_share": min(1.0, (counts.get("number_word", 0) +
                                       sum(1 for t in words if any(ch.isdigit() for ch in t.text))) / nw),
                # not model features (not in _POS_FEATS): read by `context_kind`
                "asked_unpunct": float(asked_unpunct and unpunct),
                "echo": float(sum(1 for x in set(lem) if x in ask_lemmas and x not in rules.echo_ignore
                                  and x not in rules.question_lead)),
            })
            u = Unit(call.call_id, ti, cs, ce, turn.text[cs:ce], lang, turn.start, f, lem, context)
            for k, v in rule_scores(u).items():
                f[f"r_{k}"] = v
            units.append(u)
            prev_counts = counts
        cust_ord += 1
    return units


@lru_cache(maxsize=4)
def _q_first_cache(lang: str) -> frozenset[str]:
    data = json.loads((RULES_DIR / f"extract_{lang}.json").read_text(encoding="utf-8"))
    return frozenset((lemmas(p, lang) or [p])[0] for p in data["customer"].get("question_word", []) if " " not in p)


def rules_q_first(rules: CueRules) -> frozenset[str]:
    return _q_first_cache(rules.lang)


# ---- rules-only scoring -----------------------------------------------------------------------
# Hand weights used when no trained model is available: each kind sums the cue groups that
# signal it, plus what the agent just asked. Kept small and readable on purpose.
RULE_WEIGHTS: dict[str, dict[str, float]] = {
    "motive": {"c_purpose": 0.6, "c_life_event": 1.2, "c_family": 0.7, "c_problem": 0.8, "c_want": 0.3,
               "a_ask_motive": 1.5, "al_ask_motive": 1.0},
    "need": {"c_need_modal": 1.2, "c_constraint": 0.9, "c_budget": 0.6, "c_deadline": 0.5, "c_preference": 0.8,
             "c_schedule": 0.6, "c_inability": 0.5, "c_want": 0.6, "a_ask_need": 0.5, "al_ask_need": 0.8},
    "objection": {"c_refusal": 1.7, "c_price_high": 1.3, "c_cheaper_elsewhere": 1.3, "c_doubt": 1.0, "c_partner": 0.9,
                  "c_delay": 0.8, "c_time_long": 0.6, "c_payoff": 0.8, "a_price_info": 0.4, "a_propose": 0.4,
                  "c_positive": -0.8, "c_already": 0.4},
}
RULE_THRESHOLD = 1.6
# the customer cue groups that speak for a kind (read by `context_kind`)
_CUES_OF: dict[str, tuple[str, ...]] = {k: tuple(g for g, w in ws.items() if g.startswith("c_") and w > 0)
                                        for k, ws in RULE_WEIGHTS.items() if k != "need"}


def rule_proba(u: "Unit", classes: Sequence[str], temp: float = 1.0) -> np.ndarray:
    """Rule scores as a distribution over `classes`; "none" scores the rule threshold."""
    sc = rule_scores(u)
    r = np.array([sc.get(c, RULE_THRESHOLD) if c != NONE else RULE_THRESHOLD for c in classes], dtype=float)
    r = np.exp((r - r.max()) / temp)
    return r / r.sum()
_SKIP = ("c_greeting", "c_ack", "c_farewell")


def rule_scores(u: Unit) -> dict[str, float]:
    f = u.feats
    out = {k: sum(w * f.get(g, 0.0) for g, w in ws.items()) for k, ws in RULE_WEIGHTS.items()}
    if f.get("n_words", 0) * 40 <= 3:
        # a bare "yes" or "ok" says nothing, but a short refusal ("no thank you", "not really") is
        # still a refusal: keep the objection score when the refusal cue covers the unit
        out = {k: v - (0.0 if k == "objection" and f.get("c_refusal") else 1.5) for k, v in out.items()}
    return out


# ---- what is never a statement ----------------------------------------------------------------
# Kinds of customer units that real calls are full of and that carry no motive, need or objection,
# whatever a classifier trained on a few businesses thinks (see data/train/GUIDE.md, "Not labelled").
_CONTENT = ("c_price_high", "c_cheaper_elsewhere", "c_doubt", "c_partner", "c_delay", "c_need_modal",
            "c_constraint", "c_budget", "c_preference", "c_purpose", "c_life_event", "c_problem", "c_want")


def non_statement(u: Unit) -> str | None:
    """Why unit `u` can be no motive/need/objection, or None when it may be one.

    Reasons: "closing" ("no thanks, that's all" after "anything else?"), "meta" ("I have two
    questions"), "identity" (a name, address, number or spelling the agent asked for), "dictation"
    (a run of number words with no need asked for).
    """
    f = u.feats
    nw = round(f.get("n_words", 0) * 40)
    content = sum(f.get(g, 0) for g in _CONTENT)
    if f.get("c_closing") and nw <= 12 and not (content - f.get("c_need_modal", 0) - f.get("c_want", 0)):
        return "closing"
    if f.get("c_meta") and nw <= 8 and not (f.get("c_price_high") or f.get("c_doubt")):
        return "meta"
    asked_id = f.get("al_ask_identity", 0) or (f.get("a_ask_identity", 0) and not f.get("al_ask_need", 0))
    if asked_id and not content and (f.get("num_share", 0) >= 0.3 or f.get("c_spelling") or nw <= 6):
        return "identity"
    if f.get("c_spelling") and not content:
        return "identity"
    if f.get("num_share", 0) >= 0.8 and not (f.get("al_ask_need") or f.get("a_ask_need") or f.get("c_budget")):
        return "dictation"
    return None


_ANSWER_NOT = ("c_ack", "c_refusal", "c_closing", "c_greeting", "c_farewell", "c_name_intro")


def context_kind(u: Unit, kind: str) -> str:
    """The kind after what the agent just asked, for two kinds of units a sentence model misreads.

    * A short answer to a question about the offer ("Nonstop, or is a layover OK?" "Non-stop.";
      «Однокомнатную или двухкомнатную?» «Двухкомнатную.») states a requirement: a need.
    * After "what's the reason?", a life event or purpose told with "I have to" ("I got to get
      to a funeral") is why they buy: a motive, not a need.
    """
    f = u.feats
    nw = round(f.get("n_words", 0) * 40)
    asked_need = f.get("al_ask_need", 0) or f.get("al_choice", 0)
    asked = f.get("after_agent_q", 0) or f.get("asked_unpunct", 0)
    # a longer answer is still an answer when it names what was asked ("the amount is sixty nine
    # dollars" after "what is the transfer amount") or is mostly a number (a time, a sum)
    # dictated digits (num_share >= 0.75: a phone or card number) are not
    answer = nw <= 4 or (nw <= 8 and f.get("num_share", 0) < 0.75 and
                         (f.get("echo", 0) or f.get("num_share", 0) >= 0.25))
    if (answer and asked_need and asked and not f.get("al_ask_identity")
            and not f.get("al_ask_name") and not any(f.get(g) for g in _ANSWER_NOT)):
        if kind == NONE:
            return "need"
        # "a hundred and forty three dollars" after "what is the bill amount?" is the amount asked
        # for, not a price objection: a bare answer keeps another kind only with that kind's cues
        if kind in _CUES_OF and not any(f.get(g, 0) > 0 for g in _CUES_OF[kind]):
            return "need"
    if (kind == "need" and (f.get("al_ask_motive", 0) or f.get("a_ask_motive", 0))
            and (f.get("c_life_event", 0) or f.get("c_purpose", 0) or f.get("c_problem", 0))
            and not (f.get("c_budget", 0) or f.get("c_deadline", 0) or f.get("c_preference", 0))):
        return "motive"
    return kind


# ---- the classifier ---------------------------------------------------------------------------
class StatementClassifier:
    """Kinds of customer units ("motive", "need", "objection" or "none") from dense and cue features.

    Features per unit (rows of one matrix):
      * the e5 vector of the unit's text (384 floats, `Unit.vec`): what it says, in any language;
      * the e5 vector of the agent's last sentence before it (`Unit.ctx_vec`, zeros when none): what was
        asked, so "non-stop" after "nonstop or a layover?" reads as a need;
      * cue-group counts, the agent's cue groups and position features (`Unit.feats`), standardised
        and scaled by `cue_scale`;
      * hashed lemma n-grams (`lexical`, scaled by `lex_scale`): the words themselves; with 47
        businesses in training they add +0.03 macro F1 across held-out businesses over vectors
        and cues alone (grouped 8-fold CV, README).
    Logistic regression over them; `kind_weights_` rescale the class probabilities before the argmax
    (chosen by grouped inner cross-validation when `tune_thresholds`).

    scikit-learn style: parameters in `__init__`, `fit(units, y)` returns self, learned state ends in
    `_`. Units without vectors are embedded on the way (`embed_units`, no cache): embed them with
    a store first to reuse the vectors.
    """

    def __init__(self, C: float = 0.5, dense: bool = True, context: bool = True, lexical: bool = True,
                 n_features: int = 2 ** 16, class_weight: str | None = "balanced", rule_weight: float = 0.0,
                 rule_temp: float = 1.0, lex_scale: float = 8.0, cue_scale: float = 0.3,
                 tune_thresholds: bool = False, inner_folds: int = 4, seed: int = 0):
        self.C = C
        self.dense = dense
        self.context = context
        self.lexical = lexical
        self.n_features = n_features
        self.class_weight = class_weight
        # Share of the hand-weighted cue rules blended into the learned probabilities; useful only
        # when the training calls are few (the first version used 0.5 on 23 calls).
        self.rule_weight = rule_weight
        self.rule_temp = rule_temp
        self.lex_scale = lex_scale
        self.cue_scale = cue_scale
        self.tune_thresholds = tune_thresholds
        self.inner_folds = inner_folds
        self.seed = seed

    _PARAMS = ("C", "dense", "context", "lexical", "n_features", "class_weight", "rule_weight", "rule_temp",
               "lex_scale", "cue_scale", "tune_thresholds", "inner_folds", "seed")

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **p) -> "StatementClassifier":
        for k, v in p.items():
            setattr(self, k, v)
        return self

    def _matrix(self, units: Sequence[Unit]):
        from scipy import sparse

        cue = np.zeros((len(units), len(self.feature_names_)), dtype=np.float32)
        col = self._col_
        for i, u in enumerate(units):
            for k, v in u.feats.items():
                j = col.get(k)
                if j is not None:
                    cue[i, j] = v
        cue = (cue - self.cue_mean_) / self.cue_std_ * self.cue_scale
        mats = [sparse.csr_matrix(cue)]
        if self.dense:
            embed_units(units)  # a no-op for units already embedded (with a store's cache, say)
            mats.append(sparse.csr_matrix(np.vstack([u.vec for u in units]).astype(np.float32)))
            if self.context:
                ctx = np.zeros((len(units), units[0].vec.shape[0]), dtype=np.float32)
                for i, u in enumerate(units):
                    if u.ctx_vec is not None:
                        ctx[i] = u.ctx_vec
                mats.append(sparse.csr_matrix(ctx))
        if self.lexical:
            mats.append(self._hasher().transform([_lex_tokens(u) for u in units]) * self.lex_scale)
        return sparse.hstack(mats, format="csr")

    def _hasher(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(analyzer=lambda x: x, n_features=self.n_features, alternate_sign=False,
                                 norm="l2")

    def fit(self, units: Sequence[Unit], y: Sequence[str],
            groups: Sequence[str] | None = None) -> "StatementClassifier":
        """Learn from units and their kinds; `groups` (e.g. the business of each unit) keeps the
        inner cross-validation for the decision weights honest; by call when not given."""
        self._fit_lr(units, y)
        self.kind_weights_ = np.ones(len(self.classes_))
        if self.tune_thresholds:
            self.kind_weights_ = self._tune(units, y, groups)
        return self

    def _fit_lr(self, units: Sequence[Unit], y: Sequence[str]) -> None:
        from sklearn.linear_model import LogisticRegression

        names: set[str] = set()
        for u in units:
            names.update(u.feats)
        self.feature_names_ = sorted(names)
        self._col_ = {k: i for i, k in enumerate(self.feature_names_)}
        raw = np.zeros((len(units), len(self.feature_names_)), dtype=np.float32)
        for i, u in enumerate(units):
            for k, v in u.feats.items():
                raw[i, self._col_[k]] = v
        self.cue_mean_ = raw.mean(axis=0)
        self.cue_std_ = np.maximum(raw.std(axis=0), 1e-3)
        X = self._matrix(units)
        self.model_ = LogisticRegression(C=self.C, max_iter=3000, class_weight=self.class_weight,
                                         random_state=self.seed)
        self.model_.fit(X, list(y))
        self.classes_ = list(self.model_.classes_)
        self.n_units_ = len(y)
        self.class_counts_ = {c: int(sum(1 for v in y if v == c)) for c in self.classes_}

    def _tune(self, units: Sequence[Unit], y: Sequence[str], groups: Sequence[str] | None) -> np.ndarray:
        """Weights per class that maximise mean unit-level F1 of the kinds on out-of-fold predictions."""
        from sklearn.model_selection import GroupKFold

        gs = list(groups) if groups is not None else [u.call_id for u in units]
        if len(set(gs)) < 3:
            gs = [u.call_id for u in units]
        n_splits = min(self.inner_folds, len(set(gs)))
        w = np.ones(len(self.classes_))
        if n_splits < 2:
            return w
        Q = np.zeros((len(units), len(self.classes_)))
        idx = {c: j for j, c in enumerate(self.classes_)}
        sub_params = {**self.get_params(), "tune_thresholds": False}
        for tr, te in GroupKFold(n_splits=n_splits).split(np.zeros(len(units)), list(y), gs):
            ytr = [y[i] for i in tr]
            if len(set(ytr)) < 2:
                continue
            sub = StatementClassifier(**sub_params)
            sub._fit_lr([units[i] for i in tr], ytr)
            q = sub._blend([units[i] for i in te])
            for j, c in enumerate(sub.classes_):
                Q[te, idx[c]] = q[:, j]
        Y = np.array([idx.get(v, -1) for v in y])
        kinds = [j for j, c in enumerate(self.classes_) if c != NONE]

        def score(wv: np.ndarray) -> float:
            pred = np.argmax(Q * wv, axis=1)
            f = []
            for j in kinds:
                tp = float(np.sum((pred == j) & (Y == j)))
                npred, ngold = float(np.sum(pred == j)), float(np.sum(Y == j))
                f.append(2 * tp / (npred + ngold) if npred + ngold else 0.0)
            return float(np.mean(f)) if f else 0.0

        grid = np.exp(np.linspace(np.log(0.4), np.log(3.0), 15))
        best = score(w)
        for _ in range(2):  # coordinate ascent: the kinds compete for the same units
            for j in kinds:
                for g in grid:
                    wv = w.copy()
                    wv[j] = g
                    s = score(wv)
                    if s > best + 1e-9:
                        best, w = s, wv
        self.inner_f1_ = best
        return w

    def predict_proba(self, units: Sequence[Unit]) -> np.ndarray:
        if not units:
            return np.zeros((0, len(self.classes_)))
        return self.model_.predict_proba(self._matrix(units))

    def predict(self, units: Sequence[Unit]) -> list[tuple[str, float]]:
        """(kind or "none", blended probability) per unit."""
        Q = self._blend(units)
        w = getattr(self, "kind_weights_", None)
        out = []
        for q in Q:
            j = int(np.argmax(q * w)) if w is not None else int(np.argmax(q))
            out.append((str(self.classes_[j]), float(q[j])))
        return out

    def _blend(self, units: Sequence[Unit]) -> np.ndarray:
        P = self.predict_proba(units)
        if not len(units):
            return P
        if not self.rule_weight:
            return P
        R = np.array([rule_proba(u, self.classes_, self.rule_temp) for u in units])
        return (1 - self.rule_weight) * P + self.rule_weight * R


def _lex_tokens(u: Unit) -> list[str]:
    lem = [w for w in u.lemmas if not w.isdigit()]
    toks = [f"{u.lang}:{w}" for w in lem]
    toks += [f"{u.lang}:{a}_{b}" for a, b in zip(lem, lem[1:])]
    return toks


def load_model(path: str | Path | None = None) -> StatementClassifier | None:
    """The classifier at `path`, or the shipped default; None when there is none (rules only)."""
    import joblib

    p = Path(path) if path else DEFAULT_MODEL
    if not p.exists():
        if path:
            raise ModelError("extractor model not found", path=str(p),
                             hint="train one with `callbridge train-extractor` or omit --model to use the default")
        return None
    try:
        obj = joblib.load(p)
    except Exception as e:
        raise ModelError(f"cannot load extractor model: {e}", path=str(p),
                         hint="retrain it with `callbridge train-extractor`") from None
    if not isinstance(obj, StatementClassifier):
        raise ModelError("file is not a callbridge extractor model", path=str(p))
    return obj


# ---- opening ----------------------------------------------------------------------------------
_NOT_REASON = ("c_greeting", "c_ack", "c_farewell", "c_filler", "c_name_intro", "c_meta")


def _substantive(u: Unit) -> bool:
    """True when a unit says more than hello / yes / a name."""
    f = u.feats
    nw = round(f.get("n_words", 0) * 40)
    if f.get("al_ask_name") or f.get("a_ask_name"):
        if nw <= 4:
            return False
    if f.get("c_name_intro") and nw <= 6 and not any(f.get(g) for g in _INTENT):
        return False
    cue_words = sum(f.get(g, 0) for g in _NOT_REASON)
    if nw - cue_words <= 1:
        return False
    if nw <= 2 and not f.get("c_reason_call") and not f.get("qmark"):
        return False
    return True


_INTENT = ("c_want", "c_need_modal", "c_reason_call", "qmark", "q_start")


def _flagged(early: Sequence[Unit]) -> bool:
    """Wrong numbers and robots: nobody states a reason to buy."""
    def tot(g: str, us=early) -> float:
        return sum(u.feats.get(g, 0) for u in us)

    reason = tot("c_reason_call", early[:3])
    robot = tot("c_robot") + tot("a_robot")
    wrong = tot("c_wrong_number") + tot("a_wrong_number")
    return robot >= 2 or (robot >= 1 and reason == 0) or wrong >= 2 or (wrong >= 1 and reason == 0)


def find_opening(call: Call, units: Sequence[Unit], max_cust_turns: int = 4) -> Unit | None:
    """The customer's first statement of why they call; None for wrong numbers and robots.

    In the first customer turn that says more than hello/yes/a name, the opening is the first
    unit that asks or states an intent ("хочу", "нужен", "сколько стоит", "I'm looking to"), else
    that turn's first substantive unit. Unpunctuated turns are cut unreliably, so there the
    opening runs to the end of the turn.
    """
    early = [u for u in units if u.feats.get("turn_ord", 0) * 10 < max_cust_turns]
    if not early or _flagged(early):
        return None
    turns: list[int] = []
    for u in early:
        if _substantive(u) and u.turn not in turns:
            turns.append(u.turn)
    if not turns:
        return None
    def intent(u: Unit) -> bool:
        return any(u.feats.get(g) for g in _INTENT)

    outbound = early[0].feats.get("call_outbound", 0) > 0
    if outbound and not any(u.feats.get("c_reason_call") for u in early[:2]):
        # the agent placed the call: the customer answers it and states no reason of their own
        return None
    if outbound:
        cands = [u for u in early if _substantive(u) and any(u.feats.get(g) for g in _REASON)]
        if not cands:
            return None
        pick = cands[0]
    else:
        by_turn = [[u for u in early if u.turn == t and _substantive(u)] for t in turns[:2]]
        first = next((us for us in by_turn if any(intent(u) for u in us)), by_turn[0])
        pick = next((u for u in first if intent(u)), first[0])
    return _extend(call, units, pick)


_REASON = ("c_want", "c_need_modal", "c_reason_call")


def _extend(call: Call, units: Sequence[Unit], pick: Unit) -> Unit:
    """Unpunctuated turns are cut unreliably: there the opening runs to the end of the turn."""
    if pick.feats.get("unpunct"):
        last = max((u for u in units if u.turn == pick.turn), key=lambda u: u.char_end)
        text = call.turns[pick.turn].text
        return Unit(pick.call_id, pick.turn, pick.char_start, last.char_end, text[pick.char_start:last.char_end],
                    pick.lang, pick.start, pick.feats, pick.lemmas, pick.context, pick.vec, pick.ctx_vec)
    return pick


# ---- dense vectors ----------------------------------------------------------------------------
def embed_units(units: Sequence[Unit], store: "Store | None" = None, stats=None) -> None:
    """Fill `vec` and `ctx_vec` of each unit with e5 vectors (`nlp.vectors.embed`, 384 floats).

    With a store, vectors come from and go to its cache, so themes and gaps reuse them and a rerun
    embeds nothing. Units that already have vectors are left alone.
    """
    from .vectors import embed

    todo = [u for u in units if u.vec is None]
    if not todo:
        return
    texts = list(dict.fromkeys([u.text for u in todo] + [u.context for u in todo if u.context]))
    vm = dict(zip(texts, embed(texts, store, stats=stats)))
    for u in todo:
        u.vec = vm[u.text]
        u.ctx_vec = vm.get(u.context) if u.context else None


# ---- public API -------------------------------------------------------------------------------
def _question(u: Unit) -> bool:
    return bool(u.feats.get("qmark")) or (u.feats.get("unpunct", 0) > 0 and u.feats.get("q_start", 0) > 0)


def extract_units(calls: Sequence[Call], units_per_call: Sequence[Sequence[Unit]],
                  model: StatementClassifier | None, store: "Store | None" = None) -> list[Statement]:
    flat = [u for us in units_per_call for u in us]
    if model is not None and getattr(model, "dense", False):
        embed_units(flat, store)
    if model is not None:
        preds = model.predict(flat)
    else:
        preds = []
        for u in flat:
            sc = rule_scores(u)
            k = max(sc, key=sc.get)
            preds.append((k, min(0.99, 0.5 + sc[k] / 10)) if sc[k] >= RULE_THRESHOLD else (NONE, 0.0))
    kind_of = {id(u): ((context_kind(u, p[0]), p[1]) if non_statement(u) is None else (NONE, 0.0))
               for u, p in zip(flat, preds)}
    out: list[Statement] = []
    for call, units in zip(calls, units_per_call):
        op = find_opening(call, units)
        if op is not None:
            out.append(_stmt(op, "opening", 0.8))
        for u in units:
            k, p = kind_of[id(u)]
            if k != NONE:
                out.append(_stmt(u, k, p))
            if _question(u):
                out.append(_stmt(u, "question", 0.9 if u.feats.get("qmark") else 0.6))
    return out


def _stmt(u: Unit, kind: str, conf: float) -> Statement:
    return Statement(u.call_id, u.turn, kind, u.text, round(float(conf), 3), u.lang, u.start, u.char_start)


def extract_calls(calls: list[Call], model_path: str | Path | None = None, *,
                  use_model: bool = True, store: "Store | None" = None) -> list[Statement]:
    """Statements of every kind for `calls`, in call and turn order; `store` caches the vectors."""
    if not calls:
        return []
    model = load_model(model_path) if use_model else None
    return extract_units(calls, call_units(calls), model, store)


def extract_store(store: "Store", model_path: str | Path | None = None, batch: int = 200, *,
                  use_model: bool = True) -> int:
    """Extract statements for every call in the store (replacing old ones); returns how many."""
    model = load_model(model_path) if use_model else None
    ids = store.call_ids()
    total = 0
    for i in range(0, len(ids), batch):
        chunk = [store.get_call(c) for c in ids[i:i + batch]]
        stmts = extract_units(chunk, call_units(chunk), model, store)
        store.replace_statements(stmts, call_ids=[c.call_id for c in chunk])
        total += len(stmts)
    return total


# ---- training from labelled calls -------------------------------------------------------------
def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def spans_match(a: str, b: str) -> bool:
    """The evaluation's matching rule: word-set Jaccard >= 0.5 or one set contains the other."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return False
    if wa <= wb or wb <= wa:
        return True
    return len(wa & wb) / len(wa | wb) >= 0.5


def unit_labels(units: Sequence[Unit], gold: Sequence[dict]) -> list[str]:
    """Training target per unit: the kind of the gold statement (same turn) it overlaps best."""
    y = []
    for u in units:
        best, best_s = NONE, 0.0
        wu = words(u.text)
        for g in gold:
            if g["turn"] != u.turn or g["kind"] not in LABEL_KINDS:
                continue
            wg = words(g["text"])
            if not wu or not wg:
                continue
            inter = len(wu & wg)
            # share of the unit inside the gold span: a unit mostly inside a labelled span is that kind
            s = inter / len(wu)
            if s > best_s:
                best, best_s = g["kind"], s
        y.append(best if best_s >= 0.5 else NONE)
    return y


def read_labelled(dirs: Iterable[str | Path]) -> list[tuple[Call, dict, str]]:
    """(call, labels, group) for every labelled call under `dirs` (folders with calls/ and labels/)."""
    from .callio import read_call
    from .errors import InputFormatError

    out = []
    for d in dirs:
        d = Path(d)
        roots = [p.parent for p in sorted(d.rglob("labels")) if p.is_dir() and (p.parent / "calls").is_dir()]
        if not roots:
            raise InputFormatError("no labelled calls here (need calls/ and labels/ folders)", path=str(d),
                                   hint="see the labels format in README.md")
        for r in roots:
            for lf in sorted((r / "labels").glob("*.json")):
                cf = r / "calls" / lf.name
                if not cf.exists():
                    continue
                try:
                    lab = json.loads(lf.read_text(encoding="utf-8"))
                except json.JSONDecodeError as e:
                    raise InputFormatError(f"invalid JSON: {e.msg}", path=str(lf)) from None
                out.append((read_call(cf), lab, r.name))
    return out


def training_set(items: Sequence[tuple[Call, dict, str]],
                 units_per_call: Sequence[Sequence[Unit]] | None = None) -> tuple[list[Unit], list[str]]:
    """Units and their gold kinds; `units_per_call` (one list per item) reuses units already made."""
    ups = units_per_call if units_per_call is not None else call_units([c for c, _, _ in items])
    X: list[Unit] = []
    y: list[str] = []
    for (c, lab, _), us in zip(items, ups):
        X.extend(us)
        y.extend(unit_labels(us, lab.get("statements", [])))
    return X, y


def unit_groups(items: Sequence[tuple[Call, dict, str]], units: Sequence[Unit]) -> list[str]:
    """The group (business folder) of each training unit, for grouped inner cross-validation."""
    by_call = {c.call_id: g for c, _, g in items}
    return [by_call.get(u.call_id, u.call_id) for u in units]


def train_extractor(dirs: Iterable[str | Path], out: str | Path | None = None, store: "Store | None" = None,
                    **params) -> StatementClassifier:
    """Fit a `StatementClassifier` on every labelled call under `dirs` and save it to `out` (joblib).

    `store` caches the e5 vectors of the units (the first run embeds every customer sentence and
    the agent sentences before them: minutes for a few hundred calls on two cores).
    Raises InputFormatError when the calls hold no labelled statements.
    """
    items = read_labelled(dirs)
    X, y = training_set(items)
    if params.get("dense", True):
        embed_units(X, store)
    if len(set(y)) < 2:
        from .errors import InputFormatError

        raise InputFormatError("the labelled calls hold no statements of kinds motive/need/objection",
                               hint="label some statements first")
    model = StatementClassifier(**params).fit(X, y, groups=unit_groups(items, X))
    if out:
        import joblib

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, out)
    return model
