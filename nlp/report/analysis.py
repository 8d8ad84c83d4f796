"""The numbers behind the report, computed from the store's tables.

Everything here is plain counting over calls: a theme "is in" a call when at least one of the
call's statements belongs to it (outliers excluded), shares are over calls, conversion is
won / (won + lost). The result is a dict of plain Python values that the templates and the
table exports read; no text is escaped here (the templates do that) but every customer text
passes through `redact` before it leaves this module, and every call id, quote, path and error
message through the `gate` (an `nlp.redact.Redactor`: pseudonymous call ids, quotes redacted with
their call as context).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from ..types import KINDS

# A difference between lost and won calls is not worth a conclusion below these counts.
MIN_DECIDED_PER_OUTCOME = 10
MIN_THEME_DECIDED = 5
MIN_CALLS_PER_PERIOD = 5
TOP_THEMES_PER_KIND = 8
TOP_GROUPS = 8
HEATMAP_THEMES = 6
MARKETING_KINDS = ("motive", "need", "objection")

_OUTCOME_ALIASES = {
    "won": "won", "win": "won", "success": "won", "sale": "won", "sold": "won", "closed_won": "won",
    "выиграно": "won", "выигран": "won", "успех": "won", "продажа": "won", "сделка": "won", "оплачено": "won",
    "lost": "lost", "lose": "lost", "loss": "lost", "fail": "lost", "failed": "lost", "closed_lost": "lost",
    "проиграно": "lost", "проигран": "lost", "отказ": "lost", "потерян": "lost",
    "pending": "pending", "open": "pending", "in_progress": "pending", "в работе": "pending",
    "думает": "pending", "ожидание": "pending",
}


def norm_outcome(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    return _OUTCOME_ALIASES.get(str(value).strip().lower(), "unknown")


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip()
    return s or None


def _terms(raw: Any) -> list[str]:
    """Top terms as strings, whether the themes stage stored strings, [term, weight] pairs or dicts."""
    out = []
    for x in raw or []:
        if isinstance(x, (list, tuple)) and x:
            x = x[0]
        elif isinstance(x, dict):
            x = x.get("term") or x.get("text") or ""
        if str(x).strip():
            out.append(str(x).strip())
    return out


def anchor(kind: str, theme_id: str) -> str:
    return f"t-{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "_", str(theme_id))


def step_anchor(step_id: str) -> str:
    return "step-" + re.sub(r"[^A-Za-z0-9_-]", "_", str(step_id))


def step_title(title: str, lang: str) -> str:
    """A bilingual step title ("Бюджет / Budget") shown in the report's language; any other
    title as written."""
    parts = [p.strip() for p in str(title).split(" / ")]
    if len(parts) == 2 and all(parts):
        cyr = [bool(re.search(r"[А-Яа-яЁё]", p)) for p in parts]
        if cyr[0] != cyr[1]:
            part = parts[cyr.index(lang == "ru")]
            # '"Others are cheaper"': the quotes marked the part as a customer's words in the title
            return part[1:-1] if len(part) > 2 and part[0] + part[-1] in ('""', "«»", "“”", "''") else part
    return str(title)


def conversion(won: int, lost: int) -> float | None:
    return won / (won + lost) if won + lost else None


def fmt_ts(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    # whole seconds down, as an audio player shows its position: a quote at 55.7 s reads 0:55 in the
    # report, the explorer and the player the explorer moves there
    s = int(math.floor(max(0.0, float(seconds))))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def fisher_exact_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on [[a, b], [c, d]] (same rule as SciPy: sum the
    probabilities of tables no more likely than the observed one). Exact integers, no SciPy import."""
    n1, n2, k = a + b, c + d, a + c
    total = math.comb(n1 + n2, k)
    lo, hi = max(0, k - n2), min(k, n1)
    probs = [math.comb(n1, x) * math.comb(n2, k - x) / total for x in range(lo, hi + 1)]
    observed = probs[a - lo]
    return min(1.0, sum(p for p in probs if p <= observed * (1 + 1e-7)))


