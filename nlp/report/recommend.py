""""What to change": recommendations for the offer and the script, each tied to its evidence.

Offer: the most frequent needs and motives that the offer text does not mention. "Mentions" is
decided by meaning and by words: e5 similarity between the theme's quotes and the closest offer
line, standardised against all customer statements (see `match_offer`), or enough of the theme's
key lemmas present in the offer.

Script: objections no script step answers, or only weakly (the report's coverage decisions,
`nlp.report.coverage`, the same the coverage tables show), and steps agents skip (the `adherence`
table), ranked by how many calls skip them.

Every recommendation carries its support (calls, share, won and lost among them) and is made only
when the support reaches `min_support`; a comparison (lost vs won calls, conversion with and without
a step) is added only when both sides have calls and differ.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFormatError

OFFER_SIM = 0.9          # raw cosine bar, only when there are too few statements to standardise
OFFER_Z = 1.5            # "unusually close" against all customer statements
MIN_BACKGROUND = 10
MAX_BACKGROUND = 2000
OFFER_LEMMA_SHARE = 0.5
OFFER_KINDS = ("need", "motive")
MAX_OFFER_RECS = 6
MAX_SCRIPT_RECS = 5
SKIP_SHARE = 0.7  # a step done in fewer calls than this is worth a look
# A recommendation rests on at least this many calls, and on at least this share of the analysed calls.
MIN_SUPPORT_CALLS = 2
MIN_SUPPORT_SHARE = 0.05

_MD = re.compile(r"^\s*(?:#+|[-*•]|\d+[.)])\s+")
_EMPH = re.compile(r"[*_`]{1,3}")
_STOP = {"это", "который", "весь", "свой", "такой", "быть", "мочь", "очень", "the", "and", "for", "with", "that",
         "this", "have", "your", "you", "our", "are", "что", "как", "для", "или", "мой", "наш", "ваш"}


@dataclass
class OfferMatch:
    mentioned: bool
    similarity: float
    line: str
    lemma_share: float


def read_offer(path: str | Path) -> str:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"cannot read the offer: {e}", path=str(p),
                               hint="give a UTF-8 text or Markdown file with the offer's wording") from None
    if not text.strip():
        raise InputFormatError("the offer file is empty", path=str(p), hint="put the offer's text in it")
    return text


def offer_lines(text: str) -> list[str]:
    """Offer text as sentences: wrapped lines of a paragraph joined, bullets kept apart, Markdown
    markers and the document title dropped."""
    from ..language import detect_language, sentence_spans

    blocks: list[str] = []
    cur: list[str] = []
    for raw in text.splitlines() + [""]:
        if raw.startswith("# "):  # the document title names the company, not a promise
            continue
        starts_item = bool(_MD.match(raw)) and not raw.lstrip().startswith("**")
        if not raw.strip() or starts_item:
            if cur:
                blocks.append(" ".join(cur))
            cur = []
        if raw.strip():
            cur.append(_EMPH.sub("", _MD.sub("", raw)).strip())
    out = []
    for block in blocks:
        for a, b in sentence_spans(block, detect_language(block)):
            if len(block[a:b].strip()) >= 3:
                out.append(block[a:b].strip())
    return out


def _content_lemmas(text: str) -> set[str]:
    from ..language import detect_language, lemmas

    return {w for w in lemmas(text, detect_language(text)) if len(w) > 2 and w not in _STOP and not w.isdigit()}


def match_offer(themes: list, offer_text: str, store=None, background: list[str] | None = None
                ) -> dict[tuple[str, str], OfferMatch]:
    """For each theme row (needs, motives): is it in the offer, and which offer line is closest.

    e5-small puts any two sentences of one business close together (cosine ~0.85), so raw cosine
    says little. Each offer line's similarity is standardised against all the customer statements
    (`background`): a theme is mentioned when its quotes are unusually close to some line (mean
    z-score >= OFFER_Z), or when half of its key lemmas are in the offer."""
    from ..vectors import embed

    lines = offer_lines(offer_text)
    if not themes:
        return {}
    if not lines:  # an offer with no sentence mentions nothing
        return {(t.kind, t.theme_id): OfferMatch(False, 0.0, "", 0.0) for t in themes}
    offer_lemmas = set().union(*(_content_lemmas(x) for x in lines))
    theme_texts = [[t.base_label or t.label] + [q["text"] for q in t.quotes] for t in themes]
    background = list(dict.fromkeys(background or []))[:MAX_BACKGROUND]
    # one embed call for everything: each e5 call has a fixed cost of seconds
    flat = lines + [x for texts in theme_texts for x in texts] + background
    vecs_all = embed(flat, store)
    line_vecs = vecs_all[:len(lines)]
    pos = len(lines)
    bg = vecs_all[len(flat) - len(background):] if background else np.zeros((0, line_vecs.shape[1]))
    if len(bg) >= MIN_BACKGROUND:
        bg_sims = bg @ line_vecs.T
        mu, sd = bg_sims.mean(axis=0), bg_sims.std(axis=0) + 1e-6
    else:
        mu, sd = None, None
    out = {}
    for t, texts in zip(themes, theme_texts):
        vecs = vecs_all[pos:pos + len(texts)]
        pos += len(texts)
        sims = vecs @ line_vecs.T                      # texts x lines
        if mu is not None:
            score = ((sims - mu) / sd).mean(axis=0)
            j = int(np.argmax(score))
            close = score[j] >= OFFER_Z
        else:
            score = sims.mean(axis=0)
            j = int(np.argmax(score))
            close = score[j] >= OFFER_SIM
        key_lemmas = set()
        for term in (t.terms[:5] or [t.label]):
            key_lemmas |= _content_lemmas(term)
        share = len(key_lemmas & offer_lemmas) / len(key_lemmas) if key_lemmas else 0.0
        out[(t.kind, t.theme_id)] = OfferMatch(bool(close or share >= OFFER_LEMMA_SHARE),
                                               float(sims.mean(axis=0)[j]), lines[j], share)
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def min_support(n_calls: int) -> int:
    """The fewest calls a recommendation may rest on: MIN_SUPPORT_CALLS, or MIN_SUPPORT_SHARE of the
    analysed calls when that is more (one call is an anecdote; so are 3 calls in 500)."""
    return max(MIN_SUPPORT_CALLS, math.ceil(MIN_SUPPORT_SHARE * n_calls))


class Wording:
    """The report language's sentences with their numbers agreed (`nlp.report.wording`)."""

    def __init__(self, tr: dict, lang: str):
        self.tr, self.lang = tr, lang

    def n(self, n: int, noun: str, case: str = "nomn", number: bool = True) -> str:
        from .wording import count

        return count(n, self.tr["nouns"][noun], self.lang, case, number=number)

    def support(self, calls: int, base: int, won: int, lost: int, key: str = "rec_support") -> dict[str, Any]:
        """A recommendation's support: `calls` of the `base` calls it is about, with their outcomes;
        `key` the sentence that says it (calls where customers say it, or calls without a step)."""
        share = calls / base if base else 0.0
        return {"calls": calls, "base": base, "share": share, "won": won, "lost": lost,
                "text": self.tr[key].format(calls=calls, base=self.n(base, "call", "gent"),
                                            share=_pct(share), won=won, lost=lost)}


