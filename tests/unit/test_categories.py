"""SliCK categories: thresholds, the definition as a property, argument validation."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slick_curator.probing.categories import KNOWN_ORDER, Category, categorize

H, M, W, U = (
    Category.HIGHLY_KNOWN,
    Category.MAYBE_KNOWN,
    Category.WEAKLY_KNOWN,
    Category.UNKNOWN,
)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((10, 10, 0, 16), H),  # P_greedy exactly 1; samples do not matter
        ((1, 1, 0, 0), H),
        ((9, 10, 16, 16), M),  # just below 1
        ((1, 10, 0, 16), M),  # just above 0
        ((1, 2, 0, 0), M),
        ((0, 10, 1, 160), W),  # one correct sample is enough
        ((0, 10, 160, 160), W),
        ((0, 10, 0, 160), U),
        ((0, 1, 0, 1), U),
    ],
)
def test_thresholds(counts: tuple[int, int, int, int], expected: Category) -> None:
    assert categorize(*counts) is expected


@pytest.mark.parametrize(
    ("counts", "bad"),
    [
        ((0, 0, 0, 1), "n_greedy"),
        ((-1, 4, 0, 1), "n_greedy_correct"),
        ((5, 4, 0, 1), "n_greedy_correct"),
        ((0, 4, 0, -1), "n_samples"),
        ((0, 4, -1, 3), "n_sample_correct"),
        ((0, 4, 4, 3), "n_sample_correct"),
        ((1.0, 4, 0, 1), "n_greedy_correct"),
        ((True, 1, 0, 1), "n_greedy_correct"),
    ],
)
def test_invalid_arguments_name_the_argument(counts: tuple, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"^{bad} "):
        categorize(*counts)


def test_no_samples_and_no_greedy_hit_is_ambiguous() -> None:
    with pytest.raises(ValueError, match="WeaklyKnown and Unknown"):
        categorize(0, 4, 0, 0)


def test_known_order_and_values() -> None:
    assert list(KNOWN_ORDER) == [H, M, W, U]
    assert [c.value for c in KNOWN_ORDER] == ["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
    assert Category("WeaklyKnown") is W and str(W) == "WeaklyKnown" and f"{U}" == "Unknown"


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int, int, int]:
    n_greedy = draw(st.integers(1, 50))
    n_samples = draw(st.integers(0, 200))
    return (
        draw(st.integers(0, n_greedy)),
        n_greedy,
        draw(st.integers(0, n_samples)),
        n_samples,
    )


@given(counts())
def test_category_follows_the_ratio_definitions(c: tuple[int, int, int, int]) -> None:
    n_greedy_correct, n_greedy, n_sample_correct, n_samples = c
    p_greedy = Fraction(n_greedy_correct, n_greedy)
    if p_greedy == 0 and n_samples == 0:
        with pytest.raises(ValueError):
            categorize(*c)
        return
    p_sample = Fraction(n_sample_correct, n_samples) if n_samples else Fraction(0)
    expected = (
        H if p_greedy == 1 else M if p_greedy > 0 else W if p_sample > 0 else U
    )
    assert categorize(*c) is expected


@given(counts(), st.integers(2, 5))
def test_category_depends_only_on_the_ratios(c: tuple[int, int, int, int], k: int) -> None:
    n_greedy_correct, n_greedy, n_sample_correct, n_samples = c
    scaled = (n_greedy_correct * k, n_greedy * k, n_sample_correct * k, n_samples * k)
    try:
        expected = categorize(*c)
    except ValueError:
        with pytest.raises(ValueError):
            categorize(*scaled)
        return
    assert categorize(*scaled) is expected
