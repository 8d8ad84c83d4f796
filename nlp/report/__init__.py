"""The marketing report: `build_report(store, out_dir)` writes report.html, report.md, the tables
as CSV (tables/*.csv) and one workbook (report.xlsx).

report.html is one self-contained file: inline CSS, inline SVG charts, no script, no network.
Templates are files in `nlp/templates/`; every label comes from `nlp/i18n/report.json` (ru, en).
Customer text reaches the page only through Jinja2 autoescaping (HTML), `md_escape` (Markdown)
or `charts.esc` (SVG), and passes through PII redaction first unless `redact=False`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from ..errors import InputFormatError
from ..types import KINDS
from . import charts
from .analysis import FLAG_ONE_SIDED, FLAG_ROLES, MARKETING_KINDS, ReportData, fmt_ts, step_anchor
from .dynamics import dynamics_context, frames as dynamics_frames
from .recommend import Wording, min_support, offer_recommendations, read_offer, script_recommendations

PKG = Path(__file__).resolve().parent.parent
TEMPLATES = PKG / "templates"
I18N = PKG / "i18n" / "report.json"
LANGS = ("ru", "en")


@dataclass
class ReportResult:
    out_dir: Path
    html: Path
    md: Path
    xlsx: Path
    csv: list[Path] = field(default_factory=list)
    lang: str = "en"
    n_calls: int = 0
    n_recommendations: int = 0
    n_left_out: int = 0           # calls flagged for review and left out of the numbers
    hints: list[str] = field(default_factory=list)  # stages worth running before the next report
    explorer: Any = None          # nlp.explorer.ExplorerResult when the call explorer was written


@lru_cache(maxsize=1)
def translations() -> dict[str, dict[str, Any]]:
    return json.loads(I18N.read_text(encoding="utf-8"))


def dominant_language(store) -> str:
    """The calls' most common language; Russian wins ties and empty stores (Russian first)."""
    counts = Counter((r[0] or "").lower()[:2] for r in store.db.execute("SELECT language FROM calls"))
    counts = Counter({k: v for k, v in counts.items() if k in LANGS})
    if not counts:
        return "ru"
    return max(LANGS, key=lambda k: (counts.get(k, 0), k == "ru"))


def make_redactor(enabled: bool) -> Callable[[str], str]:
    if not enabled:
        return lambda text: text
    from ..redact import redact as _redact
    from ..language import detect_language

    @lru_cache(maxsize=None)
    def run(text: str) -> str:
        return _redact(text, detect_language(text))

    return run


