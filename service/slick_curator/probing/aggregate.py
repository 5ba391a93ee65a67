"""A free-form row's category from the categories of its facts.

The row takes the category of its **least-known** fact: fine-tuning on an answer teaches every
fact in it, and one Unknown fact is enough to teach the model to state what it does not know
(Gekhman et al. 2024). The alternative is the **known share**, the fraction of the row's facts
that are not Unknown, on which curation can threshold instead (`min_known_share`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from slick_curator.probing.categories import KNOWN_ORDER, Category


class _HasCategory(Protocol):
    category: Category


T = TypeVar("T", bound=_HasCategory)


def least_known(facts: Sequence[T]) -> T | None:
    """The first fact of the least-known category; None without facts."""
    if not facts:
        return None
    return max(facts, key=lambda f: KNOWN_ORDER.index(f.category))


def known_share(categories: Sequence[str | Category]) -> float | None:
    """The fraction of facts not Unknown; None without facts."""
    if not categories:
        return None
    known = sum(1 for c in categories if Category(c) is not Category.UNKNOWN)
    return known / len(categories)
