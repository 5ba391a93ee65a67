"""Curation policies: which annotated rows become training data, and why.

Each policy comes from a finding:

- `filter` drops the rows the model does not know (the paper's D_Known). Gekhman et al.
  (2024) find that fine-tuning examples with new knowledge (Unknown) are fitted much more
  slowly than known ones and, as they are fitted, linearly increase hallucinations on
  held-out questions; dropping them loses little accuracy with early stopping and avoids the
  decline that sets in with longer training. `unknown=("Unknown", "WeaklyKnown")` is the
  stricter variant.
- `relabel` keeps the question and teaches abstention: the answer becomes "I don't know."
  (configurable). This is R-Tuning (Zhang et al., 2024: refusal-aware tuning on the questions
  the model cannot answer); Gekhman et al. report that relabelling Unknown examples with
  "I don't know" removes most of their harm.
- `keep` changes nothing: annotate only, and decide later or elsewhere.

Knobs: which categories count as unknown; P_greedy / P_sample thresholds instead of
categories; share caps (the paper's best single-category set was D_MaybeKnown, and an
all-HighlyKnown set did worse, so a mix matters); and a per-group minimum so that no
relation vanishes from the data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from slick_client.models import CATEGORIES, CurationParams, CurationSummary

__all__ = ["Decisions", "decide"]

# Most to least known: the order in which dropped rows are restored for a group minimum.
_RANK = {c: i for i, c in enumerate(CATEGORIES)}


@dataclass
class Decisions:
    """One action ("keep", "drop" or "relabel") and one reason per input row."""

    actions: list[str]
    reasons: list[str]
    categories: list[str | None]
    warnings: list[str] = field(default_factory=list)

    def summary(self, params: CurationParams) -> CurationSummary:
        counts = Counter(self.actions)
        by_category: dict[str, dict[str, int]] = {}
        for category, action in zip(self.categories, self.actions, strict=True):
            row = by_category.setdefault(category or "skipped",
                                         {"keep": 0, "drop": 0, "relabel": 0})
            row[action] += 1
        ordered = {c: by_category[c] for c in (*CATEGORIES, "skipped") if c in by_category}
        reasons = Counter(_reason_key(r) for r in self.reasons)
        return CurationSummary(
            params=params, rows=len(self.actions), kept=counts["keep"], dropped=counts["drop"],
            relabelled=counts["relabel"], by_category=ordered,
            reasons=dict(reasons.most_common()), warnings=list(self.warnings))


def _reason_key(reason: str) -> str:
    # Skipped rows carry their own error text; the summary groups them by the field at fault.
    if reason.startswith("skipped: "):
        return "skipped: " + reason[len("skipped: "):].split(":", 1)[0]
    return reason


def decide(table: pa.Table, params: CurationParams) -> Decisions:
    """The action and reason of every row of an annotated table under `params`.

    Order: skipped rows are dropped; each probed row is known or unknown (categories or
    thresholds) and the policy acts on the unknown ones; share caps drop rows of categories
    over their share of the output (a seeded, deterministic pick); the group minimum restores
    dropped probed rows, best known first. Rows in = kept + dropped + relabelled, always.
    """
    col = table.column
    categories: list[str | None] = col("slick_category").to_pylist()
    status = col("slick_status").to_pylist()
    errors = (col("slick_error").to_pylist() if "slick_error" in table.column_names
              else [None] * table.num_rows)
    p_greedy = col("slick_p_greedy").to_pylist()
    p_sample = (col("slick_p_sample").to_pylist() if "slick_p_sample" in table.column_names
                else [None] * table.num_rows)
    groups = col("slick_group").to_pylist()

    actions: list[str] = []
    reasons: list[str] = []
    unknown_action = {"filter": "drop", "relabel": "relabel", "keep": "keep"}[params.policy]
    for i, category in enumerate(categories):
        if status[i] != "probed" or category is None:
            actions.append("drop")
            reasons.append(f"skipped: {errors[i] or 'row was not probed'}")
            continue
        known, why = _known(category, p_greedy[i], p_sample[i], params)
        if known:
            actions.append("keep")
            reasons.append(f"known: {why}")
        else:
            actions.append(unknown_action)
            reasons.append(f"unknown: {why}" + (" (policy keep)" if params.policy == "keep"
                                                else ""))
    decisions = Decisions(actions, reasons, categories)
    order = np.random.default_rng(params.seed).permutation(table.num_rows)
    before_caps = list(actions)
    _apply_caps(decisions, params, order)
    if params.min_per_group:
        _apply_group_minimum(decisions, params, before_caps, status, groups, p_greedy,
                             p_sample, order)
    if decisions.actions and all(a == "drop" for a in decisions.actions):
        decisions.warnings.append("the policy keeps no rows at all")
    return decisions


def _known(category: str, p_greedy: float | None, p_sample: float | None,
           params: CurationParams) -> tuple[bool, str]:
    """Whether a probed row counts as known, and the rule that said so."""
    by_category = category not in params.unknown
    if not params.thresholds:
        return by_category, category
    passed, checks = False, []
    if params.min_p_greedy is not None:
        ok = (p_greedy or 0.0) >= params.min_p_greedy
        passed |= ok
        checks.append(f"P_greedy {'>=' if ok else '<'} {params.min_p_greedy:g}")
    if params.min_p_sample is not None:
        if p_sample is None:
            # Adaptive mode leaves P_sample null when it skipped sampling (a greedy answer was
            # right) or stopped at the first correct sample: no estimate to compare, so the
            # row's category decides (it is exact in adaptive mode).
            passed |= by_category
            checks.append(f"P_sample not measured, {category}")
        else:
            ok = p_sample >= params.min_p_sample
            passed |= ok
            checks.append(f"P_sample {'>=' if ok else '<'} {params.min_p_sample:g}")
    joiner = " or " if passed else " and "
    return passed, joiner.join(checks)


def _apply_caps(d: Decisions, params: CurationParams, order: np.ndarray) -> None:
    """Drop rows of categories over their share cap, keeping as many rows as the caps allow."""
    included = Counter(d.categories[i] for i, a in enumerate(d.actions) if a != "drop")
    caps = {c: params.cap_of(c) for c in included if c is not None}
    if not any(v is not None for v in caps.values()):
        return

    def allowed(total: int) -> dict[str, int]:
        return {c: n if caps[c] is None else min(n, math.floor(caps[c] * total + 1e-9))
                for c, n in included.items() if c is not None}

    # The largest output size N whose per-category limits add up to at least N: g(N) is
    # monotone and never above N at the start, so iterating N <- g(N) lands on it exactly.
    total = sum(included.values())
    while (fit := sum(allowed(total).values())) < total:
        total = fit
    limits = allowed(total)
    over = {c: included[c] - limits[c] for c in limits if included[c] > limits[c]}
    for i in order:
        category = d.categories[i]
        if over.get(category) and d.actions[i] != "drop":
            over[category] -= 1
            d.actions[i] = "drop"
            d.reasons[i] = f"cap: {category} over {caps[category]:.0%} of the output"
    if total == 0:
        d.warnings.append(
            f"the share caps leave no rows: the output would hold only "
            f"{', '.join(c for c in CATEGORIES if c in limits)}, and no category may make up "
            "all of it")


def _apply_group_minimum(d: Decisions, params: CurationParams, before_caps: Sequence[str],
                         status: Sequence[str | None], groups: Sequence[str | None],
                         p_greedy: Sequence[float | None], p_sample: Sequence[float | None],
                         order: np.ndarray) -> None:
    """Restore dropped probed rows of groups below the minimum, best known first.

    A row the caps dropped gets back its action from before the caps (so a relabelled row is
    relabelled again); a row the policy dropped is kept as it is. The minimum wins over caps.
    """
    minimum = params.min_per_group
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    have: Counter[str] = Counter()
    candidates: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        if group is None or status[i] != "probed":
            continue
        if d.actions[i] != "drop":
            have[group] += 1
        else:
            candidates.setdefault(group, []).append(i)
    for group in sorted({g for g in groups if g is not None}):
        need = minimum - have[group]
        if need <= 0:
            continue
        pool = sorted(candidates.get(group, []), key=lambda i: (
            _RANK.get(d.categories[i] or "", len(_RANK)), -(p_greedy[i] or 0.0),
            -(p_sample[i] or 0.0), position[i]))
        for i in pool[:need]:
            d.actions[i] = before_caps[i] if before_caps[i] != "drop" else "keep"
            d.reasons[i] = (f"group minimum: {group} needs {minimum} rows "
                            f"({d.categories[i]})")
        if need > len(pool):
            d.warnings.append(f"group {group} has {have[group] + len(pool)} usable row(s), "
                              f"fewer than the minimum {minimum}")