def md_escape(value: Any) -> str:
    """Text safe inside Markdown and its tables: HTML-significant characters become entities (a
    Markdown renderer passes raw HTML through), pipes and newlines cannot break a table row."""
    s = "" if value is None else str(value)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("|", "\\|").replace("`", "\\`").replace("[", "\\[").replace("]", "\\]")
    return " ".join(s.split())


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _hm(hours: float | None) -> str:
    """Hours as h:mm ("0:02", "12:34"); "—" when unknown."""
    if hours is None:
        return "—"
    m = int(round(hours * 60))
    return f"{m // 60}:{m % 60:02d}"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def build_context(store, lang: str, offer_text: str | None, redact: bool,
                  include_uncertain: bool = False) -> tuple[dict[str, Any], ReportData]:
    tr = translations()[lang]
    from ..redact import Redactor

    data = ReportData(store, lang, make_redactor(redact), Redactor(store, redact), include_uncertain)
    words = Wording(tr, lang)
    head = data.headline()
    outcome_parts = [(k, head["outcomes"][k], tr[k]) for k in ("won", "lost", "pending", "unknown")]

    kinds = []
    for kind in KINDS:
        rows = data.themes.get(kind, [])
        if not rows:
            continue  # said once, in the caveats
        top = rows[:8]
        tr_trend = data.trend(kind)
        period_name = tr["period_" + tr_trend["granularity"]]
        kinds.append({
            "kind": kind, "title": tr["kinds"][kind], "id": f"kind-{kind}", "themes": top,
            "more": max(0, len(rows) - len(top)),
            "more_text": tr["more_themes"].format(themes=words.n(len(rows) - len(top), "theme")),
            "bars": charts.hbar([(t.label, t.share, f"{_pct(t.share)} · {t.n_calls}") for t in top],
                                tr["kinds"][kind], max_value=max(t.share for t in top) if top else 1.0,
                                color=charts.PALETTE[KINDS.index(kind) % len(charts.PALETTE)]),
            "trend_title": tr["trend"].format(period=period_name),
            "trend": charts.lines(tr_trend["periods"], tr_trend["series"], tr["trend"].format(period=period_name)),
        })

    marketing = []
    for dim in data.dims():
        groups = data.groups(dim, tr["other"])
        dim_name = tr[dim]
        conv_rows = []
        for g, ids in groups.items():
            d = data.outcome_counts(ids)
            d["group"] = g
            d["top"] = {k: data.top_themes_in(ids, k) for k in MARKETING_KINDS}
            conv_rows.append(d)
        heatmaps = []
        for kind in MARKETING_KINDS:
            m = data.channel_theme_matrix(groups, kind)
            if m["cols"]:
                title = tr["heatmap"].format(dim=dim_name, kind=tr["kinds"][kind])
                heatmaps.append({"title": title, "svg": charts.heatmap(m["rows"], m["cols"], m["values"],
                                                                       m["counts"], title), "matrix": m, "kind": kind})
        conv_chart = charts.hbar([(r["group"], r["conversion"] or 0.0, f"{_pct(r['conversion'])} · {r['won']}/"
                                   f"{r['won'] + r['lost']}") for r in conv_rows if r["won"] + r["lost"]],
                                 tr["conv_by"].format(dim=dim_name), max_value=1.0, color=charts.OUTCOME_COLORS["won"])
        marketing.append({"dim": dim, "name": dim_name, "rows": conv_rows, "heatmaps": heatmaps,
                          "conv_title": tr["conv_by"].format(dim=dim_name),
                          "top_title": tr["top_themes_by"].format(dim=dim_name), "conv_chart": conv_chart})

    theme_conv = sorted([t for k in KINDS for t in data.themes.get(k, []) if t.won + t.lost > 0],
                        key=lambda t: (-(t.won + t.lost), t.label))[:15]
    theme_conv_chart = charts.hbar([(f"{tr['kind_short'][t.kind]}: {t.label}", t.conversion or 0.0,
                                     f"{_pct(t.conversion)} · {t.won}/{t.won + t.lost}") for t in theme_conv],
                                   tr["conv_by_theme"], max_value=1.0, color=charts.OUTCOME_COLORS["won"])
    lw = data.lost_vs_won()
    lw_chart = charts.hbar([(f"{tr['kind_short'][r['kind']]}: {r['label']}", r["share_lost"],
                             f"{tr['lost']} {_pct(r['share_lost'])} · {tr['won']} {_pct(r['share_won'])}")
                            for r in lw["over_lost"]], tr["over_lost"], max_value=1.0,
                           color=charts.OUTCOME_COLORS["lost"])
    script = data.script()
    for s in script["steps"]:
        s["anchor"] = step_anchor(s["step_id"])
    steps_chart = charts.hbar([(s["title"], s["share_done"] or 0.0, f"{_pct(s['share_done'])} · {s['done']}/{s['total']}")
                               for s in script["steps"] if s["total"]], tr["adherence"], max_value=1.0,
                              color=charts.PALETTE[5])
    agents = data.agents(script["adherence_by_call"])
    agents_chart = charts.hbar([(a["agent"], a["conversion"] or 0.0, f"{_pct(a['conversion'])} · {a['won']}/"
                                 f"{a['won'] + a['lost']}") for a in agents if a["won"] + a["lost"]],
                               tr["agents"], max_value=1.0, color=charts.OUTCOME_COLORS["won"])
    recs_offer = offer_recommendations(data, offer_text, tr, store)
    recs_script = script_recommendations(data, script, tr)
    has_trends = bool(data.periods()[1])
    ctx = {
        "t": tr, "lang": lang, "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "head": head, "outcome_chart": charts.stacked_bar(outcome_parts, tr["outcomes"]),
        "kinds": kinds, "marketing": marketing, "theme_conv": theme_conv, "theme_conv_chart": theme_conv_chart,
        "lw": lw, "lw_chart": lw_chart, "agents": agents, "agents_chart": agents_chart,
        "script": script, "steps_chart": steps_chart, "recs_offer": recs_offer, "recs_script": recs_script,
        "dyn": dynamics_context(data, tr, words),
        "offer_given": offer_text is not None, "script_given": script["present"],
        "redacted": redact, "errors": data.failed_calls(), "pct": _pct, "num": _num,
        "has_trends": has_trends, "caveats": caveats(data, head, lw, has_trends, words),
        "review": review_rows(data, tr), "include_uncertain": data.include_uncertain,
        "min_calls": words.n(min_support(data.n_calls), "call", "gent"),
        "calls_note": (tr["calls_note"].format(calls=words.n(head["n_left_out"], "call"))
                       if head["n_left_out"] else ""),
        "hours_note": (tr["hours_from"].format(n=head["n_timed"])
                       if head["hours"] is not None and head["n_timed"] < head["n_calls"] else ""),
    }
    return ctx, data


