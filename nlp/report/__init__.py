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
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from ..errors import InputFormatError
from ..types import KINDS
from . import charts
from .analysis import MARKETING_KINDS, ReportData
from .recommend import offer_recommendations, read_offer, script_recommendations

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


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def build_context(store, lang: str, offer_text: str | None, redact: bool) -> tuple[dict[str, Any], ReportData]:
    tr = translations()[lang]
    from ..redact import Redactor

    data = ReportData(store, lang, make_redactor(redact), Redactor(store, redact))
    head = data.headline()
    outcome_parts = [(k, head["outcomes"][k], tr[k]) for k in ("won", "lost", "pending", "unknown")]

    kinds = []
    for kind in KINDS:
        rows = data.themes.get(kind, [])
        top = rows[:8]
        tr_trend = data.trend(kind)
        period_name = tr["period_" + tr_trend["granularity"]]
        kinds.append({
            "kind": kind, "title": tr["kinds"][kind], "id": f"kind-{kind}", "themes": top,
            "more": max(0, len(rows) - len(top)),
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
        s["anchor"] = "step-" + re.sub(r"[^A-Za-z0-9_-]", "_", s["step_id"])
    steps_chart = charts.hbar([(s["title"], s["share_done"] or 0.0, f"{_pct(s['share_done'])} · {s['done']}/{s['total']}")
                               for s in script["steps"] if s["total"]], tr["adherence"], max_value=1.0,
                              color=charts.PALETTE[5])
    agents = data.agents(script["adherence_by_call"])
    agents_chart = charts.hbar([(a["agent"], a["conversion"] or 0.0, f"{_pct(a['conversion'])} · {a['won']}/"
                                 f"{a['won'] + a['lost']}") for a in agents if a["won"] + a["lost"]],
                               tr["agents"], max_value=1.0, color=charts.OUTCOME_COLORS["won"])
    recs_offer = offer_recommendations(data, offer_text, tr, store)
    recs_script = script_recommendations(data, script, tr)
    ctx = {
        "t": tr, "lang": lang, "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "head": head, "outcome_chart": charts.stacked_bar(outcome_parts, tr["outcomes"]),
        "kinds": kinds, "marketing": marketing, "theme_conv": theme_conv, "theme_conv_chart": theme_conv_chart,
        "lw": lw, "lw_chart": lw_chart, "agents": agents, "agents_chart": agents_chart,
        "script": script, "steps_chart": steps_chart, "recs_offer": recs_offer, "recs_script": recs_script,
        "offer_given": offer_text is not None, "script_given": script["present"],
        "redacted": redact, "errors": data.failed_calls(), "pct": _pct, "num": _num,
    }
    return ctx, data


def _env(autoescape: bool):
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _pct
    env.filters["num"] = _num
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
                                "conv_skipped")} for s in ctx["script"]["steps"]]
    coverage = [{k: c[k] for k in ("kind", "theme_id", "label", "covered", "best_step", "score", "n_calls",
                                   "n_lost", "n_won", "lift_lost")} for c in ctx["script"]["coverage"]]
    recs = [{"area": r["area"], "kind": r["kind"], "theme_id": r["theme_id"], "text": r["text"],
             "detail": r["detail"], "evidence": "#" + r["anchor"] if r["anchor"] else ""}
            for r in ctx["recs_offer"] + ctx["recs_script"]]
    frames = {"themes": themes, "quotes": quotes, "channels": channels, "channel_themes": channel_themes,
              "lost_vs_won": lw, "agents": agents, "script_steps": steps, "coverage": coverage,
              "recommendations": recs}
    return {name: pd.DataFrame(rows).map(_safe_cell) if rows else pd.DataFrame(rows) for name, rows in frames.items()}


def build_report(store, out_dir, lang: str | None = None, offer_path=None, redact: bool = True) -> ReportResult:
    """Write report.html, report.md, tables/*.csv and report.xlsx for the calls in `store`."""
    import pandas as pd

    from ..fileutil import atomic_write_text

    if lang is not None and lang not in LANGS:
        raise InputFormatError(f"unknown report language {lang!r}", hint="use --lang ru or --lang en")
    lang = lang or dominant_language(store)
    offer_text = read_offer(offer_path) if offer_path else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx, data = build_context(store, lang, offer_text, redact)
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
    tmp = out / ".report.xlsx.tmp"
    with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
        for name, df in frames.items():
            (df if len(df.columns) else pd.DataFrame({"": []})).to_excel(xw, sheet_name=name[:31], index=False)
    tmp.replace(xlsx)
    return ReportResult(out, out / "report.html", out / "report.md", xlsx, csvs, lang, data.n_calls,
                        len(ctx["recs_offer"]) + len(ctx["recs_script"]))
