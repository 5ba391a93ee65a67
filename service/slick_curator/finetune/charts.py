"""Inline SVG charts of the fine-tune report: learning curves and metric bars with intervals.

Same conventions as the probe report's charts: an `<svg class="chart" data-chart=NAME>` that
scales with the page, a `<title>` on every mark, all text escaped, no script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup
from slick_client.schemas import EpochPoint, Interval

__all__ = ["CURVE_SERIES", "METRIC_COLORS", "Group", "learning_curve", "metric_bars"]

_TEXT, _MUTED, _GRID = "#212529", "#868e96", "#e9ecef"
# (field of EpochPoint, label, colour, dashed)
CURVE_SERIES = (
    ("train_fit_known", "train fit, known rows", "#2b8a3e", False),
    ("train_fit_unknown", "train fit, unknown rows", "#e03131", False),
    ("dev_accuracy", "dev accuracy", "#3b5bdb", True),
)
METRIC_COLORS = {"accuracy": "#2b8a3e", "hallucination": "#e03131", "abstention": "#868e96",
                 "precision": "#3b5bdb"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(name: str, width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" data-chart="{_e(name)}" role="img" aria-label="{_e(label)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_e(label)}</title>{"".join(body)}</svg>')


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def learning_curve(name: str, points: Sequence[EpochPoint], *, best_epoch: int | None,
                   label: str) -> Markup:
    """Shares (0–1) by epoch: train fit of known and unknown rows, dev accuracy; a dashed
    vertical line marks the early-stopping epoch."""
    width, height, left, right, top, bottom = 520, 250, 44, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    last = max([p.epoch for p in points] + [1])

    def x(epoch: float) -> float:
        return left + plot_w * epoch / last

    def y(value: float) -> float:
        return top + plot_h * (1 - value)

    body = _percent_grid(left, width - right, y)
    step = max(1, round(last / 10))
    for epoch in range(0, last + 1, step):
        body.append(f'<text x="{x(epoch):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                    f'font-size="11" fill="{_TEXT}">{epoch}</text>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                f'font-size="12" fill="{_MUTED}">epoch</text>')
    if best_epoch is not None:
        body.append(f'<g class="mark"><title>early stopping: epoch {best_epoch} (best dev '
                    f'accuracy)</title><line x1="{x(best_epoch):.1f}" x2="{x(best_epoch):.1f}" '
                    f'y1="{top}" y2="{top + plot_h}" stroke="{_MUTED}" stroke-dasharray="3 3"/>'
                    '</g>')
    for field, series, color, dashed in CURVE_SERIES:
        pts = [(p.epoch, getattr(p, field)) for p in points if getattr(p, field) is not None]
        if not pts:
            continue
        path = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in pts)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        body.append(f'<polyline class="line" data-series="{_e(field)}" points="{path}" '
                    f'fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for e, v in pts:
            body.append(f'<g class="mark"><title>{_e(series)}, epoch {e}: {_pct(v)}</title>'
                        f'<circle cx="{x(e):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}"/></g>')
    return _svg(name, width, height, label, body)


def _percent_grid(left: float, right: float, y) -> list[str]:
    """Horizontal grid lines at 0, 25, 50, 75, 100 % with their labels on the left."""
    lines = []
    for k in range(5):
        v = k / 4
        lines.append(f'<line x1="{left}" x2="{right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'stroke="{_GRID}"/><text x="{left - 6}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end" font-size="11" fill="{_MUTED}">{int(100 * v)}%</text>')
    return lines


@dataclass(frozen=True)
class Group:
    """The bars of one variant: metric -> interval."""

    label: str
    values: dict[str, Interval]


def metric_bars(name: str, groups: Sequence[Group], metrics: Sequence[str], *,
                label: str) -> Markup:
    """Vertical bars (0–100%) per variant and metric, with 95% interval whiskers."""
    width, height, left, right, top, bottom = 1000, 260, 44, 12, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(1, len(groups))
    bar = slot * 0.8 / max(1, len(metrics))

    def y(value: float) -> float:
        return top + plot_h * (1 - value)

    body = _percent_grid(left, width - right, y)
    for g, group in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        for m, metric in enumerate(metrics):
            interval = group.values.get(metric) or Interval()
            if interval.value is None:
                continue
            x = x0 + m * bar
            h = plot_h * interval.value
            ci = ("" if interval.low is None else
                  f" (95% CI {_pct(interval.low)}–{_pct(interval.high)})")
            body.append(f'<g class="mark" data-variant="{_e(group.label)}" '
                        f'data-metric="{_e(metric)}"><title>{_e(group.label)} · {_e(metric)}: '
                        f'{_pct(interval.value)}{ci}</title><rect class="bar" x="{x + 1:.1f}" '
                        f'y="{y(interval.value):.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                        f'fill="{METRIC_COLORS.get(metric, _MUTED)}"/>')
            if interval.low is not None and interval.high is not None:
                cx = x + bar / 2
                body.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(interval.low):.1f}" '
                            f'y2="{y(interval.high):.1f}" stroke="{_TEXT}" stroke-width="1.2"/>')
            body.append("</g>")
        body.append(f'<text x="{left + g * slot + slot / 2:.1f}" y="{top + plot_h + 18}" '
                    f'text-anchor="middle" font-size="13" fill="{_TEXT}">{_e(group.label)}'
                    '</text>')
    return _svg(name, width, height, label, body)
