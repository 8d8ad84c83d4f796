"""Kinds of script steps (greeting, qualification, needs, presentation, price, objection handling,
closing, booking, follow-up, upsell, contact capture, compliance: recording notice, identity check).

A step's kind comes from cue words in its id and title, kept as data in `nlp/data/step_kinds.json`
(English and Russian stems; the first kind whose cue matches wins, else "other"). Kinds serve two
purposes: the adherence model gets the kind as a feature (a greeting is near-universal, an objection
is handled only when the customer objects), and steps of an `any_position` kind (objection handling,
recording notice, identity check) are neither matched by position nor reported as out of order.

A script can also say so itself: a step title ending in "(any time)", "(anytime)", "(any point)" or
«(в любой момент)» is an any-position step whatever its kind.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from ..errors import InputFormatError

KINDS_PATH = Path(__file__).resolve().parents[1] / "data" / "step_kinds.json"
_ANYTIME = re.compile(r"\((?:any ?time|any point|at any point|в любой момент)\)\s*$", re.I)


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[tuple[str, re.Pattern[str], bool], ...], tuple[str, ...]]:
    try:
        d = json.loads(KINDS_PATH.read_text(encoding="utf-8"))
        rows = tuple((k["kind"], re.compile("|".join(k["cues"])), bool(k["any_position"])) for k in d["kinds"])
    except (OSError, ValueError, KeyError, TypeError, re.error) as e:
        raise InputFormatError(f"cannot read the step-kind cues: {e}", path=str(KINDS_PATH),
                               hint="reinstall callbridge; the file lists kinds with 'cues' and 'any_position'") from None
    return rows, tuple(dict.fromkeys(r[0] for r in rows)) + ("other",)


def all_kinds() -> tuple[str, ...]:
    """Every kind, in the order the cues are tried, then "other"."""
    return _table()[1]


def step_kind(step_id: str, title: str) -> str:
    """The kind of one step from its id and title, e.g. ("handle_price", "Price objection") -> "objection"."""
    text = (re.sub(r"[_\-]+", " ", step_id) + " | " + _ANYTIME.sub("", title)).lower()
    for kind, rx, _ in _table()[0]:
        if rx.search(text):
            return kind
    return "other"


def any_position(step_id: str, title: str) -> bool:
    """True when the step may happen anywhere in a call (by its kind, or "(any time)" in its title)."""
    if _ANYTIME.search(title):
        return True
    kind = step_kind(step_id, title)
    return any(k == kind and free for k, _, free in _table()[0])


def fixed_order(step_id: str, title: str) -> bool:
    """True when the script's order applies to the step (see `any_position`)."""
    return not any_position(step_id, title)