def unthemed_kinds(data: ReportData) -> list[str]:
    """Kinds with statements in the counted calls but no themes (the themes stage has not run)."""
    kinds_with_themes = {r[0] for r in data.store.db.execute("SELECT DISTINCT kind FROM themes")}
    return sorted({s["kind"] for s in data.statements if s["call_id"] in data.calls} - kinds_with_themes,
                  key=KINDS.index)


def caveats(data: ReportData, head: dict, lw: dict, has_trends: bool, words: Wording) -> list[str]:
    """Every note on how far the numbers go, said once, at the top of the report."""
    tr, out = words.tr, []
    if head["n_review"]:
        reasons = []
        for flag, key in ((FLAG_ROLES, "cav_reason_roles"), (FLAG_ONE_SIDED, "cav_reason_one_sided")):
            n = sum(1 for c in data.review if any(f["flag"] == flag for f in c["flags"]))
            if n:
                reasons.append(tr[key].format(calls=words.n(n, "call")))
        key = "cav_included" if data.include_uncertain else "cav_left_out"
        out.append(tr[key].format(calls=words.n(head["n_review"], "call"), reasons="; ".join(reasons)))
    if lw["has_both"] and lw["small"]:
        out.append(tr["cav_small"].format(won=lw["n_won"], lost=lw["n_lost"],
                                          won_calls=words.n(lw["n_won"], "won_call"),
                                          lost_calls=words.n(lw["n_lost"], "lost_call")))
    raw = unthemed_kinds(data)
    if raw:
        out.append(tr["cav_no_themes"].format(kinds=", ".join(tr["kind_short"][k] for k in raw)))
    empty = [k for k in KINDS if not data.themes.get(k)]
    if data.n_calls and empty:
        out.append(tr["cav_no_kinds"].format(kinds=", ".join(tr["kinds_plural"][k] for k in empty)))
    if data.n_calls and not has_trends:
        out.append(tr["cav_trend"])
    if data.n_calls and head["hours"] is None:
        out.append(tr["cav_no_times"])
    return out


def review_rows(data: ReportData, tr: dict) -> list[dict[str, Any]]:
    """The flagged calls, one row each with its reasons in words."""
    rows = []
    for c in data.review:
        reasons = []
        for f in c["flags"]:
            if f["flag"] == FLAG_ROLES:
                reasons.append(tr["flag_roles_unknown"] if f.get("confidence") is None else tr["flag_roles"].format(
                    conf=f"{f['confidence']:.2f}", method=f.get("method") or "?"))
            else:
                reasons.append(tr["flag_one_sided"].format(side=tr["side_" + f["side"]], words=f["words"]))
        rows.append({"call_id": data.gate.call_id(c["call_id"]) or "", "agent": c["agent"] or "",
                     "reasons": "; ".join(reasons), "flags": ",".join(sorted({f["flag"] for f in c["flags"]})),
                     "role_confidence": c["role_confidence"], "agent_words": c["words"].get("agent", 0),
                     "customer_words": c["words"].get("customer", 0), "counted": data.include_uncertain})
    return rows


def _env(autoescape: bool):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["hm"] = _hm
    env.filters["md"] = md_escape
    return env