def _outcomes(data, ids) -> tuple[int, int]:
    won = sum(1 for c in ids if data.calls[c]["outcome"] == "won")
    lost = sum(1 for c in ids if data.calls[c]["outcome"] == "lost")
    return won, lost


def offer_recommendations(data, offer_text: str | None, tr: dict, store=None) -> list[dict[str, Any]]:
    if offer_text is None:
        return []
    w = Wording(tr, data.lang)
    floor = min_support(data.n_calls)
    cands = [t for k in OFFER_KINDS for t in data.themes.get(k, [])[:8] if t.n_calls >= floor]
    background = [st["text"] for st in data.statements if st["call_id"] in data.calls]
    matches = match_offer(cands, offer_text, store, background)
    recs, seen = [], set()
    for t in sorted(cands, key=lambda r: (-r.n_calls, r.kind)):
        m = matches.get((t.kind, t.theme_id))
        key = (t.kind, _norm(t.base_label or t.label))
        if m is None or m.mentioned or key in seen:
            continue
        seen.add(key)
        recs.append({
            "area": "offer", "kind": t.kind, "theme_id": t.theme_id, "anchor": t.anchor, "n_calls": t.n_calls,
            "step_id": None, "state": None,
            "text": tr["rec_offer_missing"].format(label=t.label, kind=tr["kind_short"][t.kind], n=t.n_calls,
                                                   total_calls=w.n(data.n_calls, "call", "gent"),
                                                   share=_pct(t.share)),
            "support": w.support(t.n_calls, data.n_calls, t.won, t.lost),
            "detail": tr["rec_offer_closest"].format(line=m.line, sim=f"{m.similarity:.2f}") if m.line else "",
            "quote": t.quotes[0] if t.quotes else None,
        })
    return recs[:MAX_OFFER_RECS]


def _norm(label: str) -> str:
    return " ".join(re.findall(r"\w+", str(label).casefold()))


def _compare_lost_won(data, w: Wording, won: int, lost: int) -> str:
    """", in 2 of 5 lost calls (40%) and 0 of 4 won calls (0%)": only when the report has both lost
    and won calls and the theme is heard relatively more often in the lost ones."""
    n_lost = sum(1 for c in data.calls.values() if c["outcome"] == "lost")
    n_won = sum(1 for c in data.calls.values() if c["outcome"] == "won")
    if not n_lost or not n_won or lost / n_lost <= won / n_won:
        return ""
    return w.tr["rec_compare_lost"].format(lost=lost, lost_calls=w.n(n_lost, "lost_call", "gent"),
                                           share_lost=_pct(lost / n_lost), won=won,
                                           won_calls=w.n(n_won, "won_call", "gent"), share_won=_pct(won / n_won))


