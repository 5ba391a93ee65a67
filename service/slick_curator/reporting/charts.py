"""Inline SVG charts for the HTML report: no script, no web fonts, nothing fetched.

Every chart is an `<svg class="chart" data-chart=NAME>` that scales with the page; every
mark has a `<title>` (the browser's tooltip); every text is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

__all__ = ["COLORS", "Bar", "Segment", "bars", "histogram", "stacked"]

COLORS = {
    "HighlyKnown": "#2b8a3e", "MaybeKnown": "#82c91e", "WeaklyKnown": "#f59f00",
    "Unknown": "#e03131", "skipped": "#adb5bd", "no_facts": "#74c0fc",
    "keep": "#2b8a3e", "relabel": "#3b5bdb", "drop": "#c92a2a", "trim": "#ae3ec9",
}
_TEXT = "#212529"
_MUTED = "#868e96"
_GRID = "#e9ecef"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


def _svg(name: str, width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" data-chart="{_e(name)}" role="img" aria-label="{_e(label)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_e(label)}</title>{"".join(body)}</svg>')


@dataclass(frozen=True)
class Bar:
    """One labelled bar of a bar chart."""

    label: str
    value: int
    color: str


def bars(name: str, items: Sequence[Bar], *, label: str, total: int | None = None) -> Markup:
    """Horizontal bars with counts and shares of `total` (default: their sum)."""
    total = sum(b.value for b in items) if total is None else total
    top = max([b.value for b in items] + [1])
    width, left, bar_w, row_h = 1000, 150, 680, 34
    height = row_h * len(items) + 8
    body = []
    for i, b in enumerate(items):
        y = 4 + i * row_h
        w = max(0.0, bar_w * b.value / top)
        body.append(
            f'<g class="mark"><title>{_e(b.label)}: {b.value} rows ({_pct(b.value, total)})'
            f'</title>'
            f'<text x="{left - 12}" y="{y + 21}" text-anchor="end" font-size="14" '
            f'fill="{_TEXT}">{_e(b.label)}</text>'
            f'<rect x="{left}" y="{y + 5}" width="{bar_w}" height="22" rx="4" fill="{_GRID}"/>'
            f'<rect class="bar" x="{left}" y="{y + 5}" width="{w:.1f}" height="22" rx="4" '
            f'fill="{_e(b.color)}"/>'
            f'<text x="{left + bar_w + 12}" y="{y + 21}" font-size="14" fill="{_TEXT}">'
            f'<tspan font-weight="600">{b.value:,}</tspan>'
            f'<tspan fill="{_MUTED}"> · {_pct(b.value, total)}</tspan></text></g>')
    return _svg(name, width, height, label, body)


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar."""

    name: str
    value: int
    color: str


def stacked(name: str, rows: Sequence[tuple[str, Sequence[Segment]]], *, label: str,
            unit: str = "rows") -> Markup:
    """100% stacked horizontal bars, one per (label, segments), with the row total."""
    width, left, bar_w, row_h = 1000, 170, 700, 30
    height = row_h * len(rows) + 8
    body = []
    for i, (row_label, segments) in enumerate(rows):
        y = 4 + i * row_h
        total = sum(s.value for s in segments)
        short = row_label if len(row_label) <= 18 else row_label[:17] + "…"
        body.append(f'<text x="{left - 12}" y="{y + 19}" text-anchor="end" font-size="13" '
                    f'fill="{_TEXT}"><title>{_e(row_label)}</title>{_e(short)}</text>')
        body.append(f'<rect x="{left}" y="{y + 4}" width="{bar_w}" height="20" rx="3" '
                    f'fill="{_GRID}"/>')
        x = float(left)
        for s in segments:
            if not s.value:
                continue
            w = bar_w * s.value / total
            body.append(
                f'<g class="mark"><title>{_e(row_label)} · {_e(s.name)}: {s.value:,} {unit} '
                f'({_pct(s.value, total)})</title><rect class="bar" x="{x:.1f}" y="{y + 4}" '
                f'width="{w:.1f}" height="20" fill="{_e(s.color)}"/>')
            if w >= 40:
                body.append(f'<text x="{x + w / 2:.1f}" y="{y + 18}" text-anchor="middle" '
                            f'font-size="11" fill="#fff">{_pct(s.value, total)}</text>')
            body.append("</g>")
            x += w
        units = unit if total != 1 else unit.removesuffix("s")
        body.append(f'<text x="{left + bar_w + 12}" y="{y + 19}" font-size="13" '
                    f'fill="{_MUTED}">{total:,} {units}</text>')
    return _svg(name, width, height, label, body)


def histogram(name: str, bins: Sequence[str], ticks: Sequence[str],
              series: Sequence[tuple[str, Sequence[int], str]], *, label: str,
              value_name: str) -> Markup:
    """Vertical bars per bin, stacked by series (name, counts, color), with a y axis."""
    width, height, left, right, top, bottom = 480, 270, 44, 8, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[1][b] for s in series) for b in range(len(bins))]
    peak = max(totals + [1])
    step = _nice_step(peak)
    y_max = step * -(-peak // step)
    slot = plot_w / len(bins)
    body = []
    for k in range(0, y_max + 1, step):
        y = top + plot_h - plot_h * k / y_max
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{_GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                    f'font-size="11" fill="{_MUTED}">{k:,}</text>')
    for b, bin_label in enumerate(bins):
        x = left + b * slot + slot * 0.12
        w = slot * 0.76
        y = float(top + plot_h)
        for series_name, counts, color in series:
            n = counts[b]
            if not n:
                continue
            h = plot_h * n / y_max
            y -= h
            body.append(f'<g class="mark"><title>{_e(value_name)} {_e(bin_label)} · '
                        f'{_e(series_name)}: {n:,} rows</title><rect class="bar" x="{x:.1f}" '
                        f'y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{_e(color)}"/></g>')
        if totals[b]:
            body.append(f'<text x="{x + w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                        f'font-size="10" fill="{_MUTED}">{totals[b]:,}</text>')
        body.append(f'<text x="{x + w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                    f'font-size="11" fill="{_TEXT}">{_e(ticks[b])}</text>')
    body.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                f'y2="{top + plot_h}" stroke="{_MUTED}"/>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                f'font-size="12" fill="{_MUTED}">{_e(value_name)}</text>')
    return _svg(name, width, height, label, body)


def _nice_step(peak: int) -> int:
    """A round gridline step giving about four lines up to `peak`."""
    raw = max(1, peak / 4)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return int(factor * magnitude)
    return int(10 * magnitude)
