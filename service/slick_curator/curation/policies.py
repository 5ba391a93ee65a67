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
- `trim` (free-form answers) drops only the sentences whose facts the model does not know,
  when the rest of the answer stands on its own (`curation.trim`), else the whole row; the
  same finding at the level of facts: what stays teaches only what the model knows.

Free-form rows are judged by their facts (least-known fact, or the share of known facts with
`min_known_share`: `curation.known`); free-form rows without facts are kept by every policy
(nothing in them was found to teach new knowledge, and dropping them would drop most chat).

Knobs: which categories count as unknown; P_greedy / P_sample thresholds instead of
categories; share caps (the paper's best single-category set was D_MaybeKnown, and an
all-HighlyKnown set did worse, so a mix matters); and a per-group minimum so that no
relation vanishes from the data.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from slick_client.schemas import CATEGORIES, CurationParams, CurationSummary

from slick_curator.curation.known import is_known, judge_free_form
from slick_curator.curation.trim import Trim, trim_answer

__all__ = ["Decisions", "decide"]

# Most to least known: the order in which dropped rows are restored for a group minimum.
_RANK = {c: i for i, c in enumerate(CATEGORIES)}
_DETAIL = re.compile(r" \[[^\]]*\]$")


@dataclass
class Decisions:
    """One action ("keep", "drop", "relabel" or "trim") and one reason per input row.

    `trimmed` holds the trim of each row the trim policy trimmed (by row; it applies while the
    row's action is "trim"); `no_facts` the free-form rows without facts.
    """

    actions: list[str]
    reasons: list[str]
    categories: list[str | None]
    warnings: list[str] = field(default_factory=list)
    trimmed: dict[int, Trim] = field(default_factory=dict)
    no_facts: set[int] = field(default_factory=set)

    def add(self, action: str, reason: str) -> None:
        self.actions.append(action)
        self.reasons.append(reason)

    def summary(self, params: CurationParams) -> CurationSummary:
        counts = Counter(self.actions)
        # The trim column only where the policy can trim, so other summaries keep their shape.
        actions = ("keep", "drop", "relabel", *(("trim",) if params.policy == "trim" else ()))
        by_category: dict[str, dict[str, int]] = {}
        for i, (category, action) in enumerate(zip(self.categories, self.actions,
                                                   strict=True)):
            key = category or ("no_facts" if i in self.no_facts else "skipped")
            row = by_category.setdefault(key, dict.fromkeys(actions, 0))
            row[action] += 1
        ordered = {c: by_category[c] for c in (*CATEGORIES, "no_facts", "skipped")
                   if c in by_category}
        reasons = Counter(_reason_key(r) for r in self.reasons)
        return CurationSummary(
            params=params, rows=len(self.actions), kept=counts["keep"], dropped=counts["drop"],
            relabelled=counts["relabel"], trimmed=counts["trim"], by_category=ordered,
            reasons=dict(reasons.most_common()), warnings=list(self.warnings))


def _reason_key(reason: str) -> str:
    # Skipped rows carry their own error text; the summary groups them by the field at fault.
    if reason.startswith("skipped: "):
        return "skipped: " + reason[len("skipped: "):].split(":", 1)[0]
    # Trim reasons end in a per-row detail ("[2 of 5]", "[He]") that the summary leaves out.
    return _DETAIL.sub("", reason)


def decide(table: pa.Table, params: CurationParams, *,
           answers: Sequence[str | None] | None = None) -> Decisions:
    """The action and reason of every row of an annotated table under `params`.

    Order: skipped rows are dropped and free-form rows without facts kept; each probed row is
    known or unknown (categories or thresholds; free-form rows by their facts, see
    `curation.known`) and the policy acts on the unknown ones; share caps drop rows of
    categories over their share of the output (a seeded, deterministic pick); the group
    minimum restores dropped probed rows, best known first. Rows in = kept + dropped +
    relabelled + trimmed, always. `trim` needs `answers`, each row's probed answer
    (`curation.answers.probed_answers`), to cut sentences from.
    """
    if params.policy == "trim" and answers is None:
        raise ValueError("the trim policy needs the rows' answers (probed_answers)")
    col = table.column
    categories: list[str | None] = col("slick_category").to_pylist()
    status = col("slick_status").to_pylist()
    errors, p_sample, kinds, facts, sentences = (
        _optional(table, name) for name in ("slick_error", "slick_p_sample",
                                            "slick_answer_kind", "slick_facts",
                                            "slick_sentences"))
    p_greedy = col("slick_p_greedy").to_pylist()
    groups = col("slick_group").to_pylist()

    decisions = Decisions([], [], categories)
    unknown_action = {"filter": "drop", "relabel": "relabel", "keep": "keep",
                      "trim": "drop"}[params.policy]
    for i, category in enumerate(categories):
        if status[i] == "no_facts":
            decisions.add("keep", "kept: free-form answer with no fact to probe")
            decisions.no_facts.add(i)
            continue
        if status[i] != "probed" or category is None:
            decisions.add("drop", f"skipped: {errors[i] or 'row was not probed'}")
            continue
        free_form = kinds[i] == "long" and bool(facts[i])
        if free_form:
            verdict = judge_free_form(category, facts[i], params)
            known, why = verdict.known, verdict.why
        else:
            known, why = is_known(category, p_greedy[i], p_sample[i], params)
        if known:
            decisions.add("keep", f"known: {why}")
        elif params.policy == "trim" and free_form:
            cut = trim_answer(answers[i] or "", sentences[i] or [], facts[i],  # type: ignore[index]
                              verdict.unknown_facts)
            if cut.text is None:
                decisions.add("drop", f"unknown: {why}; cannot trim: {cut.reason}")
            else:
                decisions.add("trim", f"trimmed: {cut.reason}")
                decisions.trimmed[i] = cut
        else:
            decisions.add(unknown_action, f"unknown: {why}" + (
                " (policy keep)" if params.policy == "keep" else ""))
    order = np.random.default_rng(params.seed).permutation(table.num_rows)
    before_caps = list(decisions.actions)
    _apply_caps(decisions, params, order)
    if params.min_per_group:
        _apply_group_minimum(decisions, params, before_caps, status, groups, p_greedy,
                             p_sample, order)
    if decisions.actions and all(a == "drop" for a in decisions.actions):
        decisions.warnings.append("the policy keeps no rows at all")
    return decisions


def _optional(table: pa.Table, name: str) -> list:
    """A column's values, or nulls for a column older files lack."""
    if name in table.column_names:
        return table.column(name).to_pylist()
    return [None] * table.num_rows


def _apply_caps(d: Decisions, params: CurationParams, order: np.ndarray) -> None:
    """Drop rows of categories over their share cap, keeping as many rows as the caps allow."""
    included = Counter(d.categories[i] for i, a in enumerate(d.actions) if a != "drop")
    caps = {c: params.cap_of(c) for c in included if c is not None}
    if not any(v is not None for v in caps.values()):
        return

    # Rows without a category (free-form rows without facts) are in the output, uncapped.
    def allowed(total: int) -> dict[str | None, int]:
        return {c: n if caps.get(c) is None else min(n, math.floor(caps[c] * total + 1e-9))
                for c, n in included.items()}

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
        if group is None or status[i] not in ("probed", "no_facts"):
            continue
        if d.actions[i] != "drop":
            have[group] += 1
        elif status[i] == "probed":
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
