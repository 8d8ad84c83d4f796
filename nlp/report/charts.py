"""Inline SVG charts for the report: horizontal bars, trend lines, a heatmap, a stacked bar.

Charts are plain SVG strings built here so the report needs no JavaScript, no CDN and prints
like text. Every piece of text placed in a chart goes through `esc` because the template marks
the SVG as safe: labels come from what customers said and may hold markup.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

# Colour-blind-safe palette (Okabe-Ito), readable in greyscale print too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
OUTCOME_COLORS = {"won": "#009E73", "lost": "#D55E00", "pending": "#E69F00", "unknown": "#BBBBBB"}
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif"'


def esc(text: object) -> str:
    return escape(str(text), quote=True)


# Advance widths in em of a sans-serif system font, rounded up: SVG text cannot be measured without
# a browser, so labels are fitted to a conservative estimate and never run past the drawing.
_NARROW = set("ijlI.,:;'|!()[]{}/\\ ·-’")
_WIDE = set("mwMWшщжюыфмШЩЖЮЫФМ@%—…")


def text_width(text: str, size: float = 12.0) -> float:
    """Estimated width in px of `text` at font size `size`: an upper bound for the common sans-serif
    fonts (measured against DejaVu Sans, the widest of them, in headless Chromium: estimate / real
    >= 1.04 for Cyrillic, Latin, capitals and digits)."""
    em = 0.0
    for ch in str(text):
        if ch in _NARROW:
            em += 0.38
        elif ch in _WIDE:
            em += 0.98
        elif ch.isdigit():
            em += 0.68
        elif ch.isupper():
            em += 0.8
        elif ch == " ":
            em += 0.34
        elif "\u0400" <= ch <= "\u04ff":
            em += 0.66
        else:
            em += 0.64
    return em * size


def ellipsize(text: str, max_px: float, size: float = 12.0) -> str:
    """`text` on one line, cut with "…" so that it fits `max_px`."""
    text = " ".join(str(text).split())
    if text_width(text, size) <= max_px:
        return text
    while text and text_width(text + "…", size) > max_px:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap(text: str, max_px: float, max_lines: int = 2, size: float = 12.0) -> list[str]:
    """`text` broken at spaces into at most `max_lines` lines of at most `max_px` each; a word longer
    than a line is cut, and the last line ends in "…" when text is left over."""
    words = " ".join(str(text).split()).split(" ")
    lines: list[str] = []
    cur = ""
    i = 0
    while i < len(words) and len(lines) < max_lines:
        cand = f"{cur} {words[i]}".strip()
        if text_width(cand, size) <= max_px:
            cur, i = cand, i + 1
            continue
        if not cur:  # one word wider than the line
            lines.append(ellipsize(words[i], max_px, size))
            i += 1
            continue
        lines.append(cur)
        cur = ""
    if cur and len(lines) < max_lines:
        lines.append(cur)
    if i < len(words):
        rest = " ".join([lines[-1]] + words[i:]) if lines else " ".join(words[i:])
        lines[-1:] = [ellipsize(rest + " …", max_px, size)] if text_width(rest, size) > max_px else [rest]
    return lines or [""]


def _tspans(lines: list[str], x: float, line_h: float) -> str:
    return "".join(f'<tspan x="{x:.1f}" dy="{0 if k == 0 else line_h}">{esc(t)}</tspan>' for k, t in enumerate(lines))


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT} font-size="12"><title>{esc(title)}</title>'
            + "".join(body) + "</svg>")


def hbar(items: Sequence[tuple[str, float, str]], title: str, *, max_value: float | None = None,
         color: str = PALETTE[0], width: int = 720, label_width: int = 300, href_prefix: str | None = None) -> str:
    """One bar per (label, value in 0..max, annotation text). Values are usually shares of calls.
    Labels wrap onto two lines and end in "…" when longer; the full label is the tooltip (<title>)."""
    if not items:
        return ""
    line_h, pad = 14, 4
    note_w = max(text_width(n) for _, _, n in items) + 8
    bar_w = max(60.0, width - label_width - note_w - 6)  # room for the annotation after the longest bar
    top = max_value if max_value else max((v for _, v, _ in items), default=1.0) or 1.0
    wrapped = [wrap(label, label_width - 12) for label, _, _ in items]
    body, y = [], pad
    for (label, value, note), lines in zip(items, wrapped):
        row = max(22, 8 + line_h * len(lines))
        w = max(1.0, bar_w * min(value, top) / top) if value > 0 else 0.0
        ty = y + row / 2 + 4 - (len(lines) - 1) * line_h / 2
        body.append(f'<text x="{label_width - 6}" y="{ty:.1f}" text-anchor="end" fill="#222">'
                    f'<title>{esc(label)}</title>{_tspans(lines, label_width - 6, line_h)}</text>')
        body.append(f'<rect class="bar" x="{label_width}" y="{y + row / 2 - 7.5:.1f}" width="{w:.1f}" height="15" '
                    f'fill="{color}" rx="2"><title>{esc(label)}: {esc(note)}</title></rect>')
        body.append(f'<text x="{label_width + w + 6:.1f}" y="{y + row / 2 + 4:.1f}" fill="#444">{esc(note)}</text>')
        y += row
    return _svg(width, int(y + pad), body, title)


def stacked_bar(parts: Sequence[tuple[str, int, str]], title: str, width: int = 720) -> str:
    """One 100% bar split into (key, count, label) parts, with a legend; colours by outcome key."""
    total = sum(n for _, n, _ in parts)
    if total <= 0:
        return ""
    body, x = [], 0.0
    for key, n, label in parts:
        if n <= 0:
            continue
        w = width * n / total
        color = OUTCOME_COLORS.get(key, PALETTE[len(body) % len(PALETTE)])
        body.append(f'<rect class="bar" x="{x:.1f}" y="0" width="{w:.1f}" height="26" fill="{color}">'
                    f'<title>{esc(label)}: {n}</title></rect>')
        if w > 40:
            body.append(f'<text x="{x + 6:.1f}" y="17" fill="#fff" font-weight="bold">{n}</text>')
        x += w
    lx, ly = 0.0, 36
    for key, n, label in parts:
        if n <= 0:
            continue
        color = OUTCOME_COLORS.get(key, "#888")
        text = ellipsize(f"{label}: {n} ({100 * n / total:.0f}%)", width - 16)
        tw = 16 + text_width(text) + 18
        if lx and lx + tw > width:  # the legend wraps rather than running off the drawing
            lx, ly = 0.0, ly + 18
        body.append(f'<rect x="{lx:.1f}" y="{ly}" width="12" height="12" fill="{color}"/>'
                    f'<text x="{lx + 16:.1f}" y="{ly + 10}" fill="#222"><title>{esc(label)}: {n}</title>{esc(text)}</text>')
        lx += tw
    return _svg(width, ly + 18, body, title)


def lines(periods: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str,
          width: int = 720, height: int = 200) -> str:
    """Trend lines: one series per theme, values are shares (0..1) per period."""
    if len(periods) < 2 or not series:
        return ""
    left, right, top, legend_row = 44, 12, 10, 18
    plot_h = height - top - 34
    total_h = height + legend_row * len(series)
    plot_w = width - left - right
    vmax = max((v for _, vals in series for v in vals), default=0.0)
    vmax = min(1.0, max(0.1, vmax * 1.15))
    step = plot_w / (len(periods) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot_h * (1 - v / vmax)

    body = []
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                    f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{100 * vmax * frac:.0f}%</text>')
    every = max(1, len(periods) // 8)
    for i, p in enumerate(periods):
        if i % every == 0 or i == len(periods) - 1:
            x, _ = xy(i, 0)
            anchor = "start" if i == 0 else "end" if i == len(periods) - 1 else "middle"
            body.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}" fill="#666">{esc(p)}</text>')
    for k, (name, vals) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(vals)))
        body.append(f'<polyline class="trend" points="{pts}" fill="none" stroke="{color}" stroke-width="2">'
                    f'<title>{esc(name)}</title></polyline>')
        for i, v in enumerate(vals):
            x, y = xy(i, v)
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                        f'<title>{esc(name)} · {esc(periods[i])}: {100 * v:.0f}%</title></circle>')
        ly = height + legend_row * k
        body.append(f'<rect x="{left}" y="{ly - 9}" width="12" height="4" fill="{color}"/>'
                    f'<text x="{left + 18}" y="{ly - 3}" fill="#222"><title>{esc(name)}</title>'
                    f'{esc(ellipsize(name, width - left - 18 - right))}</text>')
    return _svg(width, total_h, body, title)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float]],
            counts: Sequence[Sequence[int]], title: str, width: int = 720) -> str:
    """Rows (channels) × columns (themes); a cell's darkness is the share, its text the share in %."""
    if not rows or not cols:
        return ""
    label_w, head_h, cell_h = 170, 160, 24
    cell_w = max(34, min(90, (width - label_w) // len(cols)))
    # a column label runs up and to the right at 45°: its length is bounded by the header's height
    diag = (head_h - 22) / 0.7072  # less the glyphs' height, which also rises at 45°
    col_labels = [ellipsize(c, diag) for c in cols]
    reach = max(text_width(c) for c in col_labels) * 0.7072
    width = int(label_w + cell_w * (len(cols) - 1) + cell_w / 2 + 4 + reach + 12)
    width = max(width, label_w + cell_w * len(cols) + 4)
    height = head_h + cell_h * len(rows) + 4
    vmax = max((v for r in values for v in r), default=0.0) or 1.0
    body = []
    for j, (c, shown) in enumerate(zip(cols, col_labels)):
        x = label_w + j * cell_w + cell_w / 2
        body.append(f'<text transform="translate({x + 4:.1f},{head_h - 6}) rotate(-45)" fill="#222">'
                    f'<title>{esc(c)}</title>{esc(shown)}</text>')
    for i, r in enumerate(rows):
        y = head_h + i * cell_h
        body.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" fill="#222">'
                    f'<title>{esc(r)}</title>{esc(ellipsize(r, label_w - 12))}</text>')
        for j, c in enumerate(cols):
            v = values[i][j]
            a = 0.08 + 0.92 * (v / vmax) if v > 0 else 0.0
            fg = "#fff" if a > 0.55 else "#222"
            x = label_w + j * cell_w
            body.append(f'<rect class="cell" x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                        f'fill="{PALETTE[0]}" fill-opacity="{a:.2f}" stroke="#eee">'
                        f'<title>{esc(r)} × {esc(c)}: {100 * v:.0f}% ({counts[i][j]})</title></rect>')
            body.append(f'<text x="{x + (cell_w - 2) / 2:.1f}" y="{y + 16}" text-anchor="middle" fill="{fg}">'
                        f'{100 * v:.0f}%</text>')
    return _svg(width, height, body, title)


def paired_bars(rows: Sequence[tuple[str, Sequence[tuple[float | None, str]]]], series: Sequence[tuple[str, str]],
                title: str, *, width: int = 720, label_width: int = 260) -> str:
    """Groups side by side on measures of different units (talk share, seconds, counts): per row (label,
    [(value, note) per series]), one bar per series in its colour (`series`: (name, colour), shown as a
    legend). Each row is scaled to its own largest value, so bars compare within a row, not across rows.
    A value None draws no bar, only its note."""
    if not rows or not series:
        return ""
    bar_h, gap, pad, legend_h = 13, 3, 6, 22
    k = len(series)
    note_w = max((text_width(n) for _, vals in rows for _, n in vals), default=0.0) + 8
    bar_w = max(60.0, width - label_width - note_w - 6)
    body, lx = [], float(label_width)
    for name, color in series:
        text = ellipsize(name, width / k - 24)
        body.append(f'<rect x="{lx:.1f}" y="4" width="12" height="12" fill="{color}"/>'
                    f'<text x="{lx + 16:.1f}" y="14" fill="#222"><title>{esc(name)}</title>{esc(text)}</text>')
        lx += 16 + text_width(text) + 18
    y = legend_h
    for label, vals in rows:
        lines_ = wrap(label, label_width - 12)
        row = max(k * (bar_h + gap) + pad, 8 + 14 * len(lines_))
        top = max((v for v, _ in vals if v is not None), default=0.0) or 1.0
        ty = y + row / 2 + 4 - (len(lines_) - 1) * 7
        body.append(f'<text x="{label_width - 6}" y="{ty:.1f}" text-anchor="end" fill="#222">'
                    f'<title>{esc(label)}</title>{_tspans(lines_, label_width - 6, 14)}</text>')
        by = y + (row - k * (bar_h + gap) + gap) / 2
        for (v, note), (name, color) in zip(vals, series):
            w = max(1.0, bar_w * v / top) if v is not None and v > 0 else 0.0
            body.append(f'<rect class="bar" x="{label_width}" y="{by:.1f}" width="{w:.1f}" height="{bar_h}" '
                        f'fill="{color}" rx="2"><title>{esc(name)} · {esc(label)}: {esc(note)}</title></rect>')
            body.append(f'<text x="{label_width + w + 6:.1f}" y="{by + bar_h - 2:.1f}" fill="#444">{esc(note)}</text>')
            by += bar_h + gap
        y += row
    return _svg(width, int(y + pad), body, title)
