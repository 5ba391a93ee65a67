"""The report as one self-contained HTML page: inline CSS and inline SVG, no script, nothing
fetched (a Content-Security-Policy says so), every user text escaped by Jinja's autoescape."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from slick_client.schemas import CATEGORIES, ReportPublic

from slick_curator.reporting import charts
from slick_curator.reporting.charts import COLORS, Bar, Segment

__all__ = ["CSP", "render_html"]

# The policy a page carries in its <meta>; services send the same as a header.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_TICKS = ["0", *(f"≤.{i}" for i in range(1, 10)), "<1", "1"]
_ACTIONS = (("keep", "kept"), ("relabel", "relabelled"), ("trim", "trimmed"),
            ("drop", "dropped"))

_env = Environment(loader=PackageLoader("slick_curator.reporting", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}".rstrip("0").rstrip(".")
    return "–" if value is None else str(value)


def _tally(example: Any) -> list[tuple[str, int, bool]]:
    """Distinct greedy answers of an example: (answer, prompts that gave it, correct)."""
    seen: dict[str, list[Any]] = {}
    correct = list(example.greedy_correct) + [False] * len(example.greedy_answers)
    for answer, ok in zip(example.greedy_answers, correct, strict=False):
        entry = seen.setdefault(answer.strip(), [0, False])
        entry[0] += 1
        entry[1] = entry[1] or ok
    return sorted(((a, n, ok) for a, (n, ok) in seen.items()), key=lambda t: -t[1])


def _highlight(example: Any) -> list[tuple[str, Any]]:
    """A free-form answer cut into (text, fact or None) pieces, facts in answer order; a fact
    whose offsets do not fit the answer (or overlap an earlier one) is left unmarked."""
    answer = example.answer or ""
    pieces: list[tuple[str, Any]] = []
    at = 0
    for fact in sorted(example.facts, key=lambda f: (f.start, f.end)):
        if fact.start < at or fact.end > len(answer) or answer[fact.start:fact.end] != fact.text:
            continue
        if fact.start > at:
            pieces.append((answer[at:fact.start], None))
        pieces.append((fact.text, fact))
        at = fact.end
    if at < len(answer):
        pieces.append((answer[at:], None))
    return pieces


_env.filters["fmt"] = _fmt
_env.filters["tally"] = _tally
_env.filters["highlight"] = _highlight
_env.filters["pct"] = lambda v: f"{100 * v:.1f}%"


def _exemplar_groups(report: ReportPublic) -> list[dict[str, Any]]:
    """The listed exemplar sets per group, in the report's order, with the group's totals
    over its listed sets (`complete` when every set of the group is listed)."""
    groups: dict[str, list[Any]] = {}
    for s in report.exemplar_sets:
        groups.setdefault(s.group, []).append(s)
    out = []
    for name, sets in groups.items():
        prompts = sum(s.prompts for s in sets)
        correct = sum(s.correct for s in sets)
        out.append({"name": name, "sets": sets, "prompts": prompts,
                    "accuracy": correct / prompts if prompts else 0.0,
                    "flagged": sum(s.outlier for s in sets), "total": sets[0].group_sets,
                    "complete": len(sets) == sets[0].group_sets})
    return out


def render_html(report: ReportPublic, *, title: str | None = None) -> str:
    """The HTML page of `report`."""
    probed = report.probed
    category_chart = charts.bars(
        "categories", [Bar(c, report.categories[c], COLORS[c]) for c in CATEGORIES],
        label="Probed rows per SliCK category", total=probed)
    group_chart = charts.stacked(
        "groups", [(g.group, [Segment(c, g.counts.get(c, 0), COLORS[c]) for c in CATEGORIES])
                   for g in report.groups], label="Category shares per group")
    histograms = {
        name: charts.histogram(
            name.replace("_", "-"), hist.bins, _TICKS,
            [(c, hist.counts.get(c, [0] * len(hist.bins)), COLORS[c]) for c in CATEGORIES],
            label=f"Distribution of {label}", value_name=label)
        for name, hist, label in (("p_greedy", report.p_greedy, "P_greedy"),
                                  ("p_sample", report.p_sample, "P_sample"))}
    curation = report.curation
    shown_actions = [(a, label) for a, label in _ACTIONS
                     if a != "trim" or curation.params.policy == "trim"]
    effect_chart = charts.stacked(
        "policy", [(cat, [Segment(label, actions.get(action, 0), COLORS[action])
                          for action, label in shown_actions])
                   for cat, actions in curation.by_category.items()],
        label="What the policy does per category")
    defaults = type(curation.params)()
    changed = {k for k in type(curation.params).model_fields
               if getattr(curation.params, k) != getattr(defaults, k)}
    source = report.run.source or report.run.probe_id or "annotated result"
    return _env.get_template("report.html.jinja").render(
        r=report, run=report.run, curation=curation, title=title or f"SliCK report · {source}",
        source=source, categories=CATEGORIES, colors=COLORS, csp=CSP,
        category_chart=category_chart, group_chart=group_chart, histograms=histograms,
        effect_chart=effect_chart, changed=changed, actions=shown_actions,
        exemplar_groups=_exemplar_groups(report),
        flagged_sets=[s for s in report.exemplar_sets if s.outlier],
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        descriptions=_DESCRIPTIONS)


_DESCRIPTIONS = {
    "HighlyKnown": "every greedy answer correct (P_greedy = 1)",
    "MaybeKnown": "some greedy answers correct (0 < P_greedy < 1)",
    "WeaklyKnown": "no greedy answer correct, some samples correct (P_sample > 0)",
    "Unknown": "no correct answer among all greedy answers and samples",
}