def lost_won_stats(a: int, n_lost: int, c: int, n_won: int) -> tuple[float | None, float | None]:
    """(lift, p): lift = share of lost calls with the theme / share of won calls with it, smoothed so a
    theme absent from won calls gets a finite number; p from Fisher's exact test on the 2×2 table."""
    if not n_lost or not n_won:
        return None, None
    lift = ((a + 0.5) / (n_lost + 1)) / ((c + 0.5) / (n_won + 1))
    return lift, fisher_exact_p(a, n_lost - a, c, n_won - c)


# ---- per-call caveats ------------------------------------------------------------------
# Roles decided with less confidence than this (a mono recording's alternation guess is capped
# at 0.4, see nlp/roles.py) may have swapped agent and customer: the call is flagged.
ROLE_MIN_CONFIDENCE = 0.5
# A side with fewer words than this, and under MIN_SIDE_SHARE of the call's words, is silent:
# a dead channel or a recording of one party only.
MIN_SIDE_WORDS = 5
MIN_SIDE_SHARE = 0.05
# Speech rate used to estimate how long a turn with only a start time lasts (words per second).
WORDS_PER_SECOND = 2.5
FLAG_ROLES = "roles"
FLAG_ONE_SIDED = "one_sided"


def _role_confidence(roles: Any) -> float | None:
    if not isinstance(roles, dict):
        return None
    c = roles.get("confidence")
    return float(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else None


def call_flags(roles: Any, words: dict[str, int], speakers: list[str]) -> list[dict[str, Any]]:
    """Why a call's numbers may not be what the customer said: [{"flag": "roles", "confidence": c,
    "method": m}] when the agent/customer split is a guess (`source.roles` marked low_confidence,
    confidence < ROLE_MIN_CONFIDENCE, method or a speaker 'unknown'), [{"flag": "one_sided",
    "side": "agent"|"customer", "words": n}] when a side is silent. Empty when the call is fine.
    A call without `source.roles` (roles given by the transcript) is not flagged for roles."""
    flags: list[dict[str, Any]] = []
    if isinstance(roles, dict):
        conf = _role_confidence(roles)
        method = str(roles.get("method") or "")
        labels = roles.get("labels") if isinstance(roles.get("labels"), dict) else {}
        unknown = method == "unknown" or any(str(v) == "unknown" for v in labels.values())
        if roles.get("low_confidence") or unknown or (conf is not None and conf < ROLE_MIN_CONFIDENCE):
            flags.append({"flag": FLAG_ROLES, "confidence": conf, "method": method or None})
    if any(s not in ("agent", "customer") for s in speakers):
        flags.append({"flag": FLAG_ROLES, "confidence": None, "method": "unknown"})
    total = sum(words.values())
    for side in ("customer", "agent"):
        n = words.get(side, 0)
        if n < MIN_SIDE_WORDS and (total == 0 or n / total < MIN_SIDE_SHARE):
            flags.append({"flag": FLAG_ONE_SIDED, "side": side, "words": n})
            break  # one silent side says it all; both silent is an empty call
    return flags


def talk_seconds(duration: float | None, turns: list[tuple[str, float | None, float | None, str]]) -> float | None:
    """A call's length in seconds: the stored duration, else the end of its last turn from whatever
    times the turns carry. A turn with a start but no end (Otter text, SRT without ends, imported
    JSON with starts only) lasts until the next turn starts, or its words at WORDS_PER_SECOND.
    None when nothing in the call has a time."""
    if duration is not None and duration > 0:
        return float(duration)
    last = None
    for i, (_, start, end, text) in enumerate(turns):
        if end is not None:
            t = float(end)
        elif start is not None:
            nxt = next((s for _, s, _, _ in turns[i + 1:] if s is not None), None)
            t = float(nxt) if nxt is not None and nxt >= start else float(start) + len(text.split()) / WORDS_PER_SECOND
        else:
            continue
        last = t if last is None else max(last, t)
    return last


@dataclass
class ThemeRow:
    kind: str
    theme_id: str
    label: str
    n_calls: int
    n_statements: int
    share: float
    emerging: bool
    won: int
    lost: int
    terms: list[str]
    quotes: list[dict[str, Any]]
    anchor: str
    # The theme's label in its own statements' language (or the user's name): what findings are
    # computed from, so that the report language changes wording only.
    base_label: str = ""

    @property
    def conversion(self) -> float | None:
        return conversion(self.won, self.lost)


class ReportData:
    """Loads the store once and answers every question the report asks."""

    def __init__(self, store, lang: str, redact: Callable[[str], str], gate: Any = None,
                 include_uncertain: bool = False):
        from ..redact import Redactor

        self.store = store
        self.lang = lang
        self.redact = redact
        self.gate = gate if gate is not None else Redactor(store, enabled=True)
        self.include_uncertain = include_uncertain
        self._load()

    # ---- loading ------------------------------------------------------------------------
    def _load(self) -> None:
        import pandas as pd

        db = self.store.db
        turns: dict[str, list[tuple[str, float | None, float | None, str]]] = defaultdict(list)
        for r in db.execute('SELECT call_id, speaker, start, "end", text FROM turns ORDER BY call_id, idx'):
            turns[r[0]].append((r[1], r[2], r[3], r[4] or ""))
        calls: dict[str, dict[str, Any]] = {}
        for r in db.execute("SELECT call_id, language, duration, metadata_json, source_json FROM calls "
                            "ORDER BY call_id"):
            meta = json.loads(r["metadata_json"] or "{}")
            source = json.loads(r["source_json"] or "{}")
            ts = turns.get(r["call_id"], [])
            date = pd.to_datetime(meta.get("date"), errors="coerce") if _clean(meta.get("date")) else pd.NaT
            if pd.isna(date):
                date = None
            elif date.tzinfo is not None:
                date = date.tz_localize(None)
            amount = pd.to_numeric(meta.get("amount"), errors="coerce") if _clean(meta.get("amount")) else None
            words = {"agent": 0, "customer": 0}
            for speaker, _, _, text in ts:
                words[speaker] = words.get(speaker, 0) + len(text.split())
            calls[r["call_id"]] = {
                "call_id": r["call_id"], "language": (r["language"] or "").lower()[:2] or None,
                "duration": talk_seconds(r["duration"], ts), "date": date,
                "agent": _clean(meta.get("agent")), "lead_source": _clean(meta.get("lead_source")),
                "campaign": _clean(meta.get("campaign")), "outcome": norm_outcome(meta.get("outcome")),
                "amount": float(amount) if amount is not None and not math.isnan(amount) else None,
                "words": words, "flags": call_flags(source.get("roles"), words, [t[0] for t in ts]),
                "role_confidence": _role_confidence(source.get("roles")),
            }
        self.all_calls = calls
        # Calls whose roles are a guess or with one side silent would put agent words among the
        # customer's statements (or none at all) and skew every share: by default they are left out
        # of the numbers and listed for review.
        self.review = [c for c in calls.values() if c["flags"]]
        if not self.include_uncertain:
            calls = {cid: c for cid, c in calls.items() if not c["flags"]}
        self.calls = calls
        self.n_calls = len(calls)

        # statements with their theme (LEFT JOIN: a store may have statements but no themes yet)
        self.statements = [dict(r) for r in db.execute(
            "SELECT s.id, s.call_id, s.turn, s.kind, s.text, s.start, st.theme_id, st.outlier, st.score "
            "FROM statements s LEFT JOIN statement_themes st ON st.statement_id = s.id "
            "ORDER BY s.call_id, s.turn, s.id")]
        theme_rows = {(r["kind"], r["theme_id"]): dict(r) for r in db.execute("SELECT * FROM themes")}
        kinds_with_themes = {k for k, _ in theme_rows}
        # Without a themes stage, identical statements (case/punctuation aside) still group together.
        for s in self.statements:
            if s["theme_id"] is None and s["kind"] not in kinds_with_themes:
                key = " ".join(re.findall(r"\w+", s["text"].lower()))[:80] or "_"
                s["theme_id"], s["outlier"] = "text:" + key, 0
                theme_rows.setdefault((s["kind"], s["theme_id"]), {
                    "kind": s["kind"], "theme_id": s["theme_id"], "label": s["text"].strip(),
                    "n_statements": 0, "n_calls": 0, "share_calls": 0.0, "emerging": 0, "info_json": "{}"})
        members: dict[tuple[str, str], set[str]] = defaultdict(set)
        n_stmt: Counter = Counter()
        by_theme_stmts: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for s in self.statements:
            if s["theme_id"] is None or s["outlier"] or s["call_id"] not in calls:
                continue
            key = (s["kind"], s["theme_id"])
            members[key].add(s["call_id"])
            n_stmt[key] += 1
            by_theme_stmts[key].append(s)
        self.members = members
        assigned = {(s["kind"], s["theme_id"]) for s in self.statements if s["theme_id"] is not None}

        self.themes: dict[str, list[ThemeRow]] = {k: [] for k in KINDS}
        for key, t in theme_rows.items():
            kind, tid = key
            info = json.loads(t.get("info_json") or "{}")
            labels = info.get("labels") if isinstance(info.get("labels"), dict) else {}
            label = labels.get(self.lang) or t["label"] or ", ".join(_terms(info.get("terms"))[:3]) or str(tid)
            ids = members.get(key, set())
            # a theme whose statements all come from calls left out for review is not reported
            n = len(ids) if key in members or key in assigned else int(t["n_calls"] or 0)
            if n == 0:
                continue
            won = sum(1 for c in ids if calls[c]["outcome"] == "won")
            lost = sum(1 for c in ids if calls[c]["outcome"] == "lost")
            # a label cut from what customers said is redacted with the calls it came from as context: a
            # number dictated over several turns is no longer recognisable in the label alone
            said = [(s["call_id"], s["turn"]) for s in by_theme_stmts.get(key, [])]
            row = ThemeRow(kind, tid, self._shown_label(str(label), _terms(info.get("terms")), said),
                           n, n_stmt.get(key) or int(t["n_statements"] or 0),
                           n / self.n_calls if self.n_calls else 0.0, bool(t["emerging"]), won, lost,
                           self._shown_terms(_terms(info.get("terms"))[:8]),
                           self._quotes(info.get("quotes") or [], by_theme_stmts.get(key, [])),
                           anchor(kind, tid))
            row.base_label = self._shown_label(str(t["label"] or label), _terms(info.get("terms")), said)
            self.themes.setdefault(kind, []).append(row)
        for kind in self.themes:
            # ties by the language-independent label: the report language never reorders findings
            self.themes[kind].sort(key=lambda r: (-r.n_calls, -r.n_statements, r.base_label or r.label, r.theme_id))
        self.theme_index = {(r.kind, r.theme_id): r for rows in self.themes.values() for r in rows}

    def _quotes(self, info_quotes: list, stmts: list[dict], k: int = 3) -> list[dict[str, Any]]:
        """Up to k verbatim quotes from different calls: the themes stage's picks first, then the
        statements closest to the theme centre."""
        cands = [q for q in info_quotes if isinstance(q, dict) and q.get("text") and q.get("call_id") in self.calls]
        cands += sorted(stmts, key=lambda s: -(s["score"] if s["score"] is not None else 0.0))
        out, seen_calls, seen_text = [], set(), set()
        for q in cands:
            cid, text = q["call_id"], str(q["text"]).strip()
            if cid in seen_calls or text.lower() in seen_text:
                continue
            seen_calls.add(cid)
            seen_text.add(text.lower())
            shown = self.gate.text(text, call_id=cid, turn=q.get("turn")) if self.gate.enabled else self.redact(text)
            # cid/turn: the stored id and turn index, for the link to the turn in the call explorer
            out.append({"call_id": self.gate.call_id(cid), "agent": self.calls[cid]["agent"] or "",
                        "start": q.get("start"), "ts": fmt_ts(q.get("start")), "text": shown,
                        "cid": cid, "turn": q.get("turn")})
            if len(out) == k:
                break
        return out

    # ---- headline -----------------------------------------------------------------------
    def headline(self) -> dict[str, Any]:
        calls = list(self.calls.values())
        outcomes = Counter(c["outcome"] for c in calls)
        dates = [c["date"] for c in calls if c["date"] is not None]
        langs = Counter(c["language"] or "?" for c in calls)
        timed = [c["duration"] for c in calls if c["duration"] is not None]
        return {
            "n_calls": self.n_calls,
            "n_stored": len(self.all_calls),
            "n_review": len(self.review),
            "n_left_out": len(self.all_calls) - self.n_calls,
            "hours": sum(timed) / 3600.0 if timed else None,
            "n_timed": len(timed),
            "period": (min(dates).date().isoformat(), max(dates).date().isoformat()) if dates else None,
            "languages": langs.most_common(),
            "outcomes": {k: outcomes.get(k, 0) for k in ("won", "lost", "pending", "unknown")},
            "conversion": conversion(outcomes.get("won", 0), outcomes.get("lost", 0)),
            "n_statements": sum(1 for s in self.statements if s["call_id"] in self.calls),
        }

    # ---- trends -------------------------------------------------------------------------
    def periods(self) -> tuple[str, list[str], dict[str, str]]:
        """(granularity, ordered period labels, call_id -> period): the finest of week/month/quarter
        that gives at least two periods averaging MIN_CALLS_PER_PERIOD calls; a share of 1 call in
        2 is noise, not a trend. No labels when no granularity qualifies."""
        dated = {cid: c["date"] for cid, c in self.calls.items() if c["date"] is not None}
        fmts = (("week", lambda d: f"{d.isocalendar().year}-W{d.isocalendar().week:02d}"),
                ("month", lambda d: f"{d.year}-{d.month:02d}"),
                ("quarter", lambda d: f"{d.year}-Q{(d.month - 1) // 3 + 1}"))
        for gran, fmt in fmts:
            of = {cid: fmt(d) for cid, d in dated.items()}
            labels = sorted(set(of.values()))
            if len(labels) >= 2 and len(of) / len(labels) >= MIN_CALLS_PER_PERIOD:
                return gran, labels, of
        return "month", [], {}

    def trend(self, kind: str, top: int = 5) -> dict[str, Any]:
        gran, labels, of = self.periods()
        per_period = Counter(of.values())
        series = []
        for row in self.themes.get(kind, [])[:top]:
            ids = self.members.get((kind, row.theme_id), set())
            cnt = Counter(of[c] for c in ids if c in of)
            series.append((row.label, [cnt.get(p, 0) / per_period[p] if per_period[p] else 0.0 for p in labels]))
        return {"granularity": gran, "periods": labels, "series": series, "calls_per_period": [per_period[p] for p in labels]}

    # ---- channels -----------------------------------------------------------------------
    def dims(self) -> list[str]:
        return [d for d in ("lead_source", "campaign") if any(c[d] for c in self.calls.values())]

    def groups(self, dim: str, other_label: str) -> dict[str, list[str]]:
        """Channel value -> call ids; the long tail beyond TOP_GROUPS folds into `other_label`."""
        by: dict[str, list[str]] = defaultdict(list)
        for cid, c in self.calls.items():
            by[c[dim] or "—"].append(cid)
        ordered = sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        if len(ordered) > TOP_GROUPS:
            head, tail = ordered[:TOP_GROUPS - 1], ordered[TOP_GROUPS - 1:]
            ordered = head + [(other_label, [c for _, ids in tail for c in ids])]
        return dict(ordered)

    def outcome_counts(self, ids) -> dict[str, Any]:
        oc = Counter(self.calls[c]["outcome"] for c in ids)
        amount = sum(self.calls[c]["amount"] or 0.0 for c in ids if self.calls[c]["outcome"] == "won")
        return {"n": len(ids), "won": oc["won"], "lost": oc["lost"], "pending": oc["pending"],
                "unknown": oc["unknown"], "conversion": conversion(oc["won"], oc["lost"]), "amount": amount}

    def channel_theme_matrix(self, groups: dict[str, list[str]], kind: str) -> dict[str, Any]:
        cols = self.themes.get(kind, [])[:HEATMAP_THEMES]
        values, counts = [], []
        for _, ids in groups.items():
            s = set(ids)
            row_c = [len(self.members.get((kind, t.theme_id), set()) & s) for t in cols]
            counts.append(row_c)
            values.append([n / len(s) if s else 0.0 for n in row_c])
        return {"rows": list(groups), "cols": [t.label for t in cols], "values": values, "counts": counts}

    def top_themes_in(self, ids, kind: str, k: int = 3) -> list[dict[str, Any]]:
        s = set(ids)
        scored = []
        for t in self.themes.get(kind, []):
            n = len(self.members.get((kind, t.theme_id), set()) & s)
            if n:
                scored.append({"label": t.label, "n": n, "share": n / len(s), "anchor": t.anchor})
        scored.sort(key=lambda d: (-d["n"], d["label"]))
        return scored[:k]

    # ---- lost vs won --------------------------------------------------------------------
    def lost_vs_won(self) -> dict[str, Any]:
        n_won = sum(1 for c in self.calls.values() if c["outcome"] == "won")
        n_lost = sum(1 for c in self.calls.values() if c["outcome"] == "lost")
        rows = []
        for kind in KINDS:
            for t in self.themes.get(kind, []):
                lift, p = lost_won_stats(t.lost, n_lost, t.won, n_won)
                if lift is None:
                    continue
                rows.append({"kind": kind, "label": t.label, "anchor": t.anchor, "theme_id": t.theme_id,
                             "lost": t.lost, "won": t.won, "share_lost": t.lost / n_lost, "share_won": t.won / n_won,
                             "lift": lift, "p": p, "few": t.lost + t.won < MIN_THEME_DECIDED,
                             "significant": p is not None and p < 0.05})
        over_lost = sorted([r for r in rows if r["lift"] > 1 and r["lost"] >= 2], key=lambda r: (r["p"], -r["lost"]))
        over_won = sorted([r for r in rows if r["lift"] < 1 and r["won"] >= 2], key=lambda r: (r["p"], -r["won"]))
        return {"n_won": n_won, "n_lost": n_lost, "rows": rows, "over_lost": over_lost[:10],
                "over_won": over_won[:10], "has_both": n_won > 0 and n_lost > 0,
                "small": n_won < MIN_DECIDED_PER_OUTCOME or n_lost < MIN_DECIDED_PER_OUTCOME}

    # ---- agents -------------------------------------------------------------------------
    def agents(self, adherence_by_call: dict[str, float]) -> list[dict[str, Any]]:
        by: dict[str, list[str]] = defaultdict(list)
        for cid, c in self.calls.items():
            if c["agent"]:
                by[c["agent"]].append(cid)
        out = []
        for agent, ids in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            d = self.outcome_counts(ids)
            d.update(agent=agent, hours=sum(self.calls[c]["duration"] or 0.0 for c in ids) / 3600.0,
                     objections=self.top_themes_in(ids, "objection"),
                     motives=(self.top_themes_in(ids, "motive", 2) + self.top_themes_in(ids, "need", 2)))
            adh = [adherence_by_call[c] for c in ids if c in adherence_by_call]
            d["adherence"] = sum(adh) / len(adh) if adh else None
            out.append(d)
        return out

    # ---- script -------------------------------------------------------------------------
    def script(self) -> dict[str, Any]:
        db = self.store.db
        steps = [dict(r) for r in db.execute("SELECT step_id, position, title FROM script_steps ORDER BY position")]
        adh: dict[str, dict[str, int]] = defaultdict(dict)
        for r in db.execute("SELECT call_id, step_id, present FROM adherence"):
            if r["call_id"] in self.calls:
                adh[r["step_id"]][r["call_id"]] = int(r["present"])
        for s in steps:
            s["title"] = step_title(s["title"], self.lang)
        titles = {s["step_id"]: s["title"] for s in steps}
        for sid in adh:
            if sid not in titles:
                steps.append({"step_id": sid, "position": 10_000 + len(steps), "title": sid})
                titles[sid] = sid
        rows = []
        for s in steps:
            calls = adh.get(s["step_id"], {})
            done = [c for c, p in calls.items() if p]
            skipped = [c for c, p in calls.items() if not p]
            od, os_ = self.outcome_counts(done), self.outcome_counts(skipped)
            rows.append({"step_id": s["step_id"], "title": s["title"], "total": len(calls), "done": len(done),
                         "skipped": len(skipped), "share_done": len(done) / len(calls) if calls else None,
                         "conv_done": od["conversion"], "conv_skipped": os_["conversion"],
                         "won_done": od["won"], "lost_done": od["lost"],
                         "won_skipped": os_["won"], "lost_skipped": os_["lost"]})
        per_call: dict[str, list[int]] = defaultdict(list)
        for sid, calls in adh.items():
            for c, p in calls.items():
                per_call[c].append(p)
        adherence_by_call = {c: sum(v) / len(v) for c, v in per_call.items() if v}
        from .coverage import coverage_decisions

        coverage = [d.as_dict() for d in coverage_decisions(self, titles)]
        for d in coverage:
            d["anchor_step"] = step_anchor(d["step_id"]) if d["step_id"] else None
        return {"steps": rows, "coverage": coverage,
                "objections": [d for d in coverage if d["kind"] == "objection"],
                "other_themes": [d for d in coverage if d["kind"] != "objection"],
                "adherence_by_call": adherence_by_call, "present": bool(steps or coverage)}

    def _shown_label(self, label: str, terms: list[str], said: list[tuple[str, int]] = ()) -> str:
        """A theme label as shown: redacted, also with each call where its words were said (`said`:
        (call_id, turn) of the theme's statements, up to 20 looked at) as context; one with a name in it
        (from a store themed before names were kept out of labels) is rebuilt from the terms without names."""
        shown = self.redact(label)
        if not self.gate.enabled:
            return shown
        for cid, turn in list(said)[:20]:
            in_context = self.gate.text(label, call_id=cid, turn=turn)
            if in_context != label:
                shown = in_context
                break
        from ..redact import name_like, number_like

        if number_like(shown):
            return " / ".join(self._shown_terms(terms)[:3]) or "[…]"
        if any(name_like(w) for w in re.findall(r"\w+", shown)):
            shown = " / ".join(self._shown_terms(terms)[:3]) or self.redact(
                " ".join("[…]" if name_like(w) else w for w in shown.split()))
        return shown

    def _shown_terms(self, terms: list[str]) -> list[str]:
        """Key terms as shown: a term with a name in it (a store themed before names were kept out
        of terms) is dropped."""
        if not self.gate.enabled:
            return terms
        from ..redact import name_like, number_like

        # a term of number words alone is most likely a piece of a dictated number (see number_like)
        return [t for t in (self.redact(x) for x in terms)
                if "[" not in t and not any(name_like(w) for w in t.split()) and not number_like(t)]

    def failed_calls(self) -> list[dict[str, Any]]:
        g = self.gate
        return [{"call_id": g.call_id(e["call_id"]) or "", "source_path": g.path(e["source_path"], e["call_id"]),
                 "stage": e["stage"], "message": g.message(e["message"], e["source_path"], e["call_id"])}
                for e in self.store.errors()]
