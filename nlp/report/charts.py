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


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT} font-size="12"><title>{esc(title)}</title>'
            + "".join(body) + "</svg>")


def hbar(items: Sequence[tuple[str, float, str]], title: str, *, max_value: float | None = None,
         color: str = PALETTE[0], width: int = 720, label_width: int = 300, href_prefix: str | None = None) -> str:
    """One bar per (label, value in 0..max, annotation text). Values are usually shares of calls."""
    if not items:
        return ""
    row, pad = 22, 4
    height = row * len(items) + pad * 2
    top = max_value if max_value else max((v for _, v, _ in items), default=1.0) or 1.0
    bar_w = width - label_width - 170  # room for the annotation after the longest bar
    body = []
    for i, (label, value, note) in enumerate(items):
        y = pad + i * row
        w = max(1.0, bar_w * (value / top)) if value > 0 else 0.0
        body.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" fill="#222">'
                    f'<title>{esc(label)}</title>{esc(_clip(label, 48))}</text>')
        body.append(f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{row - 7}" '
                    f'fill="{color}" rx="2"><title>{esc(label)}: {esc(note)}</title></rect>')
        body.append(f'<text x="{label_width + w + 6:.1f}" y="{y + 15}" fill="#444">{esc(note)}</text>')
    return _svg(width, height, body, title)


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
    lx = 0
    for key, n, label in parts:
        if n <= 0:
            continue
        color = OUTCOME_COLORS.get(key, "#888")
        text = f"{label}: {n} ({100 * n / total:.0f}%)"
        body.append(f'<rect x="{lx}" y="36" width="12" height="12" fill="{color}"/>'
                    f'<text x="{lx + 16}" y="46" fill="#222">{esc(text)}</text>')
        lx += 16 + 7 * len(text) + 18
    return _svg(width, 54, body, title)


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
                    f'<text x="{left + 18}" y="{ly - 3}" fill="#222">{esc(_clip(name, 90))}</text>')
    return _svg(width, total_h, body, title)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float]],
            counts: Sequence[Sequence[int]], title: str, width: int = 720) -> str:
    """Rows (channels) × columns (themes); a cell's darkness is the share, its text the share in %."""
    if not rows or not cols:
        return ""
    label_w, head_h, cell_h = 170, 130, 24
    cell_w = max(34, min(90, (width - label_w) // len(cols)))
    width = label_w + cell_w * len(cols) + 120  # rotated column labels run up and to the right
    height = head_h + cell_h * len(rows) + 4
    vmax = max((v for r in values for v in r), default=0.0) or 1.0
    body = []
    for j, c in enumerate(cols):
        x = label_w + j * cell_w + cell_w / 2
        body.append(f'<text transform="translate({x + 4:.1f},{head_h - 6}) rotate(-45)" fill="#222">'
                    f'<title>{esc(c)}</title>{esc(_clip(c, 24))}</text>')
    for i, r in enumerate(rows):
        y = head_h + i * cell_h
        body.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end" fill="#222">'
                    f'<title>{esc(r)}</title>{esc(_clip(r, 24))}</text>')
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
