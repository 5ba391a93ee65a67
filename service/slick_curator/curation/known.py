"""Whether a probed row counts as known under a policy's rule, and why.

A short-form row is judged on its own category (or its P_greedy / P_sample with thresholds).
A free-form row is judged by its facts, each by that same rule:

- least-known (the default): the row is known when every fact is, so one unknown fact makes
  the row unknown; with categories alone this is the row's `slick_category`, the category of
  its least-known fact (`probing/aggregate.py`);
- known share (`min_known_share`): the row is known when at least that share of its facts is
  known; with the default `unknown` (Unknown only) and no thresholds the share is the file's
  `slick_known_share`.

Reasons are short and shared by many rows, so the summary can count them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slick_client.schemas import CurationParams

__all__ = ["Verdict", "fact_known", "is_known", "judge_free_form"]


def is_known(category: str, p_greedy: float | None, p_sample: float | None,
             params: CurationParams) -> tuple[bool, str]:
    """Whether a probed unit (a row or a fact) counts as known, and the rule that said so."""
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
            # category decides (it is exact in adaptive mode).
            passed |= by_category
            checks.append(f"P_sample not measured, {category}")
        else:
            ok = p_sample >= params.min_p_sample
            passed |= ok
            checks.append(f"P_sample {'>=' if ok else '<'} {params.min_p_sample:g}")
    joiner = " or " if passed else " and "
    return passed, joiner.join(checks)


def fact_known(fact: Mapping[str, Any], params: CurationParams) -> bool:
    """Whether one fact of `slick_facts` counts as known."""
    return is_known(fact["category"], fact.get("p_greedy"), fact.get("p_sample"), params)[0]


@dataclass(frozen=True)
class Verdict:
    """A free-form row's judgement: known or not, why, and which of its facts are unknown."""

    known: bool
    why: str
    unknown_facts: tuple[bool, ...]


def judge_free_form(category: str, facts: Sequence[Mapping[str, Any]],
                    params: CurationParams) -> Verdict:
    """Judge a free-form row (`category`: its least-known fact's) by its facts."""
    unknown = tuple(not fact_known(f, params) for f in facts)
    if params.min_known_share is not None:
        share = 1 - sum(unknown) / len(unknown)
        known = share >= params.min_known_share - 1e-9
        sign = ">=" if known else "<"
        return Verdict(known, f"known share {sign} {params.min_known_share:g}", unknown)
    if not params.thresholds:
        return Verdict(not any(unknown), f"{category} (least-known fact)", unknown)
    why = "a fact meets no threshold" if any(unknown) else "every fact meets a threshold"
    return Verdict(not any(unknown), why, unknown)