def _safe_cell(value: Any) -> Any:
    """Spreadsheet cells must not start a formula: customer text like '=HYPERLINK(...)' stays text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def tables(ctx: dict[str, Any], data: ReportData) -> dict[str, Any]:
    """Every table of the report as a DataFrame (the CSV/XLSX exports)."""
    import pandas as pd

    themes, quotes = [], []
    for kind in KINDS:
        for t in data.themes.get(kind, []):
            themes.append({"kind": kind, "theme_id": t.theme_id, "label": t.label, "n_calls": t.n_calls,
                           "share_calls": round(t.share, 4), "n_statements": t.n_statements,
                           "emerging": int(t.emerging), "won": t.won, "lost": t.lost,
                           "conversion": None if t.conversion is None else round(t.conversion, 4),
                           "terms": "; ".join(t.terms)})
            for q in t.quotes:
                quotes.append({"kind": kind, "theme_id": t.theme_id, "label": t.label, "call_id": q["call_id"],
                               "agent": q["agent"], "timestamp": q["ts"], "text": q["text"]})
    # Every statement of every reported theme, so that none is only reachable through the top quotes.
    statements = []
    for s in data.statements:
        row = data.theme_index.get((s["kind"], s["theme_id"]))
        if row is None or s["outlier"] or s["call_id"] not in data.calls:
            continue
        cid = s["call_id"]
        text = data.gate.text(s["text"], call_id=cid, turn=s["turn"]) if data.gate.enabled else data.redact(s["text"])
        statements.append({"kind": s["kind"], "theme_id": s["theme_id"], "label": row.label,
                           "call_id": data.gate.call_id(cid), "agent": data.calls[cid]["agent"] or "",
                           "timestamp": fmt_ts(s["start"]), "text": text})
    channels, channel_themes = [], []
    for m in ctx["marketing"]:
        for r in m["rows"]:
            channels.append({"dimension": m["dim"], "value": r["group"], "calls": r["n"], "won": r["won"],
                             "lost": r["lost"], "pending": r["pending"], "conversion": r["conversion"],
                             "amount_won": r["amount"]})
        for h in m["heatmaps"]:
            mx = h["matrix"]
            for i, g in enumerate(mx["rows"]):
                for j, c in enumerate(mx["cols"]):
                    channel_themes.append({"dimension": m["dim"], "value": g, "kind": h["kind"], "theme": c,
                                           "calls": mx["counts"][i][j], "share": round(mx["values"][i][j], 4)})
    lw = [{k: r[k] for k in ("kind", "theme_id", "label", "lost", "won", "share_lost", "share_won", "lift", "p")}
          for r in ctx["lw"]["rows"]]
    agents = [{"agent": a["agent"], "calls": a["n"], "hours": round(a["hours"], 3), "won": a["won"],
               "lost": a["lost"], "conversion": a["conversion"], "adherence": a["adherence"],
               "top_objections": "; ".join(f"{o['label']} ({o['n']})" for o in a["objections"]),
               "top_motives_needs": "; ".join(f"{o['label']} ({o['n']})" for o in a["motives"])}
              for a in ctx["agents"]]
    steps = [{k: s[k] for k in ("step_id", "title", "total", "done", "skipped", "share_done", "conv_done",
                                "conv_skipped", "won_done", "lost_done", "won_skipped", "lost_skipped")}
             for s in ctx["script"]["steps"]]
    coverage = [{"kind": c["kind"], "theme_id": c["theme_id"], "label": c["label"], "answered": c["state"],
                 "step_id": c["step_id"] or "", "step_title": c["step_title"] or "",
                 "p_chance": c["p_chance"], "n_calls": c["n_calls"], "share_calls": round(c["share"], 4),
                 "n_lost": c["n_lost"], "n_won": c["n_won"]} for c in ctx["script"]["coverage"]]
    recs = [{"area": r["area"], "kind": r["kind"], "theme_id": r["theme_id"], "step_id": r["step_id"] or "",
             "answered": r["state"] or "", "text": r["text"], "support_calls": r["support"]["calls"],
             "support_base": r["support"]["base"], "support_share": round(r["support"]["share"], 4),
             "support_won": r["support"]["won"], "support_lost": r["support"]["lost"],
             "detail": r["detail"], "evidence": "#" + r["anchor"] if r["anchor"] else ""}
            for r in ctx["recs_offer"] + ctx["recs_script"]]
    review = [{k: r[k] for k in ("call_id", "flags", "reasons", "role_confidence", "agent_words",
                                 "customer_words", "counted")} for r in ctx["review"]]
    frames = {"themes": themes, "quotes": quotes, "statements": statements, "channels": channels, "channel_themes": channel_themes,
              "lost_vs_won": lw, "agents": agents, "script_steps": steps, "coverage": coverage,
              "recommendations": recs, "review": review}
    out = {name: pd.DataFrame(rows).map(_safe_cell) if rows else pd.DataFrame(rows) for name, rows in frames.items()}
    out.update({name: df.map(_safe_cell) for name, df in dynamics_frames(ctx["dyn"]).items()})
    if not review:  # an empty review table still says what it would hold
        out["review"] = pd.DataFrame(columns=["call_id", "flags", "reasons", "role_confidence", "agent_words",
                                              "customer_words", "counted"])
    return out


def check_ready(store) -> None:
    """Raise InputFormatError naming the stage to run when the store holds nothing to report: no
    calls (run import or transcribe) or no customer statements (run extract, then themes)."""
    where = str(getattr(store, "path", "") or "") or None
    arg = f"--store {shlex.quote(where)}" if where else "--store DIR"
    n_calls = store.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    if not n_calls:
        raise InputFormatError("nothing to report: the store has no calls", path=where,
                               hint=f"add calls with `callbridge import TRANSCRIPTS {arg}` or "
                                    f"`callbridge transcribe RECORDINGS {arg}`, or do everything with "
                                    "`callbridge run INPUT --out DIR`")
    if not store.db.execute("SELECT COUNT(*) FROM statements").fetchone()[0]:
        raise InputFormatError(f"nothing to report: the store has {n_calls} call{'' if n_calls == 1 else 's'} "
                               "but no customer statements",
                               path=where, hint=f"run `callbridge extract {arg}`, then `callbridge themes {arg}`, "
                                                "then the report again")


def build_report(store, out_dir, lang: str | None = None, offer_path=None, redact: bool = True,
                 include_uncertain: bool = False, explorer: bool = True,
                 explorer_audio: str | None = None) -> ReportResult:
    """Write report.html, report.md, tables/*.csv and report.xlsx for the calls in `store`, and
    with `explorer` the call explorer in `explorer/` (`nlp.explorer`), every quote linked to its turn
    there; `explorer_audio` is link, copy or none (default: none with redaction on, else link).

    Calls with uncertain roles or a silent side are left out of the numbers and listed for review
    unless `include_uncertain`. Raises InputFormatError for a bad language or offer, and when the
    store holds nothing to report (`check_ready`: no calls, or no statements), before writing anything.
    Every file gets the same mode (`nlp.fileutil.FILE_MODE`, what the umask allows)."""
    import pandas as pd

    from ..fileutil import atomic_path, atomic_write_text

    if lang is not None and lang not in LANGS:
        raise InputFormatError(f"unknown report language {lang!r}", hint="use --lang ru or --lang en")
    offer_text = read_offer(offer_path) if offer_path else None
    from .. import explorer as _explorer

    audio_mode = _explorer.check_audio_mode(explorer_audio, redact) if explorer else None
    check_ready(store)
    lang = lang or dominant_language(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx, data = build_context(store, lang, offer_text, redact, include_uncertain)
    ctx["explorer"] = None
    if explorer:
        names = _explorer.page_names(store, data.all_calls)
        _explorer.link_quotes(ctx, names)
        ctx["explorer"] = _explorer.report_context(lang, redact, audio_mode)
    html = _env(True).get_template("report.html.j2").render(**ctx)
    md = _env(False).get_template("report.md.j2").render(**ctx)
    atomic_write_text(out / "report.html", html)
    atomic_write_text(out / "report.md", md)
    frames = tables(ctx, data)
    tdir = out / "tables"
    tdir.mkdir(exist_ok=True)
    csvs = []
    for name, df in frames.items():
        p = tdir / f"{name}.csv"
        # a BOM so spreadsheet programs open Cyrillic correctly
        atomic_write_text(p, "\ufeff" + df.to_csv(index=False, lineterminator="\n"))
        csvs.append(p)
    xlsx = out / "report.xlsx"
    with atomic_path(xlsx) as tmp, open(tmp, "wb") as fh:
        with pd.ExcelWriter(fh, engine="openpyxl") as xw:
            for name, df in frames.items():
                (df if len(df.columns) else pd.DataFrame({"": []})).to_excel(xw, sheet_name=name[:31], index=False)
    explored = _explorer.build_explorer(store, out, data, lang=lang, redact=redact, audio=audio_mode,
                                        names=names) if explorer else None
    return ReportResult(out, out / "report.html", out / "report.md", xlsx, csvs, lang, data.n_calls,
                        len(ctx["recs_offer"]) + len(ctx["recs_script"]), n_left_out=ctx["head"]["n_left_out"],
                        hints=_hints(store, data), explorer=explored)


def _hints(store, data: ReportData) -> list[str]:
    where = str(getattr(store, "path", "") or "DIR")
    raw = unthemed_kinds(data)
    return [f"no themes for {', '.join(raw)}: identical statements were grouped as they are; run "
            f"`callbridge themes --store {shlex.quote(where)}` for themes"] if raw else []
