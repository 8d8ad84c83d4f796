""""What to change": recommendations for the offer and the script, each tied to its evidence.

Offer: the most frequent needs and motives that the offer text does not mention. "Mentions" is
decided by meaning and by words: e5 similarity between the theme's quotes and the closest offer
line, standardised against all customer statements (see `match_offer`), or enough of the theme's
key lemmas present in the offer.

Script: objections heard in lost calls that no script step handles (the `coverage` table from
script-gap analysis) and steps agents skip (the `adherence` table), with conversion either way.
"""

from __future__ import annotations

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
    theme_texts = [[t.label] + [q["text"] for q in t.quotes] for t in themes]
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


def offer_recommendations(data, offer_text: str | None, tr: dict, store=None) -> list[dict[str, Any]]:
    if offer_text is None:
        return []
    min_calls = 2 if data.n_calls >= 5 else 1
    cands = [t for k in OFFER_KINDS for t in data.themes.get(k, [])[:8] if t.n_calls >= min_calls]
    background = [st["text"] for st in data.statements]
    matches = match_offer(cands, offer_text, store, background)
    recs = []
    for t in sorted(cands, key=lambda r: (-r.n_calls, r.kind)):
        m = matches.get((t.kind, t.theme_id))
        if m is None or m.mentioned:
            continue
        recs.append({
            "area": "offer", "kind": t.kind, "theme_id": t.theme_id, "anchor": t.anchor, "n_calls": t.n_calls,
            "text": tr["rec_offer_missing"].format(label=t.label, kind=tr["kind_short"][t.kind], n=t.n_calls,
                                                   total=data.n_calls, share=_pct(t.share)),
            "detail": tr["rec_offer_closest"].format(line=m.line, sim=f"{m.similarity:.2f}") if m.line else "",
            "quote": t.quotes[0] if t.quotes else None,
        })
    return recs[:MAX_OFFER_RECS]


def script_recommendations(data, script: dict, tr: dict) -> list[dict[str, Any]]:
    recs = []
    n_lost = sum(1 for c in data.calls.values() if c["outcome"] == "lost")
    min_lost = 2 if n_lost >= 5 else 1  # one lost call is an anecdote once there are several
    for c in script["coverage"]:
        if c["kind"] != "objection" or c["covered"] or (c["n_lost"] or 0) < min_lost:
            continue
        lift = c["lift_lost"]
        lift_txt = tr["rec_lift"].format(lift=f"{lift:.1f}") if lift is not None and lift > 1.05 else ""
        detail = (tr["rec_script_closest"].format(step=c["best_step_title"], score=f"{c['score']:.2f}")
                  if c["best_step"] and c["score"] is not None else "")
        t = data.theme_index.get((c["kind"], c["theme_id"]))
        recs.append({"area": "script", "kind": "objection", "theme_id": c["theme_id"], "anchor": c["anchor"],
                     "n_calls": c["n_calls"], "sort": (-c["n_lost"], -(lift or 0)),
                     "text": tr["rec_script_objection"].format(label=c["label"], n_lost=c["n_lost"], n=c["n_calls"],
                                                               lift=lift_txt),
                     "detail": detail, "quote": t.quotes[0] if t and t.quotes else None})
    recs.sort(key=lambda r: r.pop("sort"))
    recs = recs[:MAX_SCRIPT_RECS]
    steps = [s for s in script["steps"] if s["total"] >= 3 and s["share_done"] is not None
             and s["share_done"] < SKIP_SHARE]

    def gain(s):  # how much conversion drops when the step is skipped; unknown gains go last
        if s["conv_done"] is None or s["conv_skipped"] is None:
            return -1.0
        return s["conv_done"] - s["conv_skipped"]

    for s in sorted(steps, key=lambda s: (-gain(s), s["share_done"]))[:MAX_SCRIPT_RECS]:
        recs.append({"area": "script", "kind": "step", "theme_id": s["step_id"], "anchor": "step-" + re.sub(
            r"[^A-Za-z0-9_-]", "_", s["step_id"]), "n_calls": s["skipped"],
            "text": tr["rec_script_step"].format(step=s["title"], skipped=s["skipped"], total=s["total"],
                                                 share=_pct(s["skipped"] / s["total"]),
                                                 conv_done=_pct(s["conv_done"]), conv_skipped=_pct(s["conv_skipped"])),
            "detail": "", "quote": None})
    return recs
