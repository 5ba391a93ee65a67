"""SliCK knowledge categories (Gekhman et al. 2024) from greedy and sampled probe outcomes."""

from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    """How well the model knows one fact, from most to least known."""

    HIGHLY_KNOWN = "HighlyKnown"
    MAYBE_KNOWN = "MaybeKnown"
    WEAKLY_KNOWN = "WeaklyKnown"
    UNKNOWN = "Unknown"

    def __str__(self) -> str:
        return self.value


# Most to least known; the order reports list categories in.
KNOWN_ORDER: tuple[Category, ...] = (
    Category.HIGHLY_KNOWN,
    Category.MAYBE_KNOWN,
    Category.WEAKLY_KNOWN,
    Category.UNKNOWN,
)


def categorize(
    n_greedy_correct: int, n_greedy: int, n_sample_correct: int, n_samples: int
) -> Category:
    """The SliCK category of one question.

    With P_greedy = n_greedy_correct / n_greedy and P_sample = n_sample_correct / n_samples:
    HighlyKnown if P_greedy == 1, MaybeKnown if 0 < P_greedy < 1, WeaklyKnown if P_greedy == 0
    and P_sample > 0, Unknown if neither greedy nor sampled answers were ever correct.

    Raises ValueError naming the bad argument when a count is out of range, and when
    n_samples == 0 with no correct greedy answer, since WeaklyKnown and Unknown then look alike.
    """
    _check_count("n_greedy", n_greedy, low=1)
    _check_count("n_greedy_correct", n_greedy_correct, high=n_greedy, high_name="n_greedy")
    _check_count("n_samples", n_samples)
    _check_count("n_sample_correct", n_sample_correct, high=n_samples, high_name="n_samples")
    if n_greedy_correct == n_greedy:
        return Category.HIGHLY_KNOWN
    if n_greedy_correct > 0:
        return Category.MAYBE_KNOWN
    if n_samples == 0:
        raise ValueError(
            "n_samples is 0 and no greedy answer was correct: WeaklyKnown and Unknown cannot be "
            "told apart without sampled answers"
        )
    return Category.WEAKLY_KNOWN if n_sample_correct > 0 else Category.UNKNOWN


def _check_count(
    name: str, value: int, *, low: int = 0, high: int | None = None, high_name: str = ""
) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high_name} ({high}), got {value}")
