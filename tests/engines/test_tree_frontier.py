"""Which uncomputed paths of a prompt exact mode computes, parks or cuts (`plan_frontier`), the
tokens it drafts after a path that repeats itself (`repeat_draft`), and a level's candidates
as arrays (`Candidates`)."""

from __future__ import annotations

import numpy as np
from slick_curator.engines.tree_frontier import Candidates, Path, plan_frontier, repeat_draft


def _paths(*probs: float) -> list[Path]:
    return [Path(0, [k], b"", str(k), p, []) for k, p in enumerate(probs)]


def _probs(paths: list[Path]) -> list[float]:
    return sorted(path.prob for path in paths)


def test_the_least_likely_paths_whose_mass_fits_are_parked_the_others_computed():
    take, waiting, parked, cut = plan_frontier(_paths(3e-5, 0.2, 4e-5, 0.01, 5e-5), 1e-4, 16, 64)
    assert _probs(parked) == [3e-5, 4e-5]  # 5e-5 more would pass the room of 1e-4
    assert [p.prob for p in take] == [0.2, 0.01, 5e-5]  # most likely first
    assert waiting == [] and cut == []


def test_a_parked_path_is_computed_once_less_likely_paths_fill_the_room():
    take, _, parked, _ = plan_frontier(_paths(4e-5, 3e-5), 1e-4, 16, 64)
    assert take == [] and _probs(parked) == [3e-5, 4e-5]
    # the next level brings three deeper, less likely paths: best first, the 4e-5 goes on
    take, _, parked, _ = plan_frontier(parked + _paths(2e-5, 2e-5, 1e-5), 1e-4, 16, 64)
    assert [p.prob for p in take] == [4e-5]
    assert _probs(parked) == [1e-5, 2e-5, 2e-5, 3e-5]


def test_paths_beyond_a_level_wait_and_paths_beyond_the_node_budget_are_cut():
    probs = [0.05 - k * 1e-3 for k in range(20)]
    take, waiting, parked, cut = plan_frontier(_paths(*probs), 0.0, 16, 64)
    assert [p.prob for p in take] == probs[:16] and [p.prob for p in waiting] == probs[16:]
    assert parked == [] and cut == []
    take, waiting, _, cut = plan_frontier(_paths(*probs), 0.0, 16, 5)
    assert [p.prob for p in take] == probs[:5] and waiting == []
    assert [p.prob for p in cut] == probs[5:]
    take, waiting, _, cut = plan_frontier(_paths(*probs), 0.0, 16, -3)  # over budget already
    assert take == [] and waiting == [] and len(cut) == 20


def test_a_draft_repeats_the_last_period():
    # "A-A-A" -> "-A-A-..."; ": A: A:" -> " A: A"
    assert repeat_draft([7, 9, 7, 9, 7], 5) == [9, 7, 9, 7, 9]
    assert repeat_draft([3, 5, 6, 5, 6], 3) == [5, 6, 5]
    assert repeat_draft([1, 2, 3], 4) == []  # nothing repeats yet
    assert repeat_draft([4, 4], 3) == [4, 4, 4]
    assert repeat_draft([4, 4], 0) == [] and repeat_draft([4], 3) == []


def test_candidates_keep_the_order_they_were_added_in_and_their_parents():
    a, b, c = _paths(0.5, 0.25, 0.125)
    candidates = Candidates()
    assert [len(x) for x in candidates.arrays()[1:]] == [0, 0, 0]
    candidates.add([a, b], np.array([[7, 8], [9, 10]]), np.array([[0.1, 0.2], [0.3, 0.4]]))
    candidates.add([c], np.array([[]]), np.array([[]]))  # a greedy step with no other token
    candidates.add([a], np.array([[11]]), np.array([[0.5]]))
    parents, parent_of, tokens, probs = candidates.arrays()
    assert [parents[i] for i in parent_of] == [a, a, b, b, a]
    assert tokens.tolist() == [7, 8, 9, 10, 11] and tokens.dtype == np.int64
    assert probs.tolist() == [0.1, 0.2, 0.3, 0.4, 0.5]