def _compare_step(w: Wording, s: dict) -> str:
    """"; conversion 67% (2 of 3) when done, 0% (0 of 2) when skipped": only when both the calls
    that do the step and those that skip it have an outcome, and the two conversions differ."""
    dec_done, dec_skipped = s["won_done"] + s["lost_done"], s["won_skipped"] + s["lost_skipped"]
    if not dec_done or not dec_skipped or s["conv_done"] == s["conv_skipped"]:
        return ""
    return w.tr["rec_compare_step"].format(conv_done=_pct(s["conv_done"]), won_done=s["won_done"],
                                           dec_done=dec_done, conv_skipped=_pct(s["conv_skipped"]),
                                           won_skipped=s["won_skipped"], dec_skipped=dec_skipped)


def script_recommendations(data, script: dict, tr: dict) -> list[dict[str, Any]]:
    """Objections without an answer in the script (coverage state `none`), objections whose closest
    step answers them only weakly (`weak`: check that step), and steps agents skip, ranked by how
    many calls skip them. Every one rests on at least `min_support` calls; the coverage decisions
    are the ones the report's tables show (`nlp.report.coverage`)."""
    from .analysis import step_anchor
    from .coverage import NONE, WEAK

    w = Wording(tr, data.lang)
    floor = min_support(data.n_calls)
    total_calls = w.n(data.n_calls, "call", "gent")
    # themes that read the same are one objection to the reader: their calls are pooled
    pooled: dict[str, dict[str, Any]] = {}
    for c in script["objections"]:
        if c["state"] not in (NONE, WEAK):
            continue
        row = data.theme_index.get((c["kind"], c["theme_id"]))
        key = _norm(getattr(row, "base_label", "") or c["label"]) + "|" + c["state"] + "|" + str(c["step_id"])
        g = pooled.setdefault(key, {"c": c, "ids": set()})
        g["ids"] |= data.members.get((c["kind"], c["theme_id"]), set()) & set(data.calls)
    objection_recs = []
    for key, g in pooled.items():
        c, ids = g["c"], g["ids"]
        if len(ids) < floor:
            continue
        won, lost = _outcomes(data, ids)
        fmt = dict(label=c["label"], step=c["step_title"], n=len(ids), total_calls=total_calls,
                   share=_pct(len(ids) / data.n_calls), compare=_compare_lost_won(data, w, won, lost))
        t = data.theme_index.get((c["kind"], c["theme_id"]))
        objection_recs.append({
            "area": "script", "kind": "objection", "theme_id": c["theme_id"], "anchor": c["anchor"],
            "n_calls": len(ids), "step_id": c["step_id"], "state": c["state"],
            "text": tr["rec_objection_weak" if c["state"] == WEAK else "rec_objection_none"].format(**fmt),
            "support": w.support(len(ids), data.n_calls, won, lost),
            "detail": "", "quote": t.quotes[0] if t and t.quotes else None, "_rank": (-lost, -len(ids), key)})
    objection_recs.sort(key=lambda r: r.pop("_rank"))

    steps = [s for s in script["steps"] if s["total"] and s["share_done"] is not None
             and s["share_done"] < SKIP_SHARE and s["skipped"] >= floor]
    step_recs = []
    # never-done and rarely-done steps first: what matters is how many calls go without the step
    # ties by step id, not by the title shown: the report language never reorders findings
    for s in sorted(steps, key=lambda s: (-s["skipped"], s["share_done"], s["step_id"])):
        fmt = dict(step=s["title"], skipped=s["skipped"], total_calls=w.n(s["total"], "call", "gent"),
                   share=_pct(s["skipped"] / s["total"]), compare=_compare_step(w, s))
        step_recs.append({
            "area": "script", "kind": "step", "theme_id": s["step_id"], "anchor": step_anchor(s["step_id"]),
            "n_calls": s["skipped"], "step_id": s["step_id"], "state": None,
            "text": tr["rec_step_never" if s["done"] == 0 else "rec_step_skipped"].format(**fmt),
            "support": w.support(s["skipped"], s["total"], s["won_skipped"], s["lost_skipped"], "rec_support_skip"),
            "detail": "", "quote": None})
    recs, seen = [], set()
    for r in objection_recs[:MAX_SCRIPT_RECS] + step_recs[:MAX_SCRIPT_RECS]:
        if r["text"] in seen:
            continue
        seen.add(r["text"])
        recs.append(r)
    return recs
